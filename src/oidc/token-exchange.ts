import type { JWK } from 'jose';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { introspectionAudiencesOf } from '../clients/index.ts';
import { isOidcScope } from '../scopes/index.ts';
import { stillStands, verifiedAccessToken, type AccountActive } from './introspection.ts';
import type { createResourceIndicators } from './resources.ts';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const PARAMETERS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'resource', 'audience', 'scope'];

interface Deps {
  issuer: string;
  publicJwks: () => Promise<{ keys: JWK[] }>;
  isActive: AccountActive;
  resources: ReturnType<typeof createResourceIndicators>;
}

/** An actor claim (RFC 8693 section 4.1): who acts now, and who acted before. */
type Actor = { sub: string; act?: Actor };

/**
 * RFC 8693 token exchange, for delegation only: a service that received a person's access token
 * (it is that API's resource server: `clients create --introspect AUDIENCE`) exchanges it for one
 * to another API (`resource`), for the same person, with the service named in `act`. The person
 * must still be able to sign in. No impersonation (every exchanged token has `act`), no actor
 * tokens, and nothing but access tokens in or out: a refresh token is never exchanged.
 */
export function registerTokenExchange(provider: Provider, { issuer, publicJwks, isActive, resources }: Deps): void {
  /** The subject token's claims, if it is one of our JWT access tokens for a person (not a client's own), made under a grant. */
  async function subjectOf(token: string) {
    const payload = await verifiedAccessToken(token, issuer, publicJwks);
    if (!payload || typeof payload.sub !== 'string' || payload.sub === payload.client_id || typeof payload.grant_id !== 'string') {
      throw new errors.InvalidGrant('subject_token is not a valid access token for a person issued here');
    }
    return payload as typeof payload & { sub: string; grant_id: string; exp?: number; aud?: string | string[]; act?: Actor };
  }

  async function handler(ctx: KoaContextWithOIDC) {
    const params = ctx.oidc.params as Record<string, string | string[] | undefined>;
    const client = ctx.oidc.client!;
    if (typeof params.subject_token !== 'string' || params.subject_token_type !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token and subject_token_type ${ACCESS_TOKEN_TYPE} are required`);
    }
    if (params.actor_token !== undefined || params.actor_token_type !== undefined) throw new errors.InvalidRequest('actor tokens are not accepted: the authenticated client is the actor');
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('only access tokens are issued');
    if (params.audience !== undefined) throw new errors.InvalidTarget('name the API by resource, not audience');
    const resource = params.resource;
    if (typeof resource !== 'string') throw new errors.InvalidTarget('exactly one resource is required');

    const subject = await subjectOf(params.subject_token);
    const audiences = Array.isArray(subject.aud) ? subject.aud : [subject.aud];
    const served = new Set(introspectionAudiencesOf(client.metadata()));
    if (!audiences.some((aud) => aud !== undefined && served.has(aud))) throw new errors.InvalidGrant('subject_token was not issued to an API this client serves');
    if (served.has(resource)) throw new errors.InvalidTarget('the client serves this API itself: nothing to exchange for');
    // As introspection would answer: a revoked app's or a disabled person's tokens are not exchanged.
    if (!(await stillStands(provider, subject, isActive))) throw new errors.InvalidGrant('subject_token no longer stands: its grant is gone or its person can no longer sign in');
    const { act } = subject;

    const info = await resources.getResourceServerInfo(ctx, resource, client.metadata());
    const requested = String(params.scope ?? '').split(' ').filter(Boolean);
    // API scopes only (an API token holds no OpenID Connect scope), each once.
    const scope = [...new Set(requested.length ? requested : (info.scope?.split(' ') ?? []))].filter((s) => !isOidcScope(s)).join(' ');
    const actor: Actor = { sub: client.clientId, ...(act ? { act } : {}) };
    const token = new provider.AccessToken({ accountId: subject.sub, client, grantId: subject.grant_id, gty: 'token_exchange', scope: scope || undefined, extra: { act: actor } });
    token.resourceServer = new provider.ResourceServer(resource, info);
    // Never outlives the token it was exchanged for.
    if (typeof subject.exp === 'number') (token as unknown as { expiresIn: number }).expiresIn = Math.max(1, Math.min(token.expiration, subject.exp - Math.floor(Date.now() / 1000)));
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: token.tokenType, expires_in: token.expiration, ...(token.scope ? { scope: token.scope } : {}) };
  }

  provider.registerGrantType(TOKEN_EXCHANGE, handler, PARAMETERS);
}
