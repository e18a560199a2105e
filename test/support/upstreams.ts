// Upstream identity providers for the "sign in with another provider" tests: real servers on
// loopback. A bare oidc-provider (a well-behaved OpenID Provider with a login page), a small
// hand-written OpenID Provider whose answers a test can spoil, and a GitHub-like OAuth 2.0 server.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import Provider from 'oidc-provider';
import type { Page } from 'playwright-core';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * An HTTP server on a free loopback port, calling `handler` (a rejection answers 500). Each
 * answer closes its connection, so no client keeps a pooled socket: once the server stops
 * listening, the next request is refused.
 */
async function listen(handler: Handler, port = 0) {
  const server = createServer((req, res) => {
    res.shouldKeepAlive = false;
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, port: address.port, url: `http://127.0.0.1:${address.port}` };
}

/** Stops listening and drops the connections still open. */
function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function redirect(res: ServerResponse, to: string, params: Record<string, string | undefined>) {
  const location = new URL(to);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) location.searchParams.set(name, value);
  res.writeHead(302, { location: location.href, 'cache-control': 'no-store' });
  res.end();
}

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

/** The client's id and secret: HTTP Basic (each form-urlencoded, RFC 6749 §2.3.1) or the form body. */
function clientCredentials(req: IncomingMessage, body: URLSearchParams) {
  const header = req.headers.authorization;
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString();
    const colon = decoded.indexOf(':');
    const unescape = (part: string) => decodeURIComponent(part.replaceAll('+', ' '));
    return colon < 0 ? {} : { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
  }
  return { id: body.get('client_id') ?? undefined, secret: body.get('client_secret') ?? undefined };
}

function bearerToken(req: IncomingMessage): string | undefined {
  return /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const randomValue = () => randomBytes(24).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** The ID token signing algorithms a stand-in can use. */
export type SigningAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

/** A fresh signing key pair, its private and public halves as JWKs with a key id. */
async function signingKey(alg: SigningAlg = 'RS256', kid = randomValue()) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const describe = async (key: CryptoKey): Promise<JWK> => ({ ...(await exportJWK(key)), kid, alg, use: 'sig' });
  return { alg, kid, privateKey, privateJwk: await describe(privateKey), publicJwk: await describe(publicKey) };
}

// ---------------------------------------------------------------------------------------------
// 1. A bare oidc-provider

/** The claims a bare upstream releases for one account (scope `email` and `profile`). */
export interface UpstreamAccount {
  email: string;
  email_verified: boolean;
  name?: string;
}

/** How `startBareOidcUpstream` sets up its one client and its accounts. */
export interface BareOidcUpstreamOptions {
  /** The one redirect URI registered for the one client. */
  redirectUri: string;
  clientId?: string;
  clientSecret?: string;
  /** Claims by account id (the login name typed on the login page); unknown ids get `ID@upstream.example`, verified. */
  accounts?: Record<string, UpstreamAccount>;
  /** The client's `id_token_signed_response_alg` (RS256 unless given). */
  idTokenSigningAlg?: SigningAlg;
  /** How the client authenticates at the token endpoint (client_secret_basic unless given). */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /**
   * Put the email and profile claims in the ID token too. Off by default: oidc-provider then
   * conforms to OpenID Connect Core 5.4 and releases them from the userinfo endpoint only, and
   * the ID token carries `sub` (and the protocol claims) alone.
   */
  claimsInIdToken?: boolean;
}

/** A running bare oidc-provider: its issuer, its client's credentials and its switches. */
export interface BareOidcUpstream {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The accounts passed in: add or change entries at run time. */
  accounts: Record<string, UpstreamAccount>;
  provider: Provider;
  /** The next authorization request is answered at once with this error at the redirect URI (with `state` and `iss`). */
  failNext(error: 'access_denied' | 'server_error' | 'temporarily_unavailable', description?: string): void;
  stop(): Promise<void>;
}

/**
 * A bare `oidc-provider` (the library Ostiary builds on) with one confidential client, PKCE
 * required, scopes `openid email profile` and its development login and consent pages: any login
 * name and any password sign in as that account (see `signInAtBareUpstream`). In-memory storage.
 */
