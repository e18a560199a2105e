import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, launchChromium } from '../browser/support.ts';
import {
  signInAtBareUpstream,
  startBareOidcUpstream,
  startForgingOidcUpstream,
  startGithubLikeUpstream,
  type BareOidcUpstream,
  type ForgingOidcUpstream,
  type GithubLikeUpstream,
  type Spoil,
} from '../support/upstreams.ts';

// The upstream stand-ins the federation tests use, checked against openid-client as the relying
// party: if these pass, a failing federation test points at Ostiary, not at its stand-in.

const CALLBACK = 'https://ostiary.example/upstreams/test/callback';
const insecure = { execute: [client.allowInsecureRequests] };

/** An authorization URL with PKCE S256, state (and nonce), and what checking the answer needs. */
async function startAuthorization(config: client.Configuration, scope: string, { withNonce = true, redirectUri = CALLBACK } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = withNonce ? client.randomNonce() : undefined;
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    state,
    ...(nonce ? { nonce } : {}),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const checks = { pkceCodeVerifier: verifier, expectedState: state, ...(nonce ? { expectedNonce: nonce } : {}) };
  return { url, checks };
}

/** Where the upstream's authorization endpoint sends the browser (no browser: one redirect, not followed). */
async function redirectFrom(url: URL): Promise<{ status: number; location: URL }> {
  const response = await fetch(url, { redirect: 'manual' });
  return { status: response.status, location: new URL(response.headers.get('location')!, url) };
}

