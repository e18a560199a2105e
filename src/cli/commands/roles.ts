import { roleJson } from '../../roles/index.ts';
import { fail, invalidInput } from '../../errors.ts';
import type { RoleView } from '../../roles/index.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const text = (r: RoleView) => `${r.name}  ${r.permissions.join(' ') || '-'}`;

const HOLDER = { user: { type: 'string' }, client: { type: 'string' } } as const;

export async function rolesCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { roles, users } = await ctx.services();
  if (verb === 'create') {
    const { values } = parse(args, { name: { type: 'string' }, permission: { type: 'string', multiple: true } });
    const role = await roles.create({ name: required(values.name, '--name'), permissions: values.permission ?? [] }, ctx.actor);
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
    await roles.delete(name, ctx.actor);
    return out.result({ deleted: name }, () => `deleted role ${name}`);
  }
  if (verb === 'grant' || verb === 'revoke') {
    const { values, positionals } = parse(args, HOLDER, true);
    const name = onePositional(positionals, 'role name');
    if (Boolean(values.user) === Boolean(values.client)) throw fail('role.holder_required', 'give the user or the client that holds the role');
    const holder = values.user ? { userId: (await users.resolve(values.user)).id } : { clientId: values.client! };
    const who = values.user ? `user ${values.user}` : `client ${values.client}`;
    if (verb === 'grant') {
      await roles.grant(name, holder, ctx.actor);
      return out.result({ role: name, granted: true }, () => `granted ${name} to ${who}`);
    }
    const removed = await roles.revoke(name, holder, ctx.actor);
    return out.result({ role: name, revoked: removed }, () => (removed ? `revoked ${name} from ${who}` : `${who} did not hold ${name}`));
  }
  throw invalidInput('usage: ostiary roles create|list|delete|grant|revoke');
}
