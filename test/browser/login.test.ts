import { TEST_ACTOR } from '../support/actor.ts';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { available, launchChromium } from './support.ts';

describe.skipIf(!available)('login and consent pages in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let client: Credentials;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.services.users.create({ ...ADA, name: 'Ada' }, TEST_ACTOR);
    client = await createWebClient(server, { name: 'Web App', grantTypes: ['authorization_code'] });
    browser = await launchChromium();
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
    await expect(page.locator('#destination').textContent()).resolves.toBe('Afterwards you are sent to app.example.com.');
    await expect(page.locator('.warning').count()).resolves.toBe(0);
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

  it('shows a visible loopback warning that the Allow button is described by', async () => {
    const loopback = 'http://127.0.0.1:8123/cb';
    const local = await createWebClient(server, { name: 'Local Tool', grantTypes: ['authorization_code'], redirectUris: [loopback] });
    const rp = await discover(server.issuer, local.id, local.secret);
    const page = await newPage();
    await page.goto((await startFlow(rp, { redirect_uri: loopback })).url.toString());
    await page.getByLabel('Email').fill(ADA.email);
    await page.getByLabel('Password').fill(ADA.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const warning = page.locator('#destination-warning');
    await expect(warning.isVisible()).resolves.toBe(true);
    expect(await warning.textContent()).toContain('127.0.0.1:8123 is this computer (a loopback address)');
    const allow = page.getByRole('button', { name: 'Allow' });
    const describedBy = (await allow.getAttribute('aria-describedby'))!.split(' ');
    expect(describedBy).toContain('destination-warning');
    expect(await page.locator(`#${describedBy.join(', #')}`).count()).toBe(describedBy.length);
    await page.context().close();
  });

  it('completes a device sign-in on the /device pages', async () => {
    const tv = await server.services.clients.create({ name: 'Living Room TV', grantTypes: ['device_code'], public: true }, TEST_ACTOR);
    const rp = await discover(server.issuer, tv.client.clientId);
    const device = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid email' });
    const polling = oidc.pollDeviceAuthorizationGrant(rp, device);
    const page = await newPage();
    await page.goto(device.verification_uri);

    await expect(page.title()).resolves.toBe('Connect a device · Ostiary');
    const code = page.getByLabel('Code shown on your device');
    await code.fill('BCDF-GHJK');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('That code is not valid');
    await page.getByLabel('Code shown on your device').fill(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();

    await expect(page.title()).resolves.toBe('Confirm the device · Ostiary');
    expect(await page.locator('.user-code').textContent()).toBe(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Email').fill(ADA.email);
    await page.getByLabel('Password').fill(ADA.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.locator('#destination').textContent()).resolves.toContain('This sign-in is for a device');
    await page.getByRole('button', { name: 'Allow' }).click();
    await expect(page.title()).resolves.toBe('Device connected · Ostiary');

    const tokens = await polling;
    const { payload } = await verifyJwt(server.issuer, tokens.id_token!, tv.client.clientId);
    expect(payload.email).toBe(ADA.email);
    await page.context().close();
  });
});
