import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually, startSmtp, type TestSmtp } from '../mail/support.ts';
import { available, launchChromium, newPhonePage, pageReviews } from './support.ts';

const PASSWORD = 'harbour pepper lantern violet';
const NEW_PASSWORD = 'orchid tractor silver monsoon';

describe.skipIf(!available)('the account page in Chromium', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  let browser: Browser;
  let client: Credentials;
  const { violations, review } = pageReviews(() => browser);

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer('sqlite', { SMTP_URL: smtp.url(), ACCOUNT_DELETION: 'true' });
    client = await createWebClient(server, { name: 'Web App' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await smtp?.close();
  });

  /** Signs `email` in to the web app in `page` (consenting), and returns its tokens. */
  async function signInToApp(page: Page, email: string) {
    const rp = await discover(server.issuer, client.id, client.secret);
    const flow = await startFlow(rp, { scope: 'openid email offline_access', prompt: 'consent' });
    await page.goto(flow.url.toString());
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${REDIRECT}**`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    return { rp, tokens };
  }

  it('shows the app a person let in and revokes it: its refresh token then fails', async () => {
    await server.services.users.create({ email: 'hedy@example.com', password: PASSWORD, name: 'Hedy', emailVerified: true }, TEST_ACTOR);
    const page = await newPhonePage(browser);
    const { rp, tokens } = await signInToApp(page, 'hedy@example.com');

    // Signed in to the provider already: the account page needs no second sign-in.
    await page.goto(`${server.issuer}/account`);
    await expect(page.title()).resolves.toBe('Your account · Ostiary');
    await expect(page.getByRole('heading', { name: 'Apps with access' })).toBeTruthy();
    await expect(page.locator('.items strong').first().textContent()).resolves.toBe('Web App');
    await review(page, 'account');

    await page.getByRole('button', { name: 'Remove access for Web App' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe("The app's access was removed.");
    await expect(page.getByText('No app has access to your account.').count()).resolves.toBe(1);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await page.getByRole('textbox', { name: 'Name' }).fill('Hedy Lamarr');
    await page.getByRole('button', { name: 'Save the name' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe('Your name was saved.');

    await page.locator('#current-password').fill('not my password');
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change the password' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('The current password is not right.');
    await review(page, 'account-refused');
    await page.locator('#current-password').fill(PASSWORD);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change the password' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe('Your password was changed.');
    expect((await server.services.users.authenticate('hedy@example.com', NEW_PASSWORD)).ok).toBe(true);
    await page.context().close();
  });

  it('signs in at /account when there is no session, confirms a new address and deletes the account, in German too', async () => {
    await server.services.users.create({ email: 'emmy@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    const page = await newPhonePage(browser);
    await page.goto(`${server.issuer}/account`);
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    expect(await page.getByRole('heading').textContent()).toContain('Ostiary');
    await page.getByLabel('Email').fill('emmy@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.title()).resolves.toBe('Your account · Ostiary');

    await page.getByLabel('New address').fill('emmy.noether@example.com');
    await page.locator('#email-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Send a confirmation link' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('We mailed a link to the new address.');
    const mail = await eventually(() => smtp.to('emmy.noether@example.com')[0], 'the confirmation mail');
    await page.goto(mail.parsed.text!.match(/https?:\/\/\S+\/account\/email\/\S+/)![0]);
    await expect(page.title()).resolves.toBe('Confirm your new address · Ostiary');
    await review(page, 'account-email');
    await page.getByRole('button', { name: 'Use this address' }).click();
    await expect(page.title()).resolves.toBe('Address changed · Ostiary');
    await review(page, 'account-email-done');

    await page.getByRole('link', { name: 'Go to your account' }).click();
    await page.locator('#delete-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await expect(page.title()).resolves.toBe('Account deleted · Ostiary');
    await review(page, 'account-deleted');
    expect(await server.services.users.findById((await server.services.users.list()).find((u) => u.email.startsWith('emmy'))?.id ?? 'gone')).toBeNull();
    await page.context().close();

    await server.services.users.create({ email: 'lise@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    const german = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 375, height: 740 }, locale: 'de-DE', extraHTTPHeaders: { 'accept-language': 'de-DE,de;q=0.9' } });
    const seite = await german.newPage();
    await seite.goto(`${server.issuer}/account`);
    await expect(seite.title()).resolves.toBe('Anmelden · Ostiary');
    await seite.getByLabel('E-Mail').fill('lise@example.com');
    await seite.getByLabel('Passwort').fill(PASSWORD);
    await seite.getByRole('button', { name: 'Anmelden' }).click();
    await expect(seite.title()).resolves.toBe('Ihr Konto · Ostiary');
    await review(seite, 'account-de');
    await seite.getByRole('button', { name: 'Überall abmelden' }).click();
    await expect(seite.title()).resolves.toBe('Abgemeldet · Ostiary');
    await review(seite, 'account-signed-out-de');
    await german.close();
  });

  it('sets up an authenticator app and signs in with a code from it', async () => {
    await server.services.users.create({ email: 'alan@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    const page = await newPhonePage(browser);
    await page.goto(`${server.issuer}/account`);
    await page.getByLabel('Email').fill('alan@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#totp-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await expect(page.title()).resolves.toBe('Set up an authenticator app · Ostiary');
    await expect(page.getByRole('img', { name: 'QR code of the setup key' }).count()).resolves.toBe(1);
    await review(page, 'account-totp');
    const key = (await page.locator('code.secret').first().textContent())!.replace(/\s/g, '');
    const app = new TOTP({ secret: Secret.fromBase32(key) });
    await page.getByLabel('The 6-digit code the app now shows').fill(app.generate());
    await page.getByRole('button', { name: 'Turn two-step sign-in on' }).click();
    await expect(page.title()).resolves.toBe('Recovery codes · Ostiary');
    await expect(page.locator('.codes li').count()).resolves.toBe(10);
    const recoveryCode = (await page.locator('.codes li').first().textContent())!.trim();
    await review(page, 'account-recovery-codes');
    await page.context().close();

    const signIn = await newPhonePage(browser);
    const rp = await discover(server.issuer, client.id, client.secret);
    const flow = await startFlow(rp);
    await signIn.goto(flow.url.toString());
    await signIn.getByLabel('Email').fill('alan@example.com');
    await signIn.getByLabel('Password').fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in' }).click();
    await expect(signIn.title()).resolves.toBe('Two-step sign-in · Ostiary');
    expect(await signIn.getByLabel('Code', { exact: true }).getAttribute('autocomplete')).toBe('one-time-code');
    await review(signIn, 'second-factor');
    await signIn.getByLabel('Code', { exact: true }).fill(app.generate({ timestamp: Date.now() + 30_000 }));
    await signIn.getByRole('button', { name: 'Continue' }).click();
    await signIn.getByRole('button', { name: 'Allow' }).click();
    await signIn.waitForURL(`${REDIRECT}**`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(signIn.url()), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()!.amr).toEqual(['pwd', 'otp', 'mfa']);
    await signIn.context().close();

    // Without the phone: a recovery code instead, once.
    const lost = await newPhonePage(browser);
    const next = await startFlow(rp);
    await lost.goto(next.url.toString());
    await lost.getByLabel('Email').fill('alan@example.com');
    await lost.getByLabel('Password').fill(PASSWORD);
    await lost.getByRole('button', { name: 'Sign in' }).click();
    await lost.getByRole('button', { name: 'Use a recovery code' }).click();
    await expect(lost.getByLabel('Recovery code').count()).resolves.toBe(1);
    await review(lost, 'second-factor-recovery');
    await lost.getByLabel('Recovery code').fill(recoveryCode);
    await lost.getByRole('button', { name: 'Continue' }).click();
    await lost.getByRole('button', { name: 'Allow' }).click();
    await lost.waitForURL(`${REDIRECT}**`);
    expect(await server.services.db.recoveryCode.count({ where: { usedAt: { not: null } } })).toBe(1);
    await lost.context().close();
  });

  it('has no serious or critical accessibility violations and no sideways scrolling on these pages', () => {
    expect(Object.keys(violations).length).toBeGreaterThanOrEqual(10);
    expect(violations).toEqual(Object.fromEntries(Object.keys(violations).map((name) => [name, []])));
  });
});
