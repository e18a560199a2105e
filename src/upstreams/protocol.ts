import { importJWK } from 'jose';
import * as oauth from 'openid-client';
import { PRESETS } from './presets.ts';
import type { UpstreamRuntime } from './store.ts';
import { identityOf, UnusableIdentityError, verifiedPrimaryEmail, type UpstreamIdentityClaims } from './claims.ts';

/** How long one request to an upstream may take. */
const TIMEOUT_SECONDS = 10;
/** How long a discovered configuration is used before it is discovered again. */
const DISCOVERY_MS = 10 * 60_000;

/** What a sign-in through an upstream carries from its start to the callback (kept by the browser, signed). */
export interface PendingSignIn {
  slug: string;
  state: string;
  nonce?: string;
  verifier: string;
}

/** Why a sign-in through an upstream failed, for the audit trail and the page. */
export type SignInFailure =
  /** The upstream could not be reached, timed out or answered garbage. */
  | 'unavailable'
  /** The upstream answered the authorization request with an error (the person said no, say). */
  | 'denied'
  /** The callback or the tokens did not check out (state, iss, signature, audience, nonce, expiry, a used code). */
  | 'invalid';

export class UpstreamSignInError extends Error {
  override name = 'UpstreamSignInError';
  readonly reason: SignInFailure;
  /** The upstream's error code, or the check that failed. */
  readonly detail: string;
  constructor(reason: SignInFailure, detail: string) {
    super(`upstream sign-in ${reason}: ${detail}`);
    this.reason = reason;
    this.detail = detail;
  }
}

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

/** openid-client's and fetch's errors, sorted into the three failures; the detail is a code, never a token. */
function failureOf(error: unknown): UpstreamSignInError {
  if (error instanceof UpstreamSignInError) return error;
  if (error instanceof UnusableIdentityError) return new UpstreamSignInError('invalid', 'subject_missing');
  if (error instanceof oauth.AuthorizationResponseError) return new UpstreamSignInError('denied', short(error.error));
  if (error instanceof oauth.ResponseBodyError) return new UpstreamSignInError('invalid', short(error.error));
  const name = (error as { name?: unknown })?.name;
  const cause = (error as { cause?: { code?: unknown; name?: unknown } })?.cause;
  if (name === 'TimeoutError' || name === 'AbortError' || cause?.name === 'TimeoutError') return new UpstreamSignInError('unavailable', 'timeout');
  if (error instanceof TypeError && (NETWORK.has(String(cause?.code)) || /fetch failed/.test(error.message))) return new UpstreamSignInError('unavailable', short(String(cause?.code ?? 'fetch_failed')));
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('OAUTH_')) {
    // A discovery or response the library could not use at all is the upstream's failure; a check that failed is a forgery's.
    const unusable = code === 'OAUTH_RESPONSE_IS_NOT_JSON' || code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_HTTP_REQUEST_FORBIDDEN';
    return new UpstreamSignInError(unusable ? 'unavailable' : 'invalid', short(code.toLowerCase()));
  }
  return new UpstreamSignInError('invalid', 'unexpected');
}

const short = (value: unknown) => String(value).replace(/[^\w.:-]/g, '_').slice(0, 80);

const loopbackHttp = (url: string) => url.startsWith('http:');

/** Client assertions signed with the upstream's own key, or its secret (Basic where the upstream takes it). */
async function clientAuthOf(upstream: UpstreamRuntime, methods: string[] | undefined): Promise<oauth.ClientAuth> {
  if (upstream.clientAuth === 'private_key_jwt' && upstream.privateJwk) {
    const key = (await importJWK(upstream.privateJwk, 'RS256')) as oauth.CryptoKey;
    return oauth.PrivateKeyJwt({ key, kid: upstream.privateJwk.kid });
  }
  const secret = upstream.clientSecret ?? '';
  return !methods || methods.includes('client_secret_basic') ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
}

/**
 * The relying-party side of a sign-in through an upstream, with openid-client: the authorization
 * request (code flow, PKCE S256, state, and nonce for OpenID Connect) and the callback (state,
 * RFC 9207 `iss` where advertised, the code exchange, ID token validation, userinfo).
 */