export async function startBareOidcUpstream(options: BareOidcUpstreamOptions): Promise<BareOidcUpstream> {
  const clientId = options.clientId ?? 'ostiary-at-bare-upstream';
  const clientSecret = options.clientSecret ?? randomValue();
  const accounts = options.accounts ?? {};
  const alg = options.idTokenSigningAlg ?? 'RS256';
  const keys = [await signingKey('RS256'), ...(alg === 'RS256' ? [] : [await signingKey(alg)])];
  let failure: { error: string; description: string } | undefined;

  let app: Handler = (_req, res) => void res.writeHead(503).end();
  const { server, url: issuer } = await listen((req, res) => app(req, res));

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: options.tokenEndpointAuthMethod ?? 'client_secret_basic',
        id_token_signed_response_alg: alg,
      },
    ],
    jwks: { keys: keys.map((key) => key.privateJwk) },
    cookies: { keys: [randomValue()] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: !options.claimsInIdToken,
    async findAccount(_ctx, id) {
      const account = accounts[id] ?? { email: `${id}@upstream.example`, email_verified: true };
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
  });

  provider.use(async (ctx, next) => {
    if (failure && ctx.method === 'GET' && ctx.path === '/auth') {
      const { error, description } = failure;
      failure = undefined;
      const state = typeof ctx.query.state === 'string' ? ctx.query.state : undefined;
      const location = new URL(options.redirectUri);
      for (const [name, value] of Object.entries({ error, error_description: description, state, iss: issuer })) {
        if (value !== undefined) location.searchParams.set(name, value);
      }
      ctx.redirect(location.href);
      return;
    }
    await next();
    // The development pages @import a web font: keep the browser on loopback.
    if (ctx.path.startsWith('/interaction/')) ctx.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
  });
  app = provider.callback();

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    provider,
    failNext(error, description = 'The upstream refused the request.') {
      failure = { error, description };
    },
    stop: () => close(server),
  };
}

/**
 * Signs in on a bare upstream's development pages in the browser: waits for its login (or
 * consent) page, types `login` (the account id) and a password (any will do), presses
 * "Sign-in", then "Continue" on the consent page, and returns once the browser has left the
 * upstream (normally for the redirect URI). Call it when the page is at or on its way to the
 * upstream. A browser context already signed in there, consent given, is sent back without
 * either page: do not call it then, wait for the redirect URI instead.
 */
export async function signInAtBareUpstream(page: Page, login: string): Promise<void> {
  const prompt = page.locator('form input[type="hidden"][name="prompt"]');
  await prompt.waitFor({ state: 'attached' });
  const upstream = new URL(page.url()).origin;
  const away = (url: URL) => url.origin !== upstream;
  if ((await prompt.getAttribute('value')) === 'login') {
    const loginPage = page.url();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.waitForURL((url) => url.href !== loginPage);
    if (away(new URL(page.url()))) return;
  }
  if ((await prompt.getAttribute('value')) === 'consent') await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(away);
}

// ---------------------------------------------------------------------------------------------
// 2. A hand-written OpenID Provider whose answers can be spoiled

/** How the next sign-in goes wrong: the ID token of the next token response, or the `iss` of the next authorization response. */
export type Spoil = 'wrong-audience' | 'expired' | 'wrong-nonce' | 'bad-signature' | 'wrong-issuer' | 'wrong-iss-parameter' | 'none';

/** Who signs in at the forging upstream. */
export interface UpstreamIdentity {
  subject: string;
  email: string;
  emailVerified: boolean;
  name: string;
}

/** The forging upstream's one client and who signs in first (a default identity otherwise). */
export interface ForgingOidcUpstreamOptions extends Partial<UpstreamIdentity> {
  redirectUri: string;
  clientId?: string;
  clientSecret?: string;
}

/** A running forging upstream: its issuer, its client's credentials, its switches and counters. */
export interface ForgingOidcUpstream {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Spoils the next token response's ID token (or, for 'wrong-iss-parameter', the next authorization response); 'none' clears it. */
  spoil(kind: Spoil): void;
  /** Changes who signs in, from the next authorization request on. */
  setIdentity(identity: Partial<UpstreamIdentity>): void;
  /** Codes exchanged for tokens so far (a refused replay does not count). */
  readonly codesRedeemed: number;
  /** The query of the last authorization request. */
  readonly lastAuthorization: URLSearchParams | undefined;
  /** From now on the client authenticates with assertions signed by one of these keys (private_key_jwt) instead of its secret. */
  trustClientKeys(jwks: { keys: JWK[] }): void;
  /** How the client authenticated at the last token request. */
  readonly lastClientAuth: 'secret' | 'private_key_jwt' | undefined;
  stop(): Promise<void>;
}

