import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { errorPage, signedInPage, startPage, type ApiAnswer, type Claims } from './pages.ts';

export interface AppOptions {
  port: number;
  /** Where the app is reached: its redirect URI and post-logout redirect URI are under it. */
  url: string;
  rp: oidc.Configuration;
  issuer: string;
  /** The demo API's /hello, called with the access token. */
  apiUrl: string;
  /** The demo API's audience, the `resource` of every token request. */
  audience: string;
  /** The API scope asked for beside the OpenID Connect ones. */
  scope: string;
}

interface Tokens {
  idToken: string;
  idClaims: Claims;
  accessToken: string;
  refreshToken?: string;
}

/** One browser's state, kept in memory: it ends with the process. */
interface Session {
  csrf: string;
  /** The sign-in under way: what the callback must match. */
  flow?: { verifier: string; state: string; nonce: string };
  tokens?: Tokens;
  notice?: string;
  answer?: ApiAnswer;
}

const COOKIE = 'demo_session';
const STYLESHEET = readFileSync(new URL('./demo.css', import.meta.url));
const random = () => randomBytes(32).toString('base64url');

function headers(issuer: string) {
  return {
    // No script at all; forms post here, and the sign-out post is redirected to the issuer.
    'content-security-policy': `default-src 'none'; style-src 'self'; form-action 'self' ${new URL(issuer).origin}; base-uri 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

function tokensOf(response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, previous?: Tokens): Tokens {
  const idToken = response.id_token ?? previous?.idToken;
  const idClaims = response.claims() ?? previous?.idClaims;
  if (!idToken || !idClaims) throw new Error('the token response has no ID token');
  return { idToken, idClaims: { ...idClaims }, accessToken: response.access_token, refreshToken: response.refresh_token ?? previous?.refreshToken };
}

/** The demo relying party: sign in, show the tokens, call the API, refresh, sign out. */
export async function startApp(options: AppOptions) {
  const { rp, url, audience } = options;
  const redirectUri = `${url}/callback`;
  const sessions = new Map<string, Session>();

  const current = (request: FastifyRequest) => {
    const id = request.headers.cookie?.split(/;\s*/).find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
    const session = id ? sessions.get(id) : undefined;
    return id && session ? { id, session } : undefined;
  };
  const begin = (reply: FastifyReply, fields: Omit<Session, 'csrf'> = {}) => {
    const id = random();
    const session = { csrf: random(), ...fields };
    sessions.set(id, session);
    reply.header('set-cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
    return session;
  };
  const end = (reply: FastifyReply, id: string) => {
    sessions.delete(id);
    reply.header('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
  };
  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);

  /** A signed-in session whose form carried its CSRF token, or a refusal already sent. */
  const formSession = (request: FastifyRequest, reply: FastifyReply) => {
    const found = current(request);
    const csrf = (request.body as Record<string, unknown> | undefined)?.csrf;
    if (found?.session.tokens && sameToken(csrf, found.session.csrf)) return { id: found.id, session: found.session, tokens: found.session.tokens };
    html(reply, 403, errorPage('This form has expired or was not sent from this app. Go back to the start page and try again.'));
    return undefined;
  };

  const securityHeaders = headers(options.issuer);
  const app = Fastify({ bodyLimit: 16 * 1024 });
  await app.register(formbody);
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(securityHeaders);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });
  app.setErrorHandler((error, _request, reply) => html(reply, 500, errorPage((error as Error).message)));
  app.setNotFoundHandler((_request, reply) => html(reply, 404, errorPage('There is no such page in this app.')));

  app.get('/demo.css', (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(STYLESHEET));

  app.get('/', (request, reply) => {
    const session = current(request)?.session;
    if (!session?.tokens) return html(reply, 200, startPage(options.issuer));
    const { notice, answer } = session;
    delete session.notice;
    delete session.answer;
    const view = { csrf: session.csrf, idClaims: session.tokens.idClaims, accessClaims: decodeJwt(session.tokens.accessToken), hasRefreshToken: !!session.tokens.refreshToken, notice, answer };
    return html(reply, 200, signedInPage(view));
  });

  app.get('/login', async (request, reply) => {
    const session = current(request)?.session ?? begin(reply);
    const flow = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
    session.flow = flow;
    const authorization = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: `openid email profile roles ${options.scope}`,
      resource: audience,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    return reply.redirect(authorization.href, 303);
  });

  app.get('/callback', async (request, reply) => {
    const found = current(request);
    const flow = found?.session.flow;
    if (!found || !flow) return html(reply, 400, errorPage('No sign-in is under way in this browser. Start again from the start page.'));
    delete found.session.flow;
    let response;
    try {
      const checks = { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce };
      response = await oidc.authorizationCodeGrant(rp, new URL(request.url, url), checks, { resource: audience });
    } catch (error) {
      return html(reply, 400, errorPage(`Signing in failed: ${(error as Error).message}`));
    }
    // A new session id once signed in, so an id known before (session fixation) is worth nothing.
    sessions.delete(found.id);
    begin(reply, { tokens: tokensOf(response) });
    return reply.redirect('/', 303);
  });

  app.post('/call-api', async (request, reply) => {
    const found = formSession(request, reply);
    if (!found) return reply;
    try {
      const answer = await fetch(options.apiUrl, { headers: { authorization: `Bearer ${found.tokens.accessToken}` } });
      const text = await answer.text();
      const body = answer.headers.get('content-type')?.startsWith('application/json') ? JSON.stringify(JSON.parse(text), null, 2) : text;
      found.session.answer = { url: options.apiUrl, status: answer.status, body };
    } catch (error) {
      found.session.notice = `The API could not be reached: ${(error as Error).message}`;
    }
    return reply.redirect('/', 303);
  });

  app.post('/refresh', async (request, reply) => {
    const found = formSession(request, reply);
    if (!found) return reply;
    try {
      const response = await oidc.refreshTokenGrant(rp, found.tokens.refreshToken ?? '', { resource: audience });
      found.session.tokens = tokensOf(response, found.tokens);
      found.session.notice = 'Tokens refreshed: a new access token and ID token, and the refresh token was rotated.';
    } catch (error) {
      found.session.notice = `Refreshing failed: ${(error as Error).message}`;
    }
    return reply.redirect('/', 303);
  });

  // The app forgets the session first, then Ostiary ends its own (it asks for confirmation).
  app.post('/logout', async (request, reply) => {
    const found = formSession(request, reply);
    if (!found) return reply;
    end(reply, found.id);
    const logout = oidc.buildEndSessionUrl(rp, { id_token_hint: found.tokens.idToken, post_logout_redirect_uri: `${url}/` });
    return reply.redirect(logout.href, 303);
  });

  await app.listen({ port: options.port, host: '127.0.0.1' });
  return app;
}
