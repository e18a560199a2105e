import { apiJson } from '../../apis/index.ts';
import type { ApiView } from '../../apis/index.ts';
import { invalidInput } from '../../errors.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const text = (api: ApiView, issuer: string) => {
  const metadata = apiJson(api, issuer).metadata_url;
  return `${api.id}  ${api.name}  ${api.audience}  scopes: ${api.scopes.join(' ') || '-'}${metadata ? `  metadata: ${metadata}` : ''}`;
};

export async function apisCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { apis, config } = await ctx.services();
  const json = (api: ApiView) => apiJson(api, config.issuer);
  if (verb === 'create') {
    const { values } = parse(args, { name: { type: 'string' }, audience: { type: 'string' }, scope: { type: 'string', multiple: true }, 'publish-metadata': { type: 'boolean' } });
    const input = { name: required(values.name, '--name'), audience: required(values.audience, '--audience'), scopes: values.scope ?? [], publishMetadata: values['publish-metadata'] ?? false };
    const api = await apis.create(input, ctx.actor);
    return out.result(json(api), () => `created API ${text(api, config.issuer)}`);
  }
  if (verb === 'list') {
    parse(args, {});
    const list = await apis.list();
    return out.result(list.map(json), () => list.map((api) => text(api, config.issuer)).join('\n') || 'no APIs');
  }
  if (verb === 'delete') {
    const { positionals } = parse(args, {}, true);
    const id = onePositional(positionals, 'API id or audience');
    await apis.delete(id, ctx.actor);
    return out.result({ deleted: id }, () => `deleted API ${id}`);
  }
  throw invalidInput('usage: ostiary apis create|list|delete');
}
