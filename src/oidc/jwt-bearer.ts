import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { AssertionJtis } from '../assertions/index.ts';
import type { Audit, AuditEventInput } from '../audit/index.ts';
import { assertionIssuerOf, type AssertionIssuer } from '../clients/index.ts';
import type { GuardedFetch } from '../outbound/index.ts';
import { isOidcScope } from '../scopes/index.ts';
import type { AccountActive } from './introspection.ts';
import type { createResourceIndicators } from './resources.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const PARAMETERS = ['assertion', 'scope', 'resource'];
/** The longest an assertion may be valid for, from its iat (or from now): a minute's use, with room. */
export const MAX_ASSERTION_LIFETIME = 300;
const CLOCK_TOLERANCE = 30;
/** Asymmetric signatures only: never `none`, never a shared secret (HS*). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

interface Deps {
  issuer: string;
  isActive: AccountActive;
  resources: ReturnType<typeof createResourceIndicators>;
  jtis: AssertionJtis;
  audit: Audit;
  fetch: GuardedFetch;
}

/** Why an assertion was refused, for the audit trail (the client is told only `invalid_grant`). */
class Refusal extends errors.InvalidGrant {
  readonly reason: string;
  constructor(reason: string, description: string) {
    super(description);
    this.reason = reason;
  }
}

const JOSE_REASONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'expired',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature',
  ERR_JWKS_NO_MATCHING_KEY: 'signature',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'signature',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'claims',
  ERR_JWKS_TIMEOUT: 'keys_unavailable',
  ERR_JWKS_INVALID: 'keys_unavailable',
};

/** Why jose refused the assertion, in our words. */
function refusalOf(error: unknown): Refusal {
  const code = error instanceof joseErrors.JOSEError ? error.code : undefined;
  const claim = error instanceof joseErrors.JWTClaimValidationFailed ? error.claim : undefined;
  const reason = claim === 'iss' ? 'issuer' : claim === 'aud' ? 'audience' : (code && JOSE_REASONS[code]) || (code ? 'malformed' : 'keys_unavailable');
  return new Refusal(reason, `the assertion is not valid (${reason})`);
}

/** The audit event of a refused assertion: who presented it, from where, and why (never the assertion). */
function refusedEvent(ctx: KoaContextWithOIDC, reason: string): AuditEventInput {
  const clientId = ctx.oidc.client!.clientId;
  return { type: 'jwt_bearer.refused', outcome: 'failure', actor: `client:${clientId}`, clientId, ip: ctx.ip, userAgent: ctx.get('user-agent') || null, requestId: ctx.response.get('x-request-id') || null, details: { reason } };
}

/** The claims RFC 7523 section 3 asks of an assertion, with ours: aud only us, short-lived, a jti. */
function checkClaims(payload: JWTPayload, issuer: string, now: number): { sub: string; jti: string; exp: number } {
  const { sub, jti, exp, iat, aud } = payload;
  // The issuer is the only audience: an assertion for the token endpoint URL or for others too is refused.
  if ((Array.isArray(aud) ? aud : [aud]).some((a) => a !== issuer)) throw new Refusal('audience', 'the assertion must name only the issuer as its audience');
  if (typeof exp !== 'number') throw new Refusal('claims', 'the assertion has no exp');
  if (exp - (typeof iat === 'number' ? Math.min(iat, now) : now) > MAX_ASSERTION_LIFETIME) throw new Refusal('lifetime', `the assertion may be valid for at most ${MAX_ASSERTION_LIFETIME} seconds`);
  if (typeof iat === 'number' && iat > now + CLOCK_TOLERANCE) throw new Refusal('claims', 'the assertion was issued in the future');
  if (typeof jti !== 'string' || !jti || jti.length > 256) throw new Refusal('claims', 'the assertion needs a jti');
  if (typeof sub !== 'string' || !sub) throw new Refusal('claims', 'the assertion needs a sub');
  return { sub, jti, exp };
}

