import type { ClientView } from '../../clients/index.ts';
import { invalidInput } from '../../errors.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../index.ts';

const json = (c: ClientView) => ({
  client_id: c.clientId,
  client_name: c.name,
  grant_types: c.grantTypes,
  redirect_uris: c.redirectUris,
  post_logout_redirect_uris: c.postLogoutRedirectUris,
  scope: c.scope,
  token_endpoint_auth_method: c.tokenEndpointAuthMethod,
  first_party: c.firstParty,
  roles: c.roles,
  introspection_audiences: c.introspectionAudiences,
  access_token_ttl: c.accessTokenTtl,
  id_token_ttl: c.idTokenTtl,
  refresh_token_ttl: c.refreshTokenTtl,
  created_at: c.createdAt,
});
const text = (c: ClientView) =>
  `${c.clientId}  ${c.name}  grants: ${c.grantTypes.join(',')}  auth: ${c.tokenEndpointAuthMethod}  scope: ${c.scope || '-'}`;

const CREATE_OPTIONS = {
  name: { type: 'string' },
  grant: { type: 'string', multiple: true },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true },
  public: { type: 'boolean' },
  'first-party': { type: 'boolean' },
  role: { type: 'string', multiple: true },
  introspect: { type: 'string', multiple: true },
  'access-token-ttl': { type: 'string' },
  'id-token-ttl': { type: 'string' },
  'refresh-token-ttl': { type: 'string' },
} as const;

/** A whole number of seconds, or undefined when the flag is absent. */
function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw invalidInput(`${flag} takes a whole number of seconds`);
  return Number(value);
}

export async function clientsCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { clients } = await ctx.services();
  if (verb === 'create') {
    const { values } = parse(args, CREATE_OPTIONS);
    const { client, clientSecret } = await clients.create({
      name: required(values.name, '--name'),
      grantTypes: values.grant ?? [],
      redirectUris: values['redirect-uri'],
      postLogoutRedirectUris: values['post-logout-redirect-uri'],
      scopes: values.scope,
      public: values.public,
      firstParty: values['first-party'],
      roles: values.role,
      introspectionAudiences: values.introspect,
      accessTokenTtl: seconds(values['access-token-ttl'], '--access-token-ttl'),
      idTokenTtl: seconds(values['id-token-ttl'], '--id-token-ttl'),
      refreshTokenTtl: seconds(values['refresh-token-ttl'], '--refresh-token-ttl'),
    });
    await ctx.audit({ type: 'client.created', clientId: client.clientId, details: { name: client.name } });
    return out.result({ ...json(client), ...(clientSecret ? { client_secret: clientSecret } : {}) }, () =>
      [`created client ${text(client)}`, `client_id:     ${client.clientId}`, ...(clientSecret ? [`client_secret: ${clientSecret}`, 'The secret is shown only now: store it safely.'] : [])].join('\n'),
    );
  }
  if (verb === 'list') {
    parse(args, {});
    const list = await clients.list();
    return out.result(list.map(json), () => list.map(text).join('\n') || 'no clients');
  }
  if (verb === 'show') {
    const { positionals } = parse(args, {}, true);
    const client = await clients.show(onePositional(positionals, 'client id'));
    return out.result(json(client), () => `${text(client)}\nredirect URIs: ${client.redirectUris.join(' ') || '-'}\nfirst party: ${client.firstParty}`);
  }
  if (verb === 'delete') {
    const { positionals } = parse(args, {}, true);
    const id = onePositional(positionals, 'client id');
    await clients.delete(id);
    await ctx.audit({ type: 'client.deleted', clientId: id });
    return out.result({ deleted: id }, () => `deleted client ${id} and its grants`);
  }
  throw invalidInput('usage: ostiary clients create|list|show|delete');
}
