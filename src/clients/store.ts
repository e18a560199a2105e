import { createTtlCache, type Database, strings, unstorable } from '../db/index.ts';
import { isOidcScope } from '../scopes/index.ts';
import { jwksOf } from './assertion-trust.ts';
import { wireGrantType } from './metadata.ts';

/** How long another process may go on seeing a client as it was (this process forgets at once). */
export const CLIENT_CACHE_MS = 1000;

/** What the provider sees of a client: RFC 7591 metadata plus Ostiary's own properties. */
export function createClientStore(db: Database) {
  const cache = createTtlCache<Record<string, unknown> | undefined>(CLIENT_CACHE_MS);
  return {
    forget: (clientId: string) => cache.forget(clientId),
    async providerMetadata(clientId: string): Promise<Record<string, unknown> | undefined> {
      if (unstorable(clientId)) return undefined;
      return cache.get(clientId, () => readMetadata(db, clientId));
    },
  };
}

/** RFC 7591 metadata and the extra properties of ./metadata.ts, as the provider is given them. */
async function readMetadata(db: Database, clientId: string): Promise<Record<string, unknown> | undefined> {
  const row = await db.client.findUnique({ where: { id: clientId } });
  if (!row) return undefined;
  const scopes = row.scope.split(' ').filter(Boolean);
  const grantTypes = strings(row.grantTypes);
  return {
    client_id: row.id,
    client_name: row.name,
    // The SHA-256 of the secret; the provider's comparison is replaced to hash what it is given.
    ...(row.secretHash ? { client_secret: row.secretHash } : {}),
    token_endpoint_auth_method: row.tokenEndpointAuthMethod,
    application_type: row.applicationType,
    grant_types: grantTypes.map(wireGrantType),
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    redirect_uris: strings(row.redirectUris),
    post_logout_redirect_uris: strings(row.postLogoutRedirectUris),
    scope: scopes.filter(isOidcScope).join(' ') || 'openid',
    api_scopes: scopes.filter((s) => !isOidcScope(s)).join(' '),
    first_party: row.firstParty,
    require_mfa: row.requireMfa,
    // Which ways in its users may take (src/interactions): the upstreams named, and passwords or not.
    ...(row.signInUpstreams !== null ? { upstreams: strings(row.signInUpstreams) } : {}),
    password_sign_in: row.passwordSignIn,
    // Back-Channel Logout 1.0: the logout token names the session (sid) it ends.
    ...(row.backchannelLogoutUri ? { backchannel_logout_uri: row.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    // RFC 7523: whose assertions the jwt_bearer grant accepts (src/oidc/jwt-bearer.ts).
    ...(row.assertionIssuer ? { assertion_issuer: row.assertionIssuer, ...(row.assertionJwksUri ? { assertion_jwks_uri: row.assertionJwksUri } : { assertion_jwks: jwksOf(row.assertionJwks) }) } : {}),
    introspection_audiences: strings(row.introspectionAudiences),
    access_token_ttl: row.accessTokenTtl,
    id_token_ttl: row.idTokenTtl,
    refresh_token_ttl: row.refreshTokenTtl,
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