/**
 * RFC 7523 section 2.1: a confidential client presents an assertion signed by the issuer it
 * trusts (`clients create --assertion-issuer`) naming a person by their `sub` here, and gets an
 * access token for that person to the API named by `resource`: API scopes only, no ID token, no
 * refresh token. Every assertion is taken once (its jti, shared by every instance through the
 * database). The token lives on a grant of its own that ends with it, so revoking the person's
 * grants or disabling the person ends it as it ends any other token.
 */
export function registerJwtBearer(provider: Provider, { issuer, isActive, resources, jtis, audit, fetch }: Deps): void {
  const remoteKeys = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  function keysOf(trusted: AssertionIssuer) {
    if (!trusted.jwksUri) return createLocalJWKSet({ keys: (trusted.jwks?.keys ?? []) as JWK[] });
    let keys = remoteKeys.get(trusted.jwksUri);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(trusted.jwksUri), { [customFetch]: fetch as never });
      remoteKeys.set(trusted.jwksUri, keys);
    }
    return keys;
  }

  async function verified(assertion: string, trusted: AssertionIssuer) {
    try {
      const { payload } = await jwtVerify(assertion, keysOf(trusted), { issuer: trusted.issuer, audience: issuer, algorithms: ALGORITHMS, clockTolerance: CLOCK_TOLERANCE });
      return checkClaims(payload, issuer, Math.floor(Date.now() / 1000));
    } catch (error) {
      throw error instanceof Refusal ? error : refusalOf(error);
    }
  }

  async function issue(ctx: KoaContextWithOIDC, assertion: string, resource: string) {
    const client = ctx.oidc.client!;
    const trusted = assertionIssuerOf(client.metadata());
    if (!trusted) throw new Refusal('untrusted', 'the client trusts no assertion issuer');
    const { sub, jti, exp } = await verified(assertion, trusted);
    if (!(await isActive(sub))) throw new Refusal('subject', 'the assertion names no person who may sign in');
    const info = await resources.getResourceServerInfo(ctx, resource, client.metadata());
    // Taken last, once everything else holds: a refused request does not use the assertion up.
    if (!(await jtis.take(trusted.issuer, jti, new Date((exp + CLOCK_TOLERANCE) * 1000)))) throw new Refusal('replayed', 'the assertion was used already');

    const requested = String(ctx.oidc.params!.scope ?? '').split(' ').filter(Boolean);
    const scope = [...new Set(requested.length ? requested : (info.scope?.split(' ') ?? []))].filter((s) => !isOidcScope(s)).join(' ');
    // The grant ends with its token: nothing outlives the assertion's one use.
    const lifetime = info.accessTokenTTL!;
    const grant = new provider.Grant({ accountId: sub, clientId: client.clientId, expiresIn: lifetime } as ConstructorParameters<typeof provider.Grant>[0]);
    grant.addResourceScope(resource, scope);
    const grantId = await grant.save();
    const token = new provider.AccessToken({ accountId: sub, client, grantId, gty: 'jwt_bearer', scope: scope || undefined, expiresIn: lifetime });
    token.resourceServer = new provider.ResourceServer(resource, info);
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = { access_token: value, token_type: token.tokenType, expires_in: token.expiration, ...(token.scope ? { scope: token.scope } : {}) };
  }

  async function handler(ctx: KoaContextWithOIDC) {
    const params = ctx.oidc.params as Record<string, string | string[] | undefined>;
    if (typeof params.assertion !== 'string' || !params.assertion) throw new errors.InvalidRequest('assertion is required');
    if (typeof params.resource !== 'string') throw new errors.InvalidTarget('exactly one resource is required');
    try {
      await issue(ctx, params.assertion, params.resource);
    } catch (error) {
      if (error instanceof Refusal) await audit.record(refusedEvent(ctx, error.reason));
      throw error;
    }
  }

  provider.registerGrantType(JWT_BEARER, handler, PARAMETERS);
}
