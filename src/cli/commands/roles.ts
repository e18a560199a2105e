import { roleJson } from '../../roles/index.ts';
import { invalidInput } from '../../errors.ts';
import type { RoleView } from '../../roles/index.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../index.ts';

const text = (r: RoleView) => `${r.name}  ${r.permissions.join(' ') || '-'}`;

const HOLDER = { user: { type: 'string' }, client: { type: 'string' } } as const;

export async function rolesCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { roles, users } = await ctx.services();
  if (verb === 'create') {
    const { values } = parse(args, { name: { type: 'string' }, permission: { type: 'string', multiple: true } });
    const role = await roles.create({ name: required(values.name, '--name'), permissions: values.permission ?? [] });
    await ctx.audit({ type: 'role.created', details: { name: role.name, permissions: role.permissions.join(' ') } });
    return out.result(roleJson(role), () => `created role ${text(role)}`);
  }
  if (verb === 'list') {
    parse(args, {});
    const list = await roles.list();
    return out.result(list.map(roleJson), () => list.map(text).join('\n') || 'no roles');
  }
  if (verb === 'delete') {
    const { positionals } = parse(args, {}, true);
    const name = onePositional(positionals, 'role name');
    await roles.delete(name);
    await ctx.audit({ type: 'role.deleted', details: { name } });
    return out.result({ deleted: name }, () => `deleted role ${name}`);
  }
  if (verb === 'grant' || verb === 'revoke') {
    const { values, positionals } = parse(args, HOLDER, true);
    const name = onePositional(positionals, 'role name');
    if (Boolean(values.user) === Boolean(values.client)) throw invalidInput('give exactly one of --user ID|EMAIL or --client CLIENT_ID');
    const holder = values.user ? { userId: (await users.resolve(values.user)).id } : { clientId: values.client! };
    const who = values.user ? `user ${values.user}` : `client ${values.client}`;
    const subject = 'userId' in holder ? holder.userId : null;
    const clientId = 'clientId' in holder ? holder.clientId : null;
    if (verb === 'grant') {
      await roles.grant(name, holder);
      await ctx.audit({ type: 'role.granted', subject, clientId, details: { role: name } });
      return out.result({ role: name, granted: true }, () => `granted ${name} to ${who}`);
    }
    const removed = await roles.revoke(name, holder);
    if (removed) await ctx.audit({ type: 'role.revoked', subject, clientId, details: { role: name } });
    return out.result({ role: name, revoked: removed }, () => (removed ? `revoked ${name} from ${who}` : `${who} did not hold ${name}`));
  }
  throw invalidInput('usage: ostiary roles create|list|delete|grant|revoke');
}
