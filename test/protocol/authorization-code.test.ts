import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { ADA, basicAuth, BILLING, createBillingApi, createWebClient, type Credentials } from '../support/fixtures.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { authorize, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';

describe.each(DATABASES)('authorization code + PKCE (%s)', (kind) => {
  let server: TestServer;
  let web: Credentials;
  let userId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    await createBillingApi(server, ['invoices:read', 'invoices:write'], 'Billing API');
    userId = (await server.services.users.create({ ...ADA, name: 'Ada Lovelace', emailVerified: true }, TEST_ACTOR)).id;
    web = await createWebClient(server, { scopes: ['invoices:read'] });
  });
  afterAll(() => server?.stop());

  it('signs the user in, asks consent, and issues verified id, access and refresh tokens', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp);
    const { callbackUrl, sawConsent } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    expect(sawConsent).toBe(true);
    const callback = new URL(callbackUrl);
    expect(callback.searchParams.get('state')).toBe(flow.state);
    expect(callback.searchParams.get('iss')).toBe(server.issuer);

    const tokens = await oidc.authorizationCodeGrant(rp, callback, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const { payload: idToken } = await verifyJwt(server.issuer, tokens.id_token!, web.id);
    expect(idToken).toMatchObject({ iss: server.issuer, aud: web.id, sub: userId, nonce: flow.nonce });
    expect(idToken.exp! * 1000).toBeGreaterThan(Date.now());

    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, idToken.sub!);
    expect(userinfo).toEqual({ sub: userId, email: ADA.email, email_verified: true, name: 'Ada Lovelace' });

    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    const again = await oidc.fetchUserInfo(rp, refreshed.access_token, userId);
    expect(again.sub).toBe(userId);
    // Rotation: the first refresh token was consumed by its use.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('releases claims by scope: openid alone gives only sub', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp, { scope: 'openid' });
    const { callbackUrl } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(await oidc.fetchUserInfo(rp, tokens.access_token, userId)).toEqual({ sub: userId });
  });

  it('issues an access token for an API named with resource, limited to granted scopes', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp, { scope: 'openid invoices:read', resource: BILLING });
    const { callbackUrl } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    const tokens = await oidc.authorizationCodeGrant(
      rp,
      new URL(callbackUrl),
      { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce },
      { resource: BILLING },
    );
    const { payload } = await verifyJwt(server.issuer, tokens.access_token, BILLING, 'at+jwt');
    expect(payload).toMatchObject({ sub: userId, client_id: web.id, scope: 'invoices:read' });
  });

  it('refuses the exchange without the code_verifier or with a wrong one, and a code used twice', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp);
    const { callbackUrl } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    const code = new URL(callbackUrl).searchParams.get('code')!;
    const exchange = (extra: Record<string, string>) =>
      fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: basicAuth(web.id, web.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, ...extra }),
      });

    const missing = await exchange({});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_grant' });
    const wrong = await exchange({ code_verifier: oidc.randomPKCECodeVerifier() });
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });

    const good = await exchange({ code_verifier: flow.verifier });
    expect(good.status).toBe(200);
    const twice = await exchange({ code_verifier: flow.verifier });
    expect(twice.status).toBe(400);
    expect(await twice.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('shows an error page and does not redirect for an unregistered redirect_uri', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp, { redirect_uri: 'https://evil.example.com/cb' });
    const response = await new UserAgent().request(flow.url);
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    const page = await response.text();
    expect(page).toContain('<title>Error');
    expect(page).toContain('redirect_uri');
    expect(page).not.toContain('evil.example.com');
  });

  it('refuses plain PKCE and a request without PKCE', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const verifier = oidc.randomPKCECodeVerifier();
    for (const pkce of [{ code_challenge: verifier, code_challenge_method: 'plain' }, {}] as Record<string, string>[]) {
      const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 's', ...pkce });
      const response = await new UserAgent().request(url);
      expect(response.status).toBe(303);
      const location = new URL(response.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('code')).toBeNull();
    }
  });

  it('answers a wrong password and an unknown email with the same generic message', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const pages: string[] = [];
    for (const credentials of [{ email: ADA.email, password: 'wrong password' }, { email: 'nobody@example.com', password: 'whatever1' }]) {
      const agent = new UserAgent();
      const flow = await startFlow(rp);
      const step = await agent.follow(flow.url, REDIRECT);
      const action = step.body!.match(LOGIN_FORM)![1]!;
      const response = await agent.request(new URL(action, step.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: step.body!.match(/name="csrf" value="([^"]+)"/)![1]!, ...credentials }).toString(),
      });
      expect(response.status).toBe(401);
      const page = await response.text();
      expect(page).toContain('Invalid email or password.');
      pages.push(page.replace(/\/interaction\/[^/"]+\//g, '/interaction/UID/').replace(/value="[^"]*"/g, ''));
    }
    expect(pages[0]).toBe(pages[1]);
  });

  it('lets a public client (no secret) do the same flow with PKCE', async () => {
    const { client } = await server.services.clients.create({ name: 'spa', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], public: true }, TEST_ACTOR);
    expect(client.tokenEndpointAuthMethod).toBe('none');
    const rp = await discover(server.issuer, client.clientId);
    const flow = await startFlow(rp);
    const { callbackUrl } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const { payload } = await verifyJwt(server.issuer, tokens.id_token!, client.clientId);
    expect(payload.sub).toBe(userId);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).toEqual(expect.any(String));
  });

  it('skips the consent page for a first-party client', async () => {
    const portal = await createWebClient(server, { name: 'portal', grantTypes: ['authorization_code'], firstParty: true });
    const rp = await discover(server.issuer, portal.id, portal.secret);
    const flow = await startFlow(rp);
    const { callbackUrl, sawConsent } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    expect(sawConsent).toBe(false);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.id_token).toEqual(expect.any(String));
  });

  it('returns access_denied to the client when the user denies consent', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp);
    const agent = new UserAgent();
    let step = await agent.follow(flow.url, REDIRECT);
    step = await agent.submit(step.url, step.body!, LOGIN_FORM, ADA, REDIRECT);
    step = await agent.submit(step.url, step.body!, /<form method="post" action="([^"]+\/abort)"/, {}, REDIRECT);
    const callback = new URL(step.url);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(flow.state);
  });
});
