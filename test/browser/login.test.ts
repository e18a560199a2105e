import { TEST_ACTOR } from '../support/actor.ts';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// CI installs Debian's chromium; elsewhere a machine without it reports these tests as skipped.
const available = existsSync(CHROMIUM) || Boolean(process.env.CI);

describe.skipIf(!available)('login and consent pages in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let client: Credentials;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.services.users.create({ ...ADA, name: 'Ada' }, TEST_ACTOR);
    client = await createWebClient(server, { name: 'Web App', grantTypes: ['authorization_code'] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A page with JavaScript off (signing in must not need it); the client's callback is stubbed. */
  async function newPage() {
    const context = await browser.newContext({ javaScriptEnabled: false });
    await context.route(`${REDIRECT}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>client callback</p>' }));
    return context.newPage();
  }

  it('completes the authorization code flow by filling in the forms', async () => {
    const rp = await discover(server.issuer, client.id, client.secret);
    const flow = await startFlow(rp);
    const page = await newPage();
    await page.goto(flow.url.toString());

    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    expect(await page.getByRole('heading').textContent()).toContain('Web App');
    const email = page.getByLabel('Email');
    const password = page.getByLabel('Password');
    expect(await email.getAttribute('autocomplete')).toBe('username');
    expect(await password.getAttribute('autocomplete')).toBe('current-password');

    await email.fill(ADA.email);
    await password.fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('Invalid email or password.');

    await page.getByLabel('Password').fill(ADA.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.title()).resolves.toBe('Authorize · Ostiary');
    const consent = await page.locator('main').textContent();
    expect(consent).toContain(ADA.email);
    expect(consent).toContain('Your email address');
    await page.getByRole('button', { name: 'Allow' }).click();

    await page.waitForURL(`${REDIRECT}**`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    const { payload } = await verifyJwt(server.issuer, tokens.id_token!, client.id);
    expect(payload.nonce).toBe(flow.nonce);
    await page.context().close();
  });
});
