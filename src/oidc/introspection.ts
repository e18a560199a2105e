import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { introspectionAudiencesOf } from '../clients/index.ts';

type Client = NonNullable<KoaContextWithOIDC['oidc']['client']> & { [key: string]: unknown };

/**
 * Who may introspect a token: the client it was issued to, or a resource server client
 * registered for the token's API (`introspection_audiences`).
 */
export function mayIntrospect(client: Client, token: { clientId?: string; aud?: unknown }): boolean {
  if (token.clientId === client.clientId) return true;
  const audiences = introspectionAudiencesOf(client);
  const tokenAudiences = Array.isArray(token.aud) ? token.aud : [token.aud];
  return tokenAudiences.some((aud) => typeof aud === 'string' && audiences.includes(aud));
}

function isJwt(token: unknown): token is string {
  try {
    return typeof token === 'string' && Boolean(decodeProtectedHeader(token));
  } catch {
    return false;
  }
}

/** Whether a person's tokens may still be honoured (they exist and are not disabled). */
export type AccountActive = (accountId: string) => Promise<boolean>;

/**
 * The provider's introspection policy: who may ask (above), and a person's token is active only
 * while the person is. Disabling revokes their grants too; this also covers tokens written by a
 * request that was in flight at that moment.
 */
export function introspectionPolicy(isActive: AccountActive) {
  return async (_ctx: unknown, client: Client, token: { clientId?: string; aud?: unknown; accountId?: string }) =>
    mayIntrospect(client, token) && (!token.accountId || (await isActive(token.accountId)));
}

/**
 * oidc-provider answers `unsupported_token_type` for structured (JWT) access tokens; this runs
 * after it, for an authenticated client, and answers RFC 7662 for our own JWTs: signature and
 * lifetime checked against our keys, then the grant and its person (or the client, for client
 * credentials) must still exist and be active. Anything else is `active: false`.
 */
export function jwtIntrospection(issuer: string, publicJwks: () => Promise<{ keys: JWK[] }>, isActive: AccountActive) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    const body = ctx.body as { error?: string } | undefined;
    const { oidc } = ctx;
    if (oidc?.route !== 'introspection' || body?.error !== 'unsupported_token_type' || !oidc.client) return;
    const token = oidc.params?.token;
    if (!isJwt(token)) return;
    ctx.status = 200;
    ctx.body = await introspectJwt(oidc.provider, oidc.client as Client, token, issuer, publicJwks, isActive);
  };
}

/** The claims of one of our JWT access tokens, if its signature, issuer, type and lifetime check out against our keys. */
export async function verifiedAccessToken(token: string, issuer: string, publicJwks: () => Promise<{ keys: JWK[] }>): Promise<Record<string, unknown> | undefined> {
  try {
    return (await jwtVerify(token, createLocalJWKSet(await publicJwks()), { issuer, typ: 'at+jwt', clockTolerance: 15 })).payload;
  } catch {
    return undefined;
  }
}

/**
 * Whether a verified access token still stands: a person's token while its grant stands (the
 * token's client's grant, or for an exchanged token the grant it was exchanged under) and the
 * person is active; a client's own token (no grant) while the client exists.
 */
export async function stillStands(provider: Provider, payload: Record<string, unknown>, isActive: AccountActive): Promise<boolean> {
  const clientId = String(payload.client_id ?? '');
  if (typeof payload.grant_id !== 'string') return Boolean(await provider.Client.find(clientId));
  const grant = await provider.Grant.find(payload.grant_id);
  // An exchanged token (with `act`) lives on the grant of the token it was exchanged for, another client's.
  const ownGrant = grant?.clientId === clientId || (payload.act as { sub?: unknown } | undefined)?.sub === clientId;
  return Boolean(grant && ownGrant && grant.accountId && grant.accountId === payload.sub && (await isActive(grant.accountId)));
}

async function introspectJwt(provider: Provider, client: Client, token: string, issuer: string, publicJwks: () => Promise<{ keys: JWK[] }>, isActive: AccountActive) {
  const inactive = { active: false };
  const payload = await verifiedAccessToken(token, issuer, publicJwks);
  if (!payload) return inactive;
  if (!mayIntrospect(client, { clientId: String(payload.client_id ?? ''), aud: payload.aud })) return inactive;
  if (!(await stillStands(provider, payload, isActive))) return inactive;
  const { grant_id: _, ...claims } = payload;
  return { active: true, token_type: 'Bearer', ...claims };
}
