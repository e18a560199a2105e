import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA } from '../support/fixtures.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { CONSENT_FORM, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";
const LEAKS = /\bat \S+ \(|node_modules|\/work\/|stack|TypeError|koa|oidc-provider/i;
const DEVICE_LIMIT = 12;

/** The fields of the `index`th form on a page, as a browser would post them, and where to. */
function form(html: string, index = 0): { action: string; fields: Record<string, string> } {
  const found = [...html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)][index];
  if (!found) throw new Error(`no form ${index} on the page: ${html.slice(0, 300)}`);
  const fields = Object.fromEntries([...found[2]!.matchAll(/<input [^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  return { action: found[1]!.replace(/&#x2F;|&#47;/g, '/').replace(/&amp;/g, '&'), fields };
}

/** Posts a form of the page (its hidden fields, with `extra`), following redirects to the next page. */
function post(agent: UserAgent, pageUrl: string, html: string, extra: Record<string, string> = {}, index = 0) {
  const { action, fields } = form(html, index);
  return agent.follow(new URL(action, pageUrl), 'nowhere:', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...fields, ...extra }).toString(),
  });
}

const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

describe('device authorization grant (RFC 8628)', () => {
  let server: TestServer;
  let tv: { id: string };
  let rp: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { RATE_LIMIT_DEVICE_PER_IP: String(DEVICE_LIMIT) });
    await server.services.users.create(ADA, TEST_ACTOR);
    const created = await server.services.clients.create({ name: 'Living Room TV', grantTypes: ['device_code', 'refresh_token'], public: true }, TEST_ACTOR);
    tv = { id: created.client.clientId };
    rp = await discover(server.issuer, tv.id);
  });
  afterAll(() => server?.stop());

  it('advertises the device authorization endpoint and the grant', () => {
    const meta = rp.serverMetadata();
    expect(meta.device_authorization_endpoint).toBe(`${server.issuer}/device/auth`);
    expect(meta.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:device_code');
  });

  it('signs the person in on /device and hands the polling device its tokens', async () => {
    const device = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid email offline_access' });
    expect(device.verification_uri).toBe(`${server.issuer}/device`);
    const polling = oidc.pollDeviceAuthorizationGrant(rp, device);

    const agent = new UserAgent();
    // The link the device shows as a QR code opens our page with the code filled in.
    const input = await agent.follow(device.verification_uri_complete!, 'nowhere:');
    expect(input.response!.status).toBe(200);
    expect(input.response!.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(input.response!.headers.get('cache-control')).toBe('no-store');
    expect(input.response!.headers.get('x-frame-options')).toBe('DENY');
    expect(input.body).not.toMatch(/<script|\son\w+=/i);
    expect(form(input.body!).fields).toMatchObject({ user_code: device.user_code, xsrf: expect.stringMatching(/^[0-9a-f]{48}$/) });

    const confirm = await post(agent, input.url, input.body!);
    expect(confirm.response!.status).toBe(200);
    expect(textOf(confirm.body!)).toContain(`Sign in to Living Room TV on a device?`);
    expect(textOf(confirm.body!)).toContain(device.user_code);

    const login = await post(agent, confirm.url, confirm.body!);
    expect(login.body).toMatch(LOGIN_FORM);
    const consent = await agent.submit(login.url, login.body!, LOGIN_FORM, ADA, 'nowhere:');
    expect(consent.body).toMatch(CONSENT_FORM);
    expect(textOf(consent.body!)).toContain('This sign-in is for a device');
    expect(consent.body).not.toContain('Afterwards you are sent to');
    const done = await agent.submit(consent.url, consent.body!, CONSENT_FORM, {}, 'nowhere:');
    expect(done.response!.status).toBe(200);
    expect(done.response!.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(textOf(done.body!)).toContain('You are signed in to Living Room TV on your device.');

    const tokens = await polling;
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const { payload } = await verifyJwt(server.issuer, tokens.id_token!, tv.id);
    const [ada] = await server.services.users.list();
    expect(payload.sub).toBe(ada!.id);
    expect(payload.email).toBe(ADA.email);
    // The code is spent: polling again is refused.
    await expect(oidc.pollDeviceAuthorizationGrant(rp, { ...device, interval: 0 })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('keeps the device code out of the database while it waits, and redeems it only by itself', async () => {
    const device = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const rows = async () => JSON.stringify(await server.services.db.oidcPayload.findMany());
    const redeem = async (deviceCode: string) =>
      (
        await fetch(`${server.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, client_id: tv.id }),
        })
      ).json();

    const agent = new UserAgent();
    const input = await agent.follow(device.verification_uri_complete!, 'nowhere:');
    const confirm = await post(agent, input.url, input.body!);
    const login = await post(agent, confirm.url, confirm.body!);
    const consent = await agent.submit(login.url, login.body!, LOGIN_FORM, ADA, 'nowhere:');
    expect(consent.body).toMatch(CONSENT_FORM);
    // The person is between the code page and consent: the code's row and its Interaction exist.
    const pending = await rows();
    expect(pending).toContain('"Interaction"');
    expect(pending).toContain(device.user_code.replace('-', ''));
    expect(pending).not.toContain(device.device_code);

    const done = await agent.submit(consent.url, consent.body!, CONSENT_FORM, {}, 'nowhere:');
    expect(textOf(done.body!)).toContain('You are signed in to Living Room TV on your device.');
    const allowed = await rows();
    expect(allowed).not.toContain(device.device_code);
    // What the table holds in its place names the row, and redeems nothing.
    const [row] = await server.services.db.oidcPayload.findMany({ where: { type: 'DeviceCode', userCode: device.user_code.replace('-', '') } });
    expect(row!.accountId).toEqual(expect.any(String));
    for (const copied of [row!.id, `:${row!.id}`]) expect(await redeem(copied), copied).toMatchObject({ error: 'invalid_grant' });

    expect(await redeem(device.device_code)).toMatchObject({ access_token: expect.any(String), id_token: expect.any(String) });
  });

  it('answers a wrong user code with our page, a 400 and no trace, and leaves the device waiting', async () => {
    const device = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const agent = new UserAgent();
    const input = await agent.follow(`${server.issuer}/device`, 'nowhere:');
    expect(form(input.body!).fields.user_code).toBe('');
    const before = await server.services.db.oidcPayload.findMany({ where: { type: 'DeviceCode' }, orderBy: { id: 'asc' } });
    // Each answer is a new form (with a new XSRF value), as a person would retry on it.
    let page = input;
    for (const wrong of ['BCDF-GHJK', 'not a code at all', '', 'x'.repeat(500)]) {
      const refused = await post(agent, page.url, page.body!, { user_code: wrong });
      page = refused;
      expect(refused.response!.status, wrong).toBe(400);
      expect(refused.response!.headers.get('content-security-policy')).toBe(PAGE_CSP);
      expect(refused.body).toContain('That code is not valid, has expired, or was used already.');
      expect(refused.body).toMatch(/role="alert"/);
      expect(refused.body).not.toMatch(LEAKS);
    }
    expect(await server.services.db.oidcPayload.findMany({ where: { type: 'DeviceCode' }, orderBy: { id: 'asc' } })).toEqual(before);
    // A form without the page's XSRF value is refused as well, on our page.
    const forged = await post(agent, page.url, page.body!, { user_code: device.user_code, xsrf: 'f'.repeat(48) });
    expect(forged.response!.status).toBe(400);
    expect(forged.body).toContain('This form could not be accepted.');
    const pending = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: tv.id }),
    });
    expect(await pending.json()).toMatchObject({ error: 'authorization_pending' });
  });

  it('tells the device access_denied when the person cancels', async () => {
    const device = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const agent = new UserAgent();
    const input = await agent.follow(device.verification_uri_complete!, 'nowhere:');
    const confirm = await post(agent, input.url, input.body!);
    const cancelled = await post(agent, confirm.url, confirm.body!, {}, 1);
    expect(textOf(cancelled.body!)).toContain('The sign-in was cancelled');
    await expect(oidc.pollDeviceAuthorizationGrant(rp, { ...device, interval: 0 })).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('refuses a client without the device_code grant', async () => {
    const other = await server.services.clients.create({ name: 'web', grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/cb'], public: true }, TEST_ACTOR);
    const web = await discover(server.issuer, other.client.clientId);
    await expect(oidc.initiateDeviceAuthorization(web, { scope: 'openid' })).rejects.toMatchObject({
      error: 'invalid_request',
      error_description: 'urn:ietf:params:oauth:grant-type:device_code is not allowed for this client',
    });
  });

  it('limits user-code posts per IP address with our page and Retry-After', async () => {
    const agent = new UserAgent();
    const input = await agent.follow(`${server.issuer}/device`, 'nowhere:');
    let limited: Response | undefined;
    for (let i = 0; i <= DEVICE_LIMIT && !limited; i += 1) {
      const step = await post(agent, input.url, input.body!, { user_code: 'BCDF-GHJK' });
      if (step.response!.status === 429) limited = step.response;
    }
    expect(limited).toBeDefined();
    expect(limited!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited!.headers.get('content-type')).toMatch(/^text\/html/);
    expect(limited!.headers.get('content-security-policy')).toBe(PAGE_CSP);
    // Reading the page is not a guess: it stays open.
    expect((await agent.request(`${server.issuer}/device`)).status).toBe(200);
  });
});
