import { TEST_ACTOR } from '../support/actor.ts';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { ADA, createBillingApi, createWebClient, introspect } from '../support/fixtures.ts';
import { codeFlow, REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const LOGGED_OUT = 'https://app.example.com/logged-out';

describe.each(DATABASES)('logout, grants, lifetimes and CORS (%s)', (kind) => {
  let server: TestServer;
  let web: { id: string; secret: string };
  let userId: string;

  beforeAll(async () => {
    // Sliding and absolute refresh lifetimes equal: a rotation cannot push the expiry later.
    server = await startTestServer(kind, { REFRESH_TOKEN_TTL_SECONDS: '100', REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS: '100' });
    await createBillingApi(server);
    userId = (await server.services.users.create(ADA, TEST_ACTOR)).id;
    web = await createWebClient(server, { postLogoutRedirectUris: [LOGGED_OUT], idTokenTtl: 120 });
  });
  afterAll(() => server?.stop());

  it('ends the session on RP-initiated logout: the next authorization asks to sign in again', async () => {
    const agent = new UserAgent();
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA, { agent });

    // Signed in: a new authorization request goes straight back to the client.
    const again = await agent.follow((await startFlow(rp)).url, REDIRECT);
    expect(again.response).toBeUndefined();
    expect(new URL(again.url).searchParams.get('code')).toEqual(expect.any(String));

    const logoutUrl = oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT, state: 'bye' });
    const page = await agent.follow(logoutUrl, LOGGED_OUT);
    expect(page.response?.status).toBe(200);
    expect(page.body).toContain('<title>Sign out');
    const xsrf = page.body!.match(/name="xsrf" value="([^"]+)"/)![1]!;
    const done = await agent.submit(page.url, page.body!, /<form [^>]*action="([^"]+)"/, { xsrf, logout: 'yes' }, LOGGED_OUT);
    expect(done.url).toBe(`${LOGGED_OUT}?state=bye`);

    const afterLogout = await agent.follow((await startFlow(rp)).url, REDIRECT);
    expect(afterLogout.body).toMatch(LOGIN_FORM);
  });

  it("lists and revokes a user's grants", async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA);
    const grants = await server.services.grants.listForUser(userId);
    expect(grants.map((g) => g.clientId)).toContain(web.id);
    expect(grants[0]).toMatchObject({ clientName: 'web', scope: expect.stringContaining('openid') });
    expect(await server.services.grants.revokeForUser(userId, web.id)).toBeGreaterThanOrEqual(1);
    expect(await server.services.grants.listForUser(userId)).toEqual([]);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('honours per-client and configured lifetimes, with refresh tokens capped from the first one', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA);
    const idToken = decodeJwt(tokens.id_token!);
    expect(idToken.exp! - idToken.iat!).toBe(120);
    expect(tokens.expires_in).toBe(900);
    const first = await introspect(server, web, tokens.refresh_token!);
    expect((first.exp as number) - (first.iat as number)).toBe(100);

    await new Promise((resolve) => setTimeout(resolve, 2100));
    const rotated = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const second = await introspect(server, web, rotated.refresh_token!);
    // Sliding would give iat + 100; the absolute cap keeps the first token's expiry.
    expect(second.exp).toBe(first.exp);
    expect((second.iat as number) - (first.iat as number)).toBeGreaterThanOrEqual(2);
  });

  it("allows CORS on userinfo only from a client's own origins, and never with credentials", async () => {
    const fromApp = await fetch(`${server.issuer}/me`, { headers: { origin: 'https://app.example.com' } });
    expect(fromApp.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const rp = await discover(server.issuer, web.id, web.secret);
    const { access_token } = (await codeFlow(rp, ADA)).tokens;
    const userinfo = (origin: string) => fetch(`${server.issuer}/me`, { headers: { origin, authorization: `Bearer ${access_token}` } });
    expect((await userinfo('https://app.example.com')).status).toBe(200);
    const foreign = await userinfo('https://evil.example.com');
    expect(foreign.status).toBe(400);
    expect(foreign.headers.get('access-control-allow-origin')).not.toBe('https://evil.example.com');
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const open = await fetch(`${server.issuer}${path}`, { headers: { origin: 'https://anywhere.example.com' } });
      // Public documents: any origin may read them, never with credentials.
      expect(open.headers.get('access-control-allow-origin')).toBe('*');
      expect(open.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });
});
