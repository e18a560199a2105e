import { apiJson } from '../../apis/index.ts';
import type { ApiView } from '../../apis/index.ts';
import { invalidInput } from '../../errors.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const text = (api: ApiView) => `${api.id}  ${api.name}  ${api.audience}  scopes: ${api.scopes.join(' ') || '-'}`;

export async function apisCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { apis } = await ctx.services();
  if (verb === 'create') {
    const { values } = parse(args, { name: { type: 'string' }, audience: { type: 'string' }, scope: { type: 'string', multiple: true } });
    const api = await apis.create({ name: required(values.name, '--name'), audience: required(values.audience, '--audience'), scopes: values.scope ?? [] }, ctx.actor);
    return out.result(apiJson(api), () => `created API ${text(api)}`);
  }
  if (verb === 'list') {
    parse(args, {});
    const list = await apis.list();
    return out.result(list.map(apiJson), () => list.map(text).join('\n') || 'no APIs');
  }
  if (verb === 'delete') {
    const { positionals } = parse(args, {}, true);
    const id = onePositional(positionals, 'API id or audience');
    await apis.delete(id, ctx.actor);
    return out.result({ deleted: id }, () => `deleted API ${id}`);
  }
  throw invalidInput('usage: ostiary apis create|list|delete');
}