/**
 * A small OpenID Provider on node:http: discovery, JWKS, an authorization endpoint that sends the
 * browser straight back with a code (no login page; the identity is the one set), a token
 * endpoint (client_secret_basic or _post, single-use codes, redirect URI and PKCE S256 checked)
 * and userinfo. A test spoils the next answer to play a forged callback.
 */
export async function startForgingOidcUpstream(options: ForgingOidcUpstreamOptions): Promise<ForgingOidcUpstream> {
  const clientId = options.clientId ?? 'ostiary-at-forging-upstream';
  const clientSecret = options.clientSecret ?? randomValue();
  let identity: UpstreamIdentity = {
    subject: options.subject ?? 'upstream-subject-1',
    email: options.email ?? 'grace@forging.example',
    emailVerified: options.emailVerified ?? true,
    name: options.name ?? 'Grace Hopper',
  };
  const key = await signingKey('RS256');
  const impostor = await signingKey('RS256', key.kid); // same kid, another key: a bad signature
  const codes = new Map<string, { challenge: string; nonce?: string; identity: UpstreamIdentity }>();
  const accessTokens = new Map<string, UpstreamIdentity>();
  let spoiled: Spoil = 'none';
  let codesRedeemed = 0;
  let lastAuthorization: URLSearchParams | undefined;
  let clientKeys: ReturnType<typeof createLocalJWKSet> | undefined;
  let lastClientAuth: 'secret' | 'private_key_jwt' | undefined;

  /** RFC 7523 client authentication: an assertion by the client, for this token endpoint, signed with a trusted key. */
  async function assertionValid(body: URLSearchParams): Promise<boolean> {
    if (!clientKeys || body.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return false;
    try {
      await jwtVerify(body.get('client_assertion') ?? '', clientKeys, { issuer: clientId, subject: clientId, audience: [issuer, `${issuer}/token`], requiredClaims: ['exp', 'jti'] });
      return true;
    } catch {
      return false;
    }
  }

  const { server, url: issuer } = await listen(async (req, res) => {
    const { pathname, searchParams } = new URL(req.url ?? '/', issuer);
    if (req.method === 'GET' && pathname === '/.well-known/openid-configuration') {
      return sendJson(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: clientKeys ? ['private_key_jwt'] : ['client_secret_basic', 'client_secret_post'],
        token_endpoint_auth_signing_alg_values_supported: ['RS256', 'ES256'],
        scopes_supported: ['openid', 'email', 'profile'],
        claims_supported: ['sub', 'email', 'email_verified', 'name'],
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (req.method === 'GET' && pathname === '/jwks') return sendJson(res, 200, { keys: [key.publicJwk] });

    if (req.method === 'GET' && pathname === '/authorize') {
      lastAuthorization = searchParams;
      const param = (name: string) => searchParams.get(name) ?? undefined;
      if (param('client_id') !== clientId || param('redirect_uri') !== options.redirectUri) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        return void res.end('unknown client or redirect_uri');
      }
      const iss = spoiled === 'wrong-iss-parameter' ? 'http://127.0.0.1:9/not-the-issuer' : issuer;
      if (spoiled === 'wrong-iss-parameter') spoiled = 'none';
      const state = param('state');
      const challenge = param('code_challenge');
      if (param('response_type') !== 'code' || param('code_challenge_method') !== 'S256' || !challenge) {
        return redirect(res, options.redirectUri, { error: 'invalid_request', error_description: 'response_type code with PKCE S256 required', state, iss });
      }
      if (!param('scope')?.split(' ').includes('openid')) return redirect(res, options.redirectUri, { error: 'invalid_scope', state, iss });
      const code = randomValue();
      codes.set(code, { challenge, nonce: param('nonce'), identity });
      return redirect(res, options.redirectUri, { code, state, iss });
    }

    if (req.method === 'POST' && pathname === '/token') {
      const body = await formBody(req);
      const client = clientCredentials(req, body);
      const byAssertion = await assertionValid(body);
      if (!byAssertion && (clientKeys || client.id !== clientId || client.secret !== clientSecret)) {
        return sendJson(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="token"' });
      }
      lastClientAuth = byAssertion ? 'private_key_jwt' : 'secret';
      if (body.get('grant_type') !== 'authorization_code') return sendJson(res, 400, { error: 'unsupported_grant_type' });
      const code = body.get('code') ?? '';
      const issued = codes.get(code);
      codes.delete(code);
      if (!issued) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'unknown or used code' });
      if (body.get('redirect_uri') !== options.redirectUri) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
      if (s256(body.get('code_verifier') ?? '') !== issued.challenge) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      codesRedeemed += 1;

      const kind = spoiled;
      spoiled = 'none';
      const person = issued.identity;
      const issuedAt = kind === 'expired' ? now() - 7200 : now();
      const idToken = await new SignJWT({
        email: person.email,
        email_verified: person.emailVerified,
        name: person.name,
        ...(issued.nonce === undefined ? {} : { nonce: kind === 'wrong-nonce' ? 'not-the-nonce-sent' : issued.nonce }),
      })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
        .setIssuer(kind === 'wrong-issuer' ? 'http://127.0.0.1:9/not-the-issuer' : issuer)
        .setAudience(kind === 'wrong-audience' ? 'another-client' : clientId)
        .setSubject(person.subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + 3600)
        .sign(kind === 'bad-signature' ? impostor.privateKey : key.privateKey);
      const accessToken = randomValue();
      accessTokens.set(accessToken, person);
      return sendJson(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, id_token: idToken, scope: 'openid email profile' });
    }

    if (pathname === '/userinfo') {
      const person = accessTokens.get(bearerToken(req) ?? '');
      if (!person) return sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return sendJson(res, 200, { sub: person.subject, email: person.email, email_verified: person.emailVerified, name: person.name });
    }
    sendJson(res, 404, { error: 'not_found' });
  });

  return {
    issuer,
    clientId,
    clientSecret,
    spoil(kind) {
      spoiled = kind;
    },
    setIdentity(changes) {
      identity = { ...identity, ...changes };
    },
    get codesRedeemed() {
      return codesRedeemed;
    },
    get lastAuthorization() {
      return lastAuthorization;
    },
    trustClientKeys(jwks) {
      clientKeys = createLocalJWKSet(jwks);
    },
    get lastClientAuth() {
      return lastClientAuth;
    },
    stop: () => close(server),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. A GitHub-like OAuth 2.0 server

/** One entry of GitHub's `GET /user/emails`. */
export interface GithubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility?: 'public' | 'private' | null;
}

/** Who signs in at the GitHub-like upstream: `GET /user` shows id, login, name and the public `email`. */
export interface GithubIdentity {
  id: number;
  login: string;
  name: string | null;
  /** The public profile email (GitHub's `email` on `/user`), null when none is public. */
  email: string | null;
  emails: GithubEmail[];
}

/** The GitHub-like upstream's one OAuth app and who signs in first (a default identity otherwise). */
export interface GithubLikeUpstreamOptions {
  redirectUri: string;
  clientId?: string;
  clientSecret?: string;
  identity?: Partial<GithubIdentity>;
}

/** A running GitHub-like upstream: its URLs, its OAuth app's credentials, its switches and counters. */
export interface GithubLikeUpstream {
  url: string;
  clientId: string;
  clientSecret: string;
  /** `URL/login/oauth/authorize` */
  authorizationUrl: string;
  /** `URL/login/oauth/access_token` */
  tokenUrl: string;
  /** `URL/user` */
  userinfoUrl: string;
  /** `URL/user/emails` */
  emailsUrl: string;
  /** Changes who signs in, from the next authorization request on. */
  setIdentity(identity: Partial<GithubIdentity>): void;
  /** The next authorization request is answered with this error at the redirect URI, as GitHub does when the person cancels. */
  failNext(error?: 'access_denied'): void;
  /** Stops listening (connections are refused) until `up()`. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Codes exchanged for tokens so far. */
  readonly codesRedeemed: number;
  /** The query of the last authorization request. */
  readonly lastAuthorization: URLSearchParams | undefined;
  stop(): Promise<void>;
}

/**
 * A small OAuth 2.0 server that behaves like GitHub's OAuth apps and API: the authorization
 * endpoint sends the browser straight back with a code and the state (no login page; the
 * identity is the one set); the token endpoint takes the client in the body or HTTP Basic, checks
 * the code (single use), the redirect URI and PKCE S256 when a challenge was sent, and answers
 * JSON only when asked (`Accept: application/json`), form-encoded otherwise. Like GitHub, its
 * token errors (`bad_verification_code`, `incorrect_client_credentials`, `redirect_uri_mismatch`)
 * come with HTTP 200. `GET /user` and `GET /user/emails` take `Authorization: Bearer` (or `token`).
 */
export async function startGithubLikeUpstream(options: GithubLikeUpstreamOptions): Promise<GithubLikeUpstream> {
  const clientId = options.clientId ?? 'Iv1.ostiary0test';
  const clientSecret = options.clientSecret ?? randomBytes(20).toString('hex');
  let identity: GithubIdentity = {
    id: 583231,
    login: 'octocat',
    name: 'The Octocat',
    email: null,
    emails: [{ email: 'octocat@users.github.example', primary: true, verified: true, visibility: 'private' }],
    ...options.identity,
  };
  const codes = new Map<string, { redirectUri: string; challenge?: string; scope: string; identity: GithubIdentity }>();
  const accessTokens = new Map<string, GithubIdentity>();
  let failure: string | undefined;
  let codesRedeemed = 0;
  let lastAuthorization: URLSearchParams | undefined;

  const handler: Handler = async (req, res) => {
    const { pathname, searchParams } = new URL(req.url ?? '/', url);
    if (req.method === 'GET' && pathname === '/login/oauth/authorize') {
      lastAuthorization = searchParams;
      const param = (name: string) => searchParams.get(name) ?? undefined;
      const redirectUri = param('redirect_uri') ?? options.redirectUri;
      if (param('client_id') !== clientId || redirectUri !== options.redirectUri) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return void res.end('unknown client or redirect_uri');
      }
      const state = param('state');
      if (failure) {
        failure = undefined;
        return redirect(res, redirectUri, {
          error: 'access_denied',
          error_description: 'The user has denied your application access.',
          error_uri: 'https://docs.github.com/apps/troubleshooting-authorization-request-errors#access-denied',
          state,
        });
      }
      const challenge = param('code_challenge');
      if (challenge && param('code_challenge_method') !== 'S256') {
        return redirect(res, redirectUri, { error: 'invalid_request', error_description: 'code_challenge_method must be S256', state });
      }
      const code = randomBytes(10).toString('hex');
      codes.set(code, { redirectUri, challenge, scope: (param('scope') ?? '').split(/[ ,]+/).filter(Boolean).join(','), identity });
      return redirect(res, redirectUri, { code, state });
    }

    if (req.method === 'POST' && pathname === '/login/oauth/access_token') {
      const body = await formBody(req);
      const answer = (fields: Record<string, string>) => {
        if (/application\/json/.test(req.headers.accept ?? '')) return sendJson(res, 200, fields);
        res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
        res.end(new URLSearchParams(fields).toString());
      };
      const client = clientCredentials(req, body);
      if (client.id !== clientId || client.secret !== clientSecret) {
        return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
      }
      const code = body.get('code') ?? '';
      const issued = codes.get(code);
      codes.delete(code);
      const badCode = { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' };
      if (!issued) return answer(badCode);
      const redirectUri = body.get('redirect_uri');
      if (redirectUri !== null && redirectUri !== issued.redirectUri) {
        return answer({ error: 'redirect_uri_mismatch', error_description: 'The redirect_uri MUST match the registered callback URL for this application.' });
      }
      if (issued.challenge !== undefined && s256(body.get('code_verifier') ?? '') !== issued.challenge) return answer(badCode);
      codesRedeemed += 1;
      const accessToken = `gho_${randomBytes(18).toString('hex')}`;
      accessTokens.set(accessToken, issued.identity);
      return answer({ access_token: accessToken, token_type: 'bearer', scope: issued.scope });
    }

    if (req.method === 'GET' && (pathname === '/user' || pathname === '/user/emails')) {
      const person = accessTokens.get(bearerToken(req) ?? '');
      if (!person) return sendJson(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      if (pathname === '/user/emails') return sendJson(res, 200, person.emails.map((entry) => ({ visibility: null, ...entry })));
      return sendJson(res, 200, { login: person.login, id: person.id, type: 'User', name: person.name, email: person.email });
    }
    sendJson(res, 404, { message: 'Not Found' });
  };

  const started = await listen((req, res) => handler(req, res));
  const { port, url } = started;
  let server = started.server;
  let running = true;

  return {
    url,
    clientId,
    clientSecret,
    authorizationUrl: `${url}/login/oauth/authorize`,
    tokenUrl: `${url}/login/oauth/access_token`,
    userinfoUrl: `${url}/user`,
    emailsUrl: `${url}/user/emails`,
    setIdentity(changes) {
      identity = { ...identity, ...changes };
    },
    failNext(error = 'access_denied') {
      failure = error;
    },
    async down() {
      if (running) await close(server);
      running = false;
    },
    async up() {
      if (!running) ({ server } = await listen((req, res) => handler(req, res), port));
      running = true;
    },
    get codesRedeemed() {
      return codesRedeemed;
    },
    get lastAuthorization() {
      return lastAuthorization;
    },
    async stop() {
      if (running) await close(server);
      running = false;
    },
  };
}
