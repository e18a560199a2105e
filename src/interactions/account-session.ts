import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';
import { ACCOUNT_CALLBACK_PATH, ACCOUNT_CLIENT_ID } from '../clients/index.ts';
import type { LiveProvider } from '../oidc/index.ts';
import { readCookie, setCookie } from './cookies.ts';
import { createSigner, SIGNED_FORM } from './signed.ts';

const SESSION_COOKIE = 'ostiary.account';
const LOGIN_COOKIE = 'ostiary.account-login';
/** How long a sign-in may take between leaving for the login page and coming back. */
const LOGIN_SECONDS = 600;
/** How long the account page trusts its cookie before asking the provider again (silently, while its session lives). */
const SESSION_SECONDS = 3600;

/** Who the account page's cookie says is signed in, and a keyed digest of the provider session they signed in with. */
export interface AccountSession {
  userId: string;
  sessionHandle: string;
}

interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  /** The account page to come back to. */
  back: string;
}

/** Where a sign-in may come back to: the account page, or a mailed address change link. */
const BACK = /^\/account(?:\/email\/[A-Za-z0-9_-]{43})?$/;
const backOf = (path: unknown): string => (typeof path === 'string' && BACK.test(path) ? path : '/account');

/** The account page's cookies: signed JSON with an expiry, HttpOnly, SameSite=Lax, path /account. */
function signedCookies(key: Buffer, secure: boolean) {
  const signer = createSigner(key);
  const read = <T extends object>(request: FastifyRequest, name: string) => signer.open<T>(name, readCookie(request, name, SIGNED_FORM));
  const write = (reply: FastifyReply, name: string, value: object, seconds: number) =>
    setCookie(reply, name, signer.sign(name, value, seconds), { path: '/account', sameSite: 'Lax', secure, maxAge: seconds });
  const clear = (reply: FastifyReply, name: string) => setCookie(reply, name, '', { path: '/account', sameSite: 'Lax', secure, maxAge: 0 });
  return { read, write, clear, mac: signer.mac };
}

/**
 * Requests to the provider's endpoints go through this server in-process, as if from the
 * person's address (rate limits, logs and metrics see them as theirs), never over the network.
 */
function inProcessFetch(app: FastifyInstance, issuer: URL, ip: string): oidc.CustomFetch {
  return async (url, options) => {
    const target = new URL(url);
    if (target.origin !== issuer.origin) throw new Error(`the account page asks only its own issuer, not ${target.origin}`);
    const body = options.body;
    const payload = body === undefined || body === null ? undefined : typeof body === 'string' ? body : body instanceof URLSearchParams ? body.toString() : Buffer.from(body as ArrayBuffer);
    const answer = await app.inject({ method: options.method as 'GET' | 'POST', url: target.pathname + target.search, headers: { ...options.headers, host: issuer.host }, payload, remoteAddress: ip });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const one of Array.isArray(value) ? value : [value]) if (one !== undefined) headers.append(name, String(one));
    }
    return new Response(answer.statusCode === 204 || answer.statusCode === 304 ? null : answer.rawPayload, { status: answer.statusCode, headers });
  };
}

/**
 * The account page signs people in as a client of this server (ACCOUNT_CLIENT_ID: code + PKCE,
 * with openid-client as any relying party would), then keeps who they are in its own cookie,
 * bound to the provider session they signed in with: when that session ends, so does the page's.
 */
export function accountSessions(app: FastifyInstance, live: LiveProvider, issuerUrl: string, key: Buffer, secure: boolean) {
  const issuer = new URL(issuerUrl);
  const cookies = signedCookies(key, secure);
  const redirectUri = `${issuerUrl}${ACCOUNT_CALLBACK_PATH}`;

  function configuration(request: FastifyRequest): oidc.Configuration {
    const metadata = JSON.parse(live.documents.get('/.well-known/openid-configuration')!.body) as oidc.ServerMetadata;
    const config = new oidc.Configuration(metadata, ACCOUNT_CLIENT_ID, undefined, oidc.None());
    config[oidc.customFetch] = inProcessFetch(app, issuer, request.ip);
    if (issuer.protocol === 'http:') oidc.allowInsecureRequests(config);
    return config;
  }

  /** The keyed digest of a provider session's uid the cookie holds (the uid itself stays on the server). */
  const handleOf = (sessionUid: string) => cookies.mac(`session:${sessionUid}`);

  return {
    handleOf,

    /** The signed-in person this request's cookie names, if its signature and time hold (the caller checks the provider session). */
    current: (request: FastifyRequest): AccountSession | undefined => {
      const value = cookies.read<{ sub?: unknown; sid?: unknown }>(request, SESSION_COOKIE);
      return typeof value?.sub === 'string' && typeof value.sid === 'string' ? { userId: value.sub, sessionHandle: value.sid } : undefined;
    },

    /**
     * Starts a sign-in that comes back to `back` (an account page path): remembers its checks in
     * a cookie and returns the authorization URL to send the browser to.
     */
    async start(request: FastifyRequest, reply: FastifyReply, back: string, uiLocales?: string): Promise<string> {
      const login: PendingLogin = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), back: backOf(back) };
      cookies.write(reply, LOGIN_COOKIE, login, LOGIN_SECONDS);
      const url = oidc.buildAuthorizationUrl(configuration(request), {
        redirect_uri: redirectUri,
        scope: 'openid email profile',
        state: login.state,
        nonce: login.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier),
        code_challenge_method: 'S256',
        ...(uiLocales ? { ui_locales: uiLocales } : {}),
      });
      return url.pathname + url.search;
    },

    /**
     * Ends a sign-in at the callback: redeems the code (checking state, nonce, PKCE and the ID
     * token) and sets the page's cookie. Undefined when this browser started no sign-in here.
     */
    async finish(request: FastifyRequest, reply: FastifyReply): Promise<(AccountSession & { back: string }) | undefined> {
      const login = cookies.read<PendingLogin>(request, LOGIN_COOKIE);
      cookies.clear(reply, LOGIN_COOKIE);
      if (!login || typeof login.state !== 'string' || typeof login.nonce !== 'string' || typeof login.verifier !== 'string') return undefined;
      const callback = new URL(request.url, issuerUrl);
      // Which provider session the code was issued in: read before the code is redeemed.
      const code = callback.searchParams.get('code');
      const issued = code ? await live.provider.AuthorizationCode.find(code) : undefined;
      const tokens = await oidc.authorizationCodeGrant(configuration(request), callback, { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce });
      const sub = tokens.claims()?.sub;
      if (!sub || !issued?.sessionUid) return undefined;
      const session = { userId: sub, sessionHandle: handleOf(issued.sessionUid) };
      cookies.write(reply, SESSION_COOKIE, { sub, sid: session.sessionHandle }, SESSION_SECONDS);
      return { ...session, back: backOf(login.back) };
    },

    end(reply: FastifyReply): void {
      cookies.clear(reply, SESSION_COOKIE);
    },
  };
}

export type AccountSessions = ReturnType<typeof accountSessions>;
