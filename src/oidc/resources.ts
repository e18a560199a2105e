import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { Apis } from '../apis/index.ts';
import type { Config } from '../config/index.ts';
import { apiScopesOf, isDocumentClient, lifetimeOf } from '../clients/index.ts';
import { isOidcScope } from '../scopes/index.ts';

/**
 * RFC 8707 resource indicators: each API (resource server) gets RS256 JWT access tokens
 * (RFC 9068) limited to the scopes both the API defines and the client may hold.
 */
export function createResourceIndicators(apis: Apis, config: Config) {
  async function getResourceServerInfo(
    ctx: KoaContextWithOIDC,
    resourceIndicator: string,
    client: { [key: string]: unknown },
  ): Promise<ResourceServer> {
    const api = await apis.findByAudience(resourceIndicator);
    if (!api) throw new errors.InvalidTarget('unknown resource');
    // A client known only by its metadata document holds no scopes an operator gave it; it may ask
    // for those of an API that invites such clients by publishing its metadata (RFC 9728), with consent.
    const allowed = isDocumentClient(client) ? new Set(api.publishMetadata ? api.scopes : []) : apiScopesOf(client);
    const scopes = api.scopes.filter((scope) => allowed.has(scope));
    const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
    const refused = requested.find((scope) => !isOidcScope(scope) && !scopes.includes(scope));
    if (refused) throw new errors.InvalidScope('requested scope is not allowed', refused);
    return {
      scope: scopes.join(' '),
      audience: api.audience,
      accessTokenTTL: lifetimeOf(client, 'access_token_ttl', config.ttl.accessToken),
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
  }

  /**
   * DEFAULT_RESOURCE names the API of a client_credentials token whose request names none.
   * Without it such a request is refused: a token with no audience is good for nothing.
   */
  async function defaultResource(ctx: KoaContextWithOIDC): Promise<string | undefined> {
    if (ctx.oidc.params?.grant_type !== 'client_credentials') return undefined;
    if (!config.defaultResource) throw new errors.InvalidTarget('resource parameter is required (no default API is configured)');
    return config.defaultResource;
  }

  return { enabled: true, getResourceServerInfo, defaultResource, useGrantedResource: () => false };
}
