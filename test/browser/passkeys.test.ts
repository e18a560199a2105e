import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startSmtp, type TestSmtp } from '../mail/support.ts';
import { available, launchChromium, newPhonePage, pageReviews } from './support.ts';

const PASSWORD = 'velvet compass orchard thunder';

/** A platform authenticator with user verification (a fingerprint that always matches), through the Chrome DevTools Protocol. */
async function addVirtualAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return {
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
    /** Whether the person touches the authenticator when asked (off: a request waits, as the email field's autofill does until a passkey is picked). */
    present: (enabled: boolean) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled }),
  };
}

/**
 * The app's callback URL the browser is sent to, read from the request itself: a navigation the
 * page's script starts ends on a redirect the context's stub does not answer.
 */
const callbackOf = async (page: Page) => new URL((await page.waitForRequest((request) => request.url().startsWith(REDIRECT))).url());

describe.skipIf(!available)('passkeys in Chromium with a virtual authenticator', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  let browser: Browser;
  let client: Credentials;
  const { violations, review } = pageReviews(() => browser);

  beforeAll(async () => {
    smtp = await startSmtp();
    // Passkeys belong to a host name: the issuer is http://localhost (a secure context for browsers).
    server = await startTestServer('sqlite', { SMTP_URL: smtp.url() }, { issuerHost: 'localhost' });
    client = await createWebClient(server, { name: 'Web App', firstParty: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await smtp?.close();
  });

  /** Signs in to the account page with the password and adds a passkey named `name`. */
  async function addPasskey(page: Page, email: string, name: string) {
    await page.goto(`${server.issuer}/account`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.title()).resolves.toBe('Your account · Ostiary');
    await page.getByLabel('Name of the new passkey').fill(name);
    await page.locator('#passkey-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe('The passkey was added.');
  }

  it('adds a passkey on the account page, signs out, and signs in to an app with the passkey alone: amr has hwk and user', async () => {
    const user = await server.services.users.create({ email: 'margaret@example.com', password: PASSWORD, name: 'Margaret', emailVerified: true }, TEST_ACTOR);
    const page = await newPhonePage(browser, { script: true });
    const authenticator = await addVirtualAuthenticator(page);
    await addPasskey(page, user.email, 'Work laptop');
    await expect(page.locator('#passkeys-heading + p + ul strong, section[aria-labelledby="passkeys-heading"] li strong').first().textContent()).resolves.toBe('Work laptop');
    expect(await authenticator.credentials()).toHaveLength(1);
    await review(page, 'account-passkeys');

    // Sign out through the page's link and the provider's confirmation.
    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await expect(page.title()).resolves.toBe('Signed out · Ostiary');

    const rp = await discover(server.issuer, client.id, client.secret);
    const flow = await startFlow(rp);
    // The email field's autofill asks for a passkey as the page opens; it waits until one is picked.
    await authenticator.present(false);
    await page.goto(flow.url.toString());
    await expect(page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()).resolves.toBe(true);
    await review(page, 'login-passkey');
    await authenticator.present(true);
    const callback = callbackOf(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const tokens = await oidc.authorizationCodeGrant(rp, await callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    // Chromium's virtual authenticator is bound to one device: hwk.
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe('urn:ostiary:acr:mfa');
    await page.context().close();
  });

  it('is the second step after the password when an app asks for it', async () => {
    const user = await server.services.users.create({ email: 'katherine@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    const page = await newPhonePage(browser, { script: true });
    const authenticator = await addVirtualAuthenticator(page);
    await addPasskey(page, user.email, 'Phone');
    await page.context().clearCookies();

    const rp = await discover(server.issuer, client.id, client.secret);
    const flow = await startFlow(rp, { acr_values: 'urn:ostiary:acr:mfa' });
    // The person types the password (the email field's autofill waits, as no passkey is picked).
    await authenticator.present(false);
    await page.goto(flow.url.toString());
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.getByRole('heading', { name: 'Confirm with your passkey' }).count()).resolves.toBe(1);
    await review(page, 'second-factor-passkey');
    await authenticator.present(true);
    const callback = callbackOf(page);
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    const tokens = await oidc.authorizationCodeGrant(rp, await callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()!.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    await page.context().close();
  });

  it('has no serious or critical accessibility violations and no sideways scrolling on these pages', () => {
    expect(Object.keys(violations)).toEqual(['account-passkeys', 'login-passkey', 'second-factor-passkey']);
    expect(violations).toEqual({ 'account-passkeys': [], 'login-passkey': [], 'second-factor-passkey': [] });
  });
});