describe('the hand-written OpenID Provider that forges answers', () => {
  let upstream: ForgingOidcUpstream;
  let config: client.Configuration;
  /** Also checks the ID token's signature, which openid-client skips by default for a token endpoint answer. */
  let strict: client.Configuration;

  beforeAll(async () => {
    upstream = await startForgingOidcUpstream({ redirectUri: CALLBACK, subject: 'grace-1', email: 'grace@forging.example', name: 'Grace Hopper' });
    config = await client.discovery(new URL(upstream.issuer), upstream.clientId, upstream.clientSecret, undefined, insecure);
    strict = await client.discovery(new URL(upstream.issuer), upstream.clientId, upstream.clientSecret, undefined, {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
  });
  afterAll(() => upstream?.stop());

  async function signIn(rp = strict) {
    const { url, checks } = await startAuthorization(rp, 'openid email profile');
    const { status, location } = await redirectFrom(url);
    expect(status).toBe(302);
    return { callback: location, checks, tokens: () => client.authorizationCodeGrant(rp, location, checks) };
  }

  it('signs in with code and PKCE; the ID token and userinfo carry the identity', async () => {
    const before = upstream.codesRedeemed;
    const { callback, tokens } = await signIn();
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    expect(callback.searchParams.get('iss')).toBe(upstream.issuer);
    expect(upstream.lastAuthorization?.get('code_challenge_method')).toBe('S256');

    const answer = await tokens();
    expect(answer.claims()).toMatchObject({ iss: upstream.issuer, aud: upstream.clientId, sub: 'grace-1', email: 'grace@forging.example', email_verified: true, name: 'Grace Hopper' });
    await expect(client.fetchUserInfo(config, answer.access_token, 'grace-1')).resolves.toMatchObject({ email: 'grace@forging.example', name: 'Grace Hopper' });
    expect(upstream.codesRedeemed).toBe(before + 1);
  });

  it('redeems a code once', async () => {
    const { callback, checks, tokens } = await signIn();
    await tokens();
    const redeemed = upstream.codesRedeemed;
    await expect(client.authorizationCodeGrant(config, callback, checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(upstream.codesRedeemed).toBe(redeemed);
  });

  it('refuses a wrong PKCE verifier', async () => {
    const { callback, checks } = await signIn();
    const wrong = { ...checks, pkceCodeVerifier: client.randomPKCECodeVerifier() };
    await expect(client.authorizationCodeGrant(config, callback, wrong)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('signs in as the identity set for the next sign-in', async () => {
    upstream.setIdentity({ subject: 'katherine-2', email: 'katherine@forging.example', emailVerified: false, name: 'Katherine Johnson' });
    const answer = await (await signIn()).tokens();
    expect(answer.claims()).toMatchObject({ sub: 'katherine-2', email: 'katherine@forging.example', email_verified: false, name: 'Katherine Johnson' });
    upstream.setIdentity({ subject: 'grace-1', email: 'grace@forging.example', emailVerified: true, name: 'Grace Hopper' });
  });

  // What openid-client says about each forgery: its error's cause names the check that failed.
  const refusals: [Exclude<Spoil, 'none'>, RegExp][] = [
    ['wrong-audience', /"aud" \(audience\)/],
    ['expired', /"exp" \(expiration time\)/],
    ['wrong-nonce', /"nonce"/],
    ['bad-signature', /signature verification failed/],
    ['wrong-issuer', /"iss" \(issuer\) claim/],
    ['wrong-iss-parameter', /"iss" \(issuer\) response parameter/],
  ];
  it.each(refusals)('an answer spoiled with %s is refused by openid-client, and the next sign-in is sound again', async (kind, reason) => {
    upstream.spoil(kind);
    const spoiled = await signIn();
    await expect(spoiled.tokens()).rejects.toMatchObject({ cause: { message: expect.stringMatching(reason) } });
    await expect((await signIn()).tokens()).resolves.toMatchObject({ token_type: 'bearer' });
  });

  it('passes a bad signature unless the relying party turns on non-repudiation checks', async () => {
    upstream.spoil('bad-signature');
    await expect((await signIn(config)).tokens()).resolves.toMatchObject({ token_type: 'bearer' });
  });

  it('forgets a spoil cleared with none', async () => {
    upstream.spoil('expired');
    upstream.spoil('none');
    await expect((await signIn()).tokens()).resolves.toMatchObject({ token_type: 'bearer' });
  });
});

describe('the bare oidc-provider', () => {
  let upstream: BareOidcUpstream;
  let config: client.Configuration;

  beforeAll(async () => {
    upstream = await startBareOidcUpstream({ redirectUri: CALLBACK, accounts: { ada: { email: 'ada@bare.example', email_verified: true, name: 'Ada Lovelace' } } });
    config = await client.discovery(new URL(upstream.issuer), upstream.clientId, undefined, client.ClientSecretBasic(upstream.clientSecret), insecure);
  });
  afterAll(() => upstream?.stop());

  it('publishes its metadata and sends the authorization request to its login page', async () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(upstream.issuer);
    expect(metadata.code_challenge_methods_supported).toContain('S256');
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(metadata.token_endpoint_auth_methods_supported).toContain('client_secret_basic');

    const { url } = await startAuthorization(config, 'openid email profile');
    const { status, location } = await redirectFrom(url);
    expect(status).toBe(303);
    expect(location.origin).toBe(upstream.issuer);
    expect(location.pathname).toMatch(/^\/interaction\/[\w-]+$/);
  });

  it('requires PKCE', async () => {
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', state: client.randomState() });
    const { location } = await redirectFrom(url);
    expect(location.origin + location.pathname).toBe(CALLBACK);
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });

  it('answers the next authorization request with the error asked for, then signs in again', async () => {
    upstream.failNext('access_denied');
    const { url, checks } = await startAuthorization(config, 'openid email profile');
    const { location } = await redirectFrom(url);
    expect(location.searchParams.get('iss')).toBe(upstream.issuer);
    await expect(client.authorizationCodeGrant(config, location, checks)).rejects.toMatchObject({ error: 'access_denied' });

    const next = await redirectFrom((await startAuthorization(config, 'openid email profile')).url);
    expect(next.location.pathname).toMatch(/^\/interaction\//);
  });

  // The browser is redirected to a real loopback page: Playwright's routes do not catch the
  // target of a redirect in Debian's Chromium (it first fails to resolve the name).
  describe.skipIf(!available)('in Chromium', () => {
    let browser: Browser;
    let callbackPage: ReturnType<typeof createServer>;
    let callback: string;
    let inBrowser: BareOidcUpstream;
    let rp: client.Configuration;

    beforeAll(async () => {
      callbackPage = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>callback</p>'));
      await new Promise<void>((resolve) => callbackPage.listen(0, '127.0.0.1', () => resolve()));
      callback = `http://127.0.0.1:${(callbackPage.address() as AddressInfo).port}/upstreams/bare/callback`;
      inBrowser = await startBareOidcUpstream({ redirectUri: callback, accounts: { ada: { email: 'ada@bare.example', email_verified: true, name: 'Ada Lovelace' } } });
      rp = await client.discovery(new URL(inBrowser.issuer), inBrowser.clientId, undefined, client.ClientSecretBasic(inBrowser.clientSecret), insecure);
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await inBrowser?.stop();
      callbackPage?.close();
    });

    it('signs in through its login and consent pages with signInAtBareUpstream', async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const page = await context.newPage();
      const { url, checks } = await startAuthorization(rp, 'openid email profile', { redirectUri: callback });
      await page.goto(url.href);
      await signInAtBareUpstream(page, 'ada');

      const answer = new URL(page.url());
      expect(answer.origin + answer.pathname).toBe(callback);
      expect(answer.searchParams.get('iss')).toBe(inBrowser.issuer);
      const tokens = await client.authorizationCodeGrant(rp, answer, checks);
      // oidc-provider conforms to Core 5.4: scope-requested claims come from userinfo, not the ID token.
      expect(tokens.claims()).toMatchObject({ iss: inBrowser.issuer, aud: inBrowser.clientId, sub: 'ada' });
      expect(tokens.claims()?.email).toBeUndefined();
      await expect(client.fetchUserInfo(rp, tokens.access_token, 'ada')).resolves.toMatchObject({ email: 'ada@bare.example', email_verified: true, name: 'Ada Lovelace' });

      // Signed in there already, consent given: straight back, no page to fill in.
      const again = await startAuthorization(rp, 'openid email profile', { redirectUri: callback });
      await page.goto(again.url.href);
      expect(new URL(page.url()).origin + new URL(page.url()).pathname).toBe(callback);
      const second = await client.authorizationCodeGrant(rp, new URL(page.url()), again.checks);
      expect(second.claims()?.sub).toBe('ada');
      await context.close();
    });
  });
});

describe('the GitHub-like OAuth 2.0 server', () => {
  let upstream: GithubLikeUpstream;
  let config: client.Configuration;

  beforeAll(async () => {
    upstream = await startGithubLikeUpstream({
      redirectUri: CALLBACK,
      identity: { id: 4242, login: 'hedy', name: 'Hedy Lamarr', email: null, emails: [{ email: 'hedy@github.example', primary: true, verified: true }, { email: 'old@github.example', primary: false, verified: false }] },
    });
    config = new client.Configuration(
      { issuer: upstream.url, authorization_endpoint: upstream.authorizationUrl, token_endpoint: upstream.tokenUrl },
      upstream.clientId,
      upstream.clientSecret,
    );
    client.allowInsecureRequests(config);
  });
  afterAll(() => upstream?.stop());

  async function signIn() {
    const { url, checks } = await startAuthorization(config, 'read:user user:email', { withNonce: false });
    const { status, location } = await redirectFrom(url);
    expect(status).toBe(302);
    return { callback: location, checks };
  }
  const api = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json' } });

  it('signs in with code and PKCE; /user and /user/emails answer with the token', async () => {
    const { callback, checks } = await signIn();
    expect(callback.searchParams.get('state')).toBe(checks.expectedState);
    expect(callback.searchParams.has('iss')).toBe(false);
    const tokens = await client.authorizationCodeGrant(config, callback, checks);
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read:user,user:email' });

    await expect((await api(upstream.userinfoUrl, tokens.access_token)).json()).resolves.toMatchObject({ id: 4242, login: 'hedy', name: 'Hedy Lamarr', email: null });
    await expect((await api(upstream.emailsUrl, tokens.access_token)).json()).resolves.toEqual([
      { email: 'hedy@github.example', primary: true, verified: true, visibility: null },
      { email: 'old@github.example', primary: false, verified: false, visibility: null },
    ]);
    expect((await api(upstream.userinfoUrl, 'gho_not_a_token')).status).toBe(401);
  });

  it('answers token errors with HTTP 200, as GitHub does, and form-encoded unless JSON is asked for', async () => {
    const { callback } = await signIn();
    const body = new URLSearchParams({ client_id: upstream.clientId, client_secret: upstream.clientSecret, code: callback.searchParams.get('code')!, redirect_uri: CALLBACK, code_verifier: 'wrong' });
    const response = await fetch(upstream.tokenUrl, { method: 'POST', body });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    expect(new URLSearchParams(await response.text()).get('error')).toBe('bad_verification_code');

    const again = await fetch(upstream.tokenUrl, { method: 'POST', body, headers: { accept: 'application/json' } });
    await expect(again.json()).resolves.toMatchObject({ error: 'bad_verification_code' });
  });

  it('takes the client in HTTP Basic too, and redeems a code once', async () => {
    const { callback, checks } = await signIn();
    const basic = new client.Configuration(config.serverMetadata(), upstream.clientId, undefined, client.ClientSecretBasic(upstream.clientSecret));
    client.allowInsecureRequests(basic);
    const redeemed = upstream.codesRedeemed;
    await expect(client.authorizationCodeGrant(basic, callback, checks)).resolves.toMatchObject({ token_type: 'bearer' });
    // GitHub's bad_verification_code comes with HTTP 200: openid-client refuses it for its missing access token.
    await expect(client.authorizationCodeGrant(basic, callback, checks)).rejects.toMatchObject({ cause: { message: expect.stringMatching(/"access_token" property must be a string/) } });
    expect(upstream.codesRedeemed).toBe(redeemed + 1);
  });

  it('signs in as the identity set, and sends the person back with access_denied when asked', async () => {
    upstream.setIdentity({ id: 7, login: 'barbara', name: null, email: 'barbara@public.example' });
    const tokens = await (async () => {
      const { callback, checks } = await signIn();
      return client.authorizationCodeGrant(config, callback, checks);
    })();
    await expect((await api(upstream.userinfoUrl, tokens.access_token)).json()).resolves.toMatchObject({ id: 7, login: 'barbara', name: null, email: 'barbara@public.example' });

    upstream.failNext('access_denied');
    const { callback, checks } = await signIn();
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(checks.expectedState);
    await expect(client.authorizationCodeGrant(config, callback, checks)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('refuses connections while down and answers again once up', async () => {
    await upstream.down();
    await expect(fetch(upstream.authorizationUrl)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    await upstream.up();
    await expect(signIn()).resolves.toMatchObject({ callback: expect.any(URL) });
  });
});
