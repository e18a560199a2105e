import { grantJson } from '../../grants/index.ts';
import { userJson } from '../../users/index.ts';
import { invalidInput } from '../../errors.ts';
import type { UserView } from '../../users/index.ts';
import { onePositional, parse, readStdinSecret, required, type Output } from '../io.ts';
import type { CommandContext } from '../index.ts';

const text = (u: UserView) => `${u.id}  ${u.email}  ${u.name ?? ''}${u.disabled ? '  (disabled)' : ''}`;

const PASSWORD_REQUIRED = '--password-stdin is required: pipe the password on standard input (passwords are never taken as arguments)';

export async function usersCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  if (verb === 'create') {
    const { values } = parse(args, {
      email: { type: 'string' },
      name: { type: 'string' },
      'email-verified': { type: 'boolean' },
      'password-stdin': { type: 'boolean' },
      role: { type: 'string', multiple: true },
    });
    const email = required(values.email, '--email');
    if (!values['password-stdin']) throw invalidInput(PASSWORD_REQUIRED);
    const password = await readStdinSecret('Password');
    const { users } = await ctx.services();
    const user = await users.create({ email, password, name: values.name, emailVerified: values['email-verified'], roles: values.role });
    await ctx.audit({ type: 'user.created', subject: user.id });
    return out.result(userJson(user), () => `created user ${text(user)}`);
  }
  if (verb === 'list') {
    parse(args, {});
    const { users } = await ctx.services();
    const list = await users.list();
    return out.result(list.map(userJson), () => list.map(text).join('\n') || 'no users');
  }
  if (verb === 'set-password') {
    const { values, positionals } = parse(args, { 'password-stdin': { type: 'boolean' } }, true);
    const who = onePositional(positionals, 'user id or email');
    if (!values['password-stdin']) throw invalidInput(PASSWORD_REQUIRED);
    const password = await readStdinSecret('New password');
    const { users } = await ctx.services();
    const user = await users.setPassword(who, password);
    await ctx.audit({ type: 'user.password_changed', subject: user.id });
    return out.result(userJson(user), () => `password changed for ${user.email}`);
  }
  if (verb === 'disable' || verb === 'enable') {
    const { positionals } = parse(args, {}, true);
    const { users } = await ctx.services();
    const user = await users.update(onePositional(positionals, 'user id or email'), { disabled: verb === 'disable' });
    await ctx.audit({ type: 'user.updated', subject: user.id, details: { fields: 'disabled' } });
    return out.result(userJson(user), () => `${user.email} is ${user.disabled ? 'disabled: its sessions, grants and tokens are ended and it can no longer sign in' : 'enabled'}`);
  }
  if (verb === 'grants') {
    const { positionals } = parse(args, {}, true);
    const { users, grants } = await ctx.services();
    const user = await users.resolve(onePositional(positionals, 'user id or email'));
    const list = await grants.listForUser(user.id);
    return out.result(list.map(grantJson), () => list.map((g) => `${g.clientId}  ${g.clientName ?? '-'}  ${g.scope}`).join('\n') || 'no grants');
  }
  if (verb === 'revoke-grants') {
    const { values, positionals } = parse(args, { client: { type: 'string' } }, true);
    const { users, grants } = await ctx.services();
    const user = await users.resolve(onePositional(positionals, 'user id or email'));
    const revoked = await grants.revokeForUser(user.id, values.client);
    await ctx.audit({ type: 'user.grants_revoked', subject: user.id, clientId: values.client ?? null, details: { revoked } });
    return out.result({ revoked }, () => `revoked ${revoked} grants of ${user.email}${values.client ? ` to ${values.client}` : ''}`);
  }
  throw invalidInput('usage: ostiary users create|list|set-password|disable|enable|grants|revoke-grants');
}
