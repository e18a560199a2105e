import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually, startSmtp, type TestSmtp } from '../mail/support.ts';
import { available, launchChromium, newPhonePage, pageReviews } from './support.ts';

const PASSWORD = 'lantern orchard velvet compass';

describe.skipIf(!available)('sign-up and verification pages in Chromium', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  let browser: Browser;
  let client: Credentials;
  const { violations, review } = pageReviews(() => browser);

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer('sqlite', { SMTP_URL: smtp.url(), SIGNUP: 'open' });
    client = await createWebClient(server, { name: 'Web App', grantTypes: ['authorization_code'] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await smtp?.close();
  });

  const newPage = () => newPhonePage(browser);

  it('signs up inside an authorization request, confirms the address by the mailed link and reaches the app', async () => {
    const rp = await discover(server.issuer, client.id, client.secret);
    const flow = await startFlow(rp);
    const page = await newPage();
    await page.goto(flow.url.toString());
    await page.getByRole('link', { name: 'Create an account' }).click();

    await expect(page.title()).resolves.toBe('Create an account · Ostiary');
    expect(await page.getByLabel('Password').getAttribute('autocomplete')).toBe('new-password');
    await review(page, 'signup');
    await page.getByLabel('Email').fill('grace@example.com');
    await page.getByLabel('Name').fill('Grace Hopper');
    await page.getByLabel('Password').fill('password1234');
    await page.getByRole('button', { name: 'Create the account' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('too easy to guess');
    await review(page, 'signup-refused');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create the account' }).click();
    await expect(page.title()).resolves.toBe('Check your mail · Ostiary');
    await review(page, 'signup-check-mail');

    const mail = await eventually(() => smtp.to('grace@example.com')[0], 'the verification mail');
    const link = mail.parsed.text!.match(/https?:\/\/\S+/g)!.find((url) => url.startsWith(`${server.issuer}/`))!;
    await page.goto(link);
    await expect(page.title()).resolves.toBe('Confirm your address · Ostiary');
    await review(page, 'verify');
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await expect(page.title()).resolves.toBe('Authorize · Ostiary');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${REDIRECT}**`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()).toMatchObject({ email: 'grace@example.com', email_verified: true });
    await page.context().close();
  });

  it('shows the other verification and invitation pages', async () => {
    await server.services.users.create({ email: 'ken@example.com', password: PASSWORD }, TEST_ACTOR);
    await server.services.signups.resendVerification('ken@example.com', TEST_ACTOR);
    const verification = await eventually(() => smtp.to('ken@example.com')[0], 'the verification mail');
    const page = await newPage();
    await page.goto(verification.parsed.text!.match(/https?:\/\/\S+\/account\/verify\/\S+/)![0]);
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await expect(page.title()).resolves.toBe('Address confirmed · Ostiary');
    await review(page, 'verified');

    await server.services.signups.invite('barbara@example.com', TEST_ACTOR);
    const invitation = await eventually(() => smtp.to('barbara@example.com')[0], 'the invitation');
    await page.goto(invitation.parsed.text!.match(/https?:\/\/\S+\/account\/invitation\/\S+/)![0]);
    await expect(page.title()).resolves.toBe('Create your account · Ostiary');
    await review(page, 'invitation');
    await page.getByLabel('Name').fill('Barbara Liskov');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create the account' }).click();
    await expect(page.title()).resolves.toBe('Account created · Ostiary');
    await review(page, 'invitation-done');
    await page.context().close();
  });

  it('shows the pages in German with ui_locales=de, the mail too', async () => {
    const rp = await discover(server.issuer, client.id, client.secret);
    const page = await newPage();
    await page.goto((await startFlow(rp, { ui_locales: 'de' })).url.toString());
    await expect(page.title()).resolves.toBe('Anmelden · Ostiary');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('de');
    await review(page, 'login-de');
    await page.getByRole('link', { name: 'Konto erstellen' }).click();
    await expect(page.title()).resolves.toBe('Konto erstellen · Ostiary');
    await page.getByLabel('E-Mail').fill('margaret@example.com');
    await page.getByLabel('Passwort').fill('password1234');
    await page.getByRole('button', { name: 'Konto erstellen' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('zu leicht zu erraten');
    await review(page, 'signup-refused-de');
    await page.getByLabel('Passwort').fill(PASSWORD);
    await page.getByRole('button', { name: 'Konto erstellen' }).click();
    await expect(page.title()).resolves.toBe('Sehen Sie in Ihr Postfach · Ostiary');
    await review(page, 'signup-check-mail-de');
    const mail = await eventually(() => smtp.to('margaret@example.com')[0], 'the verification mail');
    expect(mail.parsed.subject).toBe('Bestätigen Sie Ihre Adresse bei Ostiary');
    await page.context().close();
  });

  it('has no serious or critical accessibility violations and no sideways scrolling on these pages', () => {
    expect(Object.keys(violations).length).toBeGreaterThanOrEqual(10);
    expect(violations).toEqual(Object.fromEntries(Object.keys(violations).map((name) => [name, []])));
  });
});