export function createUpstreamProtocol() {
  const discovered = new Map<string, { at: number; config: Promise<oauth.Configuration> }>();

  function settle(config: oauth.Configuration, http: boolean): oauth.Configuration {
    config.timeout = TIMEOUT_SECONDS;
    if (http) oauth.allowInsecureRequests(config);
    return config;
  }

  async function discover(upstream: UpstreamRuntime): Promise<oauth.Configuration> {
    const key = `${upstream.slug}:${upstream.updatedAt.getTime()}`;
    const cached = discovered.get(key);
    if (cached && Date.now() - cached.at < DISCOVERY_MS) return cached.config;
    const issuer = upstream.issuer!;
    const http = loopbackHttp(issuer);
    const config = oauth
      .discovery(new URL(issuer), upstream.clientId, undefined, undefined, { timeout: TIMEOUT_SECONDS, ...(http ? { execute: [oauth.allowInsecureRequests] } : {}) })
      .then(async (found) => {
        const auth = await clientAuthOf(upstream, found.serverMetadata().token_endpoint_auth_methods_supported);
        const settled = settle(new oauth.Configuration(found.serverMetadata(), upstream.clientId, undefined, auth), http);
        // The ID token's signature is checked too, not only trusted for coming over TLS from the token endpoint.
        oauth.enableNonRepudiationChecks(settled);
        return settled;
      });
    // A failed discovery is not kept: the next sign-in tries again.
    config.catch(() => discovered.delete(key));
    for (const old of discovered.keys()) if (old.startsWith(`${upstream.slug}:`)) discovered.delete(old);
    discovered.set(key, { at: Date.now(), config });
    return config;
  }

  function plain(upstream: UpstreamRuntime): oauth.Configuration {
    const metadata = { issuer: new URL(upstream.authorizationUrl!).origin, authorization_endpoint: upstream.authorizationUrl!, token_endpoint: upstream.tokenUrl! };
    return settle(new oauth.Configuration(metadata, upstream.clientId, undefined, oauth.ClientSecretPost(upstream.clientSecret ?? '')), loopbackHttp(upstream.tokenUrl!));
  }

  async function configuration(upstream: UpstreamRuntime): Promise<oauth.Configuration> {
    try {
      return upstream.kind === 'oidc' ? await discover(upstream) : plain(upstream);
    } catch (error) {
      throw failureOf(error);
    }
  }

  async function readJson(config: oauth.Configuration, accessToken: string, url: string): Promise<unknown> {
    const response = await oauth.fetchProtectedResource(config, accessToken, new URL(url), 'GET', undefined, new Headers({ accept: 'application/json' }));
    if (!response.ok) throw new UpstreamSignInError('unavailable', `userinfo_${response.status}`);
    if (Number(response.headers.get('content-length') ?? 0) > 100_000) throw new UpstreamSignInError('unavailable', 'userinfo_too_large');
    const text = await response.text();
    if (text.length > 100_000) throw new UpstreamSignInError('unavailable', 'userinfo_too_large');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UpstreamSignInError('unavailable', 'userinfo_not_json');
    }
  }

  return {
    /** The upstream's authorization URL for this sign-in, and what the callback needs to check it. */
    async begin(upstream: UpstreamRuntime, loginHint?: string): Promise<{ url: string; pending: PendingSignIn }> {
      const config = await configuration(upstream);
      const pending: PendingSignIn = { slug: upstream.slug, state: oauth.randomState(), verifier: oauth.randomPKCECodeVerifier(), ...(upstream.kind === 'oidc' ? { nonce: oauth.randomNonce() } : {}) };
      const params: Record<string, string> = {
        redirect_uri: upstream.redirectUri,
        scope: upstream.scope,
        state: pending.state,
        code_challenge: await oauth.calculatePKCECodeChallenge(pending.verifier),
        code_challenge_method: 'S256',
        ...(pending.nonce ? { nonce: pending.nonce } : {}),
        ...(loginHint ? { login_hint: loginHint } : {}),
        ...(upstream.preset ? PRESETS[upstream.preset].authorizationParams : {}),
      };
      return { url: oauth.buildAuthorizationUrl(config, params).href, pending };
    },

    /**
     * The person the upstream vouches for, from its answer at the redirect URI (`callback`: the
     * redirect URI with the answer's parameters). Throws UpstreamSignInError; the upstream's
     * tokens go no further than this function.
     */
    async complete(upstream: UpstreamRuntime, pending: PendingSignIn, callback: URL): Promise<UpstreamIdentityClaims> {
      try {
        const config = await configuration(upstream);
        const oidc = upstream.kind === 'oidc';
        const tokens = await oauth.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: pending.verifier,
          expectedState: pending.state,
          ...(oidc ? { expectedNonce: pending.nonce, idTokenExpected: true } : {}),
        });
        if (oidc) {
          const claims: Record<string, unknown> = { ...tokens.claims() };
          const userinfo = config.serverMetadata().userinfo_endpoint;
          // Some providers put the address only in userinfo; the ID token's claims win where both say.
          if (!claims.email && userinfo) Object.assign(claims, { ...(await oauth.fetchUserInfo(config, tokens.access_token, String(claims.sub))) }, { ...tokens.claims() });
          return identityOf(claims, upstream.mapping);
        }
        const profile = await readJson(config, tokens.access_token, upstream.userinfoUrl!);
        const identity = identityOf(profile, upstream.mapping);
        if (!upstream.emailsUrl) return identity;
        return { ...identity, ...verifiedPrimaryEmail(await readJson(config, tokens.access_token, upstream.emailsUrl)) };
      } catch (error) {
        throw failureOf(error);
      }
    },
  };
}

export type UpstreamProtocol = ReturnType<typeof createUpstreamProtocol>;

/** For fronts that meet a failure: never thrown by anything but this module. */
export const isSignInError = (error: unknown): error is UpstreamSignInError => error instanceof UpstreamSignInError;
