import { grantJson } from '../../grants/index.ts';
import { userJson } from '../../users/index.ts';
import { invalidInput } from '../../errors.ts';
import type { EmailCheck, UserView } from '../../users/index.ts';
import { onePositional, parse, readStdinSecret, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';
import { passkeyJson, type PasskeyView } from '../../mfa/index.ts';

const text = (u: UserView) => `${u.id}  ${u.email}  ${u.name ?? ''}${u.disabled ? '  (disabled)' : ''}`;

const checkJson = (c: EmailCheck) => ({
  checked: c.checked,
  fixed: c.fixed,
  problems: c.problems.map((p) => ({ id: p.id, email: p.email, normalized: p.normalized, problem: p.problem, detail: p.detail, collides_with: p.collidesWith.map((u) => u.id), fixed: p.fixed })),
});

const checkText = (c: EmailCheck) =>
  [...c.problems.map((p) => `${p.id}  ${p.email}  ${p.fixed ? `fixed: now ${p.normalized}` : `${p.problem}: ${p.detail}`}`), `${c.checked} users checked, ${c.problems.length} with a problem, ${c.fixed} fixed`].join('\n');

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
    const user = await users.create({ email, password, name: values.name, emailVerified: values['email-verified'], roles: values.role }, ctx.actor);
    return out.result(userJson(user), () => `created user ${text(user)}`);
  }
  if (verb === 'list') {
    parse(args, {});
    const { users, mfa } = await ctx.services();
    const list = await users.list();
    const twoStep = await mfa.enrolledAmong(list.map((u) => u.id));
    const rows = list.map((u) => ({ ...userJson(u), mfa: twoStep.has(u.id) }));
    return out.result(rows, () => list.map((u) => `${text(u)}${twoStep.has(u.id) ? '  (two-step)' : ''}`).join('\n') || 'no users');
  }
  if (verb === 'set-password') {
    const { values, positionals } = parse(args, { 'password-stdin': { type: 'boolean' } }, true);
    const who = onePositional(positionals, 'user id or email');
    if (!values['password-stdin']) throw invalidInput(PASSWORD_REQUIRED);
    const password = await readStdinSecret('New password');
    const { users } = await ctx.services();
    const user = await users.setPassword(who, password, ctx.actor);
    return out.result(userJson(user), () => `password changed for ${user.email}`);
  }
  if (verb === 'disable' || verb === 'enable') {
    const { positionals } = parse(args, {}, true);
    const { users } = await ctx.services();
    const user = await users.update(onePositional(positionals, 'user id or email'), { disabled: verb === 'disable' }, ctx.actor);
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
    const { users } = await ctx.services();
    const { user, revoked } = await users.revokeGrants(onePositional(positionals, 'user id or email'), values.client, ctx.actor);
    return out.result({ revoked }, () => `revoked ${revoked} grants of ${user.email}${values.client ? ` to ${values.client}` : ''}`);
  }
  if (verb === 'check-emails') {
    const { values } = parse(args, { fix: { type: 'boolean' } });
    const { users } = await ctx.services();
    const check = await users.checkEmails(values.fix ? { actor: ctx.actor } : undefined);
    return out.result(checkJson(check), () => checkText(check));
  }
  if (verb === 'invite') {
    const { values } = parse(args, { email: { type: 'string' } });
    const { signups } = await ctx.services();
    const invitation = await signups.invite(required(values.email, '--email'), ctx.actor);
    return out.result({ email: invitation.email, expires_at: invitation.expiresAt }, () => `invited ${invitation.email}: the mailed link works until ${invitation.expiresAt.toISOString()}`);
  }
  if (verb === 'resend-verification') {
    const { positionals } = parse(args, {}, true);
    const { signups } = await ctx.services();
    const { email } = await signups.resendVerification(onePositional(positionals, 'user id or email'), ctx.actor);
    return out.result({ email }, () => `mailed a new verification link to ${email}`);
  }
  if (verb === 'mfa') return mfaCommand(args, ctx, out);
  throw invalidInput('usage: ostiary users create|list|set-password|disable|enable|grants|revoke-grants|check-emails|invite|resend-verification|mfa list|mfa reset');
}

/** `users mfa list|reset ID|EMAIL`: how a person signs in, and an operator's reset of their factors. */
async function mfaCommand([verb, ...args]: string[], ctx: CommandContext, out: Output): Promise<void> {
  if (verb !== 'list' && verb !== 'reset') throw invalidInput('usage: ostiary users mfa list|reset ID|EMAIL');
  const { positionals } = parse(args, {}, true);
  const { users, mfa } = await ctx.services();
  const user = await users.resolve(onePositional(positionals, 'user id or email'));
  if (verb === 'list') {
    const status = await mfa.status(user.id);
    const json = { email: user.email, totp: status.totp, recovery_codes_left: status.recoveryCodesLeft, passkeys: status.passkeys.map(passkeyJson) };
    return out.result(json, () => describeFactors(user.email, status));
  }
  const json = { email: user.email, ...(await mfa.reset(user.id, ctx.actor)) };
  return out.result(json, () => (json.removed ? `two-step sign-in and passkeys are off for ${user.email}: the password alone signs in (they were mailed)` : `${user.email} has no second factor and no passkey`));
}

function describeFactors(email: string, status: { totp: boolean; recoveryCodesLeft: number; passkeys: PasskeyView[] }): string {
  const ways = [status.totp ? `authenticator app, ${status.recoveryCodesLeft} recovery codes left` : 'password only'];
  for (const p of status.passkeys) ways.push(`passkey "${p.name}"${p.synced ? ' (synced)' : ''}, last used ${p.lastUsedAt?.toISOString() ?? 'never'}`);
  return `${email}: ${ways.join('; ')}`;
}
