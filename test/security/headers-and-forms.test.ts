import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA, createWebClient } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

describe('security headers, cookies and CSRF', () => {
  let server: TestServer;
  let web: { id: string; secret: string };

  /** A fresh sign-in page: its URL, HTML and the agent holding its cookies. */
  async function loginPage() {
    const agent = new UserAgent();
    const rp = await discover(server.issuer, web.id, web.secret);
    const step = await agent.follow((await startFlow(rp)).url, REDIRECT);
    return { agent, url: step.url, body: step.body!, response: step.response! };
  }

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { grantTypes: ['authorization_code'] });
  });
  afterAll(() => server?.stop());

  it('serves our pages with a strict CSP, no framing, no referrer and no caching', async () => {
    const { response } = await loginPage();
    expect(response.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('strict-transport-security')).toBeNull(); // http issuer
  });

  it('puts the same headers and the request id on the provider endpoints', async () => {
    const response = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'x-request-id': 'trace-123' } });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-security-policy')).toBe("base-uri 'none'; frame-ancestors 'none'");
    const injected = await fetch(`${server.issuer}/jwks`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(injected.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sets HttpOnly, SameSite=Lax interaction cookies', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const response = await fetch((await startFlow(rp)).url, { redirect: 'manual' });
    const cookies = response.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/; httponly/i);
      expect(cookie).toMatch(/; samesite=lax/i);
      expect(cookie).not.toMatch(/; secure/i); // plain http here; see the https test below
    }
  });

  it('refuses a form post without its CSRF token, and with another interaction’s', async () => {
    const first = await loginPage();
    const second = await loginPage();
    const action = new URL(first.body.match(LOGIN_FORM)![1]!, first.url);
    const otherToken = second.body.match(/name="csrf" value="([^"]+)"/)![1]!;
    for (const extra of [{}, { csrf: otherToken }, { csrf: '' }] as Record<string, string>[]) {
      const response = await first.agent.request(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...ADA, ...extra }).toString(),
      });
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('This form could not be accepted.');
    }
    expect(await server.services.audit.list({ type: 'login.success' })).toEqual([]);
  });
});

describe('behind a TLS-terminating proxy', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { ISSUER: 'https://id.example.com', TRUST_PROXY: 'true' });
    await createWebClient(server, { grantTypes: ['authorization_code'] });
  });
  afterAll(() => server?.stop());

  it('sends HSTS and Secure cookies', async () => {
    const [client] = await server.services.clients.list();
    const address = server.app.server.address() as { port: number };
    const url = new URL(`http://127.0.0.1:${address.port}/auth`);
    url.search = new URLSearchParams({
      client_id: client!.clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const response = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'id.example.com' } });
    expect(response.status).toBe(303);
    expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    const cookies = response.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(cookie).toMatch(/; secure/i);
  });

  it("publishes the issuer's https endpoints with HSTS, however the request arrived", async () => {
    const address = server.app.server.address() as { port: number };
    const response = await fetch(`http://127.0.0.1:${address.port}/.well-known/openid-configuration`);
    expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    const meta = (await response.json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ issuer: 'https://id.example.com', token_endpoint: 'https://id.example.com/token', jwks_uri: 'https://id.example.com/jwks' });
  });
});
