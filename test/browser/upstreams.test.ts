import { readFileSync } from 'node:fs';
import type { Browser, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { signInAtBareUpstream, startBareOidcUpstream, type BareOidcUpstream } from '../support/upstreams.ts';
import { available, launchChromium, newPhonePage, pageReviews } from './support.ts';

// Signing in to an app through upstream identity providers, in Debian's Chromium with JavaScript
// off: another Ostiary on its own database and a bare oidc-provider as the upstreams, both real
// servers on loopback.

const PASSWORD = 'harbour pepper lantern violet';
const UPSTREAM_PERSON = { email: 'katherine@partner.example', password: 'meadow falcon copper ribbon', name: 'Katherine Johnson' };
const GRACE = { email: 'grace@example.com', password: PASSWORD };
const FEDERATED = 'urn:ostiary:acr:federated';

/** The English catalogue's texts the pages show. */
const catalogue = (name: string) => JSON.parse(readFileSync(new URL(`../../src/i18n/locales/en/${name}.json`, import.meta.url), 'utf8'));
const en = catalogue('upstream') as Record<'link_title' | 'link_heading' | 'link_submit' | 'link_wrong_password' | 'back' | 'unavailable', string>;
const enErrors = catalogue('errors') as { upstream: { no_account: string } };

/** The catalogue's text with its `{{name}}` filled in. */
const text = (template: string, name: string) => template.replaceAll('{{name}}', name);

describe.skipIf(!available)('signing in through upstream providers in Chromium', () => {
  let server: TestServer;
  let partner: TestServer;
  let bare: BareOidcUpstream;
  let browser: Browser;
  let app: Credentials;
  const { violations, review } = pageReviews(() => browser);

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    app = await createWebClient(server, { name: 'Web App', firstParty: true, grantTypes: ['authorization_code'] });

    // Another Ostiary, on a database of its own, where Ostiary is a first-party client.
    partner = await startTestServer('sqlite');
    await partner.services.users.create({ ...UPSTREAM_PERSON, emailVerified: true }, TEST_ACTOR);
    const atPartner = await createWebClient(partner, {
      name: 'Ostiary upstream client',
      firstParty: true,
      grantTypes: ['authorization_code'],
      redirectUris: [server.services.upstreams.redirectUri('partner')],
    });
    await server.services.upstreams.create(
      { slug: 'partner', name: 'Partner', kind: 'oidc', issuer: partner.issuer, clientId: atPartner.id, clientSecret: atPartner.secret, jit: true, scope: 'openid email profile' },
      TEST_ACTOR,
    );

    // A bare oidc-provider that creates no accounts here.
    bare = await startBareOidcUpstream({
      redirectUri: server.services.upstreams.redirectUri('bare'),
      accounts: { grace: { email: GRACE.email, email_verified: true, name: 'Grace Hopper' } },
    });
    await server.services.upstreams.create({ slug: 'bare', name: 'Bare', kind: 'oidc', issuer: bare.issuer, clientId: bare.clientId, clientSecret: bare.clientSecret }, TEST_ACTOR);

    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await bare?.stop();
    await partner?.stop();
    await server?.stop();
  });

  /** The app's authorization request at our server, opened in `page`: its login page. */
  async function startAtApp(page: Page) {
    const rp = await discover(server.issuer, app.id, app.secret);
    const flow = await startFlow(rp);
    await page.goto(flow.url.toString());
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    return { rp, flow };
  }

  /** Waits for the app's redirect URI and exchanges the code there, checking state, nonce and PKCE. */
  async function finishAtApp(page: Page, { rp, flow }: Awaited<ReturnType<typeof startAtApp>>) {
    await page.waitForURL(`${REDIRECT}**`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const { payload } = await verifyJwt(server.issuer, tokens.id_token!, app.id);
    return payload;
  }

  /** Runs `act` and returns the answer to the main-frame request whose URL `matches`. */
  async function answerTo(page: Page, matches: (url: URL) => boolean, act: () => Promise<void>): Promise<Response> {
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().isNavigationRequest() && matches(new URL(r.url()))), act()]);
    return response;
  }

  /** Signs in on the upstream Ostiary's own login page. */
  async function signInAtPartner(page: Page) {
    await page.waitForURL(`${partner.issuer}/**`);
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    await page.getByLabel('Email').fill(UPSTREAM_PERSON.email);
    await page.getByLabel('Password').fill(UPSTREAM_PERSON.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('creates the person on the first sign-in through another Ostiary, and finds the same person the second time', async () => {
    const page = await newPhonePage(browser);
    const first = await startAtApp(page);
    const button = page.getByRole('button', { name: 'Continue with Partner' });
    await expect(button.count()).resolves.toBe(1);
    await review(page, 'upstream-login');
    await button.click();
    await signInAtPartner(page);
    const claims = await finishAtApp(page, first);

    expect(claims.amr).toContain('fed');
    expect(claims.acr).toBe(FEDERATED);
    expect(claims.idp).toBe('partner');
    expect(claims.email).toBe(UPSTREAM_PERSON.email);
    const created = (await server.services.users.list()).find((user) => user.email === UPSTREAM_PERSON.email);
    expect(created?.id).toBe(claims.sub);
    await page.context().close();

    // A new browser: signed in at neither server, so through the upstream's login page again.
    const again = await newPhonePage(browser);
    const second = await startAtApp(again);
    await again.getByRole('button', { name: 'Continue with Partner' }).click();
    await signInAtPartner(again);
    const later = await finishAtApp(again, second);
    expect(later.sub).toBe(claims.sub);
    expect(later.amr).toContain('fed');
    expect((await server.services.users.list()).filter((user) => user.email === UPSTREAM_PERSON.email)).toHaveLength(1);
    await again.context().close();
  });

  it('links the upstream to an existing account only after its password, and unlinks it on the account page', async () => {
    const grace = await server.services.users.create({ ...GRACE, emailVerified: true }, TEST_ACTOR);
    const page = await newPhonePage(browser);
    const started = await startAtApp(page);
    await page.getByRole('button', { name: 'Continue with Bare' }).click();
    await signInAtBareUpstream(page, 'grace');

    await expect(page.title()).resolves.toBe(`${en.link_title} · Ostiary`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(text(en.link_heading, 'Bare'));
    expect(await page.locator('main').textContent()).toContain(GRACE.email);
    await review(page, 'upstream-link');

    await page.getByLabel('Password').fill('not the password');
    const refused = await answerTo(page, (url) => url.pathname.endsWith('/upstreams/bare/link'), () => page.getByRole('button', { name: en.link_submit }).click());
    expect(refused.status()).toBe(401);
    await expect(page.getByRole('alert').textContent()).resolves.toBe(en.link_wrong_password);
    await review(page, 'upstream-link-refused');
    expect(await server.services.db.upstreamIdentity.count({ where: { userId: grace.id } })).toBe(0);

    await page.getByLabel('Password').fill(GRACE.password);
    await page.getByRole('button', { name: en.link_submit }).click();
    const claims = await finishAtApp(page, started);
    expect(claims.sub).toBe(grace.id);
    expect(claims.amr).toEqual(expect.arrayContaining(['fed', 'pwd']));
    expect(claims.idp).toBe('bare');

    // Signed in to our server already: the account page lists the provider.
    await page.goto(`${server.issuer}/account`);
    await expect(page.title()).resolves.toBe('Your account · Ostiary');
    const providers = page.locator('section', { has: page.getByRole('heading', { name: 'Sign-in providers' }) });
    await expect(providers.locator('.items strong').allTextContents()).resolves.toEqual(['Bare']);
    await review(page, 'account-upstreams');

    await providers.getByLabel('Current password').fill(GRACE.password);
    await providers.getByRole('button', { name: 'Unlink Bare' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toBe('The provider was unlinked.');
    await expect(page.getByRole('heading', { name: 'Sign-in providers' }).count()).resolves.toBe(0);
    expect(await server.services.db.upstreamIdentity.count({ where: { userId: grace.id } })).toBe(0);
    await page.context().close();
  });

  it('shows our error page, and the way back, when nobody here has the address and the upstream creates no accounts', async () => {
    const page = await newPhonePage(browser);
    await startAtApp(page);
    const usersBefore = (await server.services.users.list()).length;
    await page.getByRole('button', { name: 'Continue with Bare' }).click();
    await signInAtBareUpstream(page, 'nobody');

    await page.waitForURL(`${server.issuer}/**`);
    await expect(page.getByRole('alert').textContent()).resolves.toBe(text(enErrors.upstream.no_account, 'Bare'));
    await review(page, 'upstream-error');
    expect((await server.services.users.list()).map((user) => user.email)).not.toContain('nobody@upstream.example');
    expect(await server.services.users.list()).toHaveLength(usersBefore);

    await page.getByRole('link', { name: en.back }).click();
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    await expect(page.getByRole('button', { name: 'Continue with Bare' }).count()).resolves.toBe(1);
    await page.context().close();
  });

  it('shows our error page with status 502 when the upstream is down, and audits the refusal', async () => {
    const nobodyListens = `http://127.0.0.1:${await freePort()}`;
    await server.services.upstreams.create({ slug: 'down', name: 'Down', kind: 'oidc', issuer: nobodyListens, clientId: 'ostiary', clientSecret: 'unused secret' }, TEST_ACTOR);
    const page = await newPhonePage(browser);
    await startAtApp(page);

    const answer = await answerTo(page, (url) => url.pathname.endsWith('/upstreams/down'), () => page.getByRole('button', { name: 'Continue with Down' }).click());
    expect(answer.status()).toBe(502);
    await expect(page.getByRole('alert').textContent()).resolves.toBe(text(en.unavailable, 'Down'));
    await review(page, 'upstream-unavailable');
    const { items } = await server.services.audit.page({ type: 'upstream.refused' });
    expect(items.map((event) => event.details)).toContainEqual(expect.objectContaining({ upstream: 'down', reason: 'unavailable', error: expect.any(String) }));

    await page.getByRole('link', { name: en.back }).click();
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    await page.context().close();
  });

  it('has no serious or critical accessibility violations and no sideways scrolling on these pages', () => {
    expect(Object.keys(violations).sort()).toEqual(['account-upstreams', 'upstream-error', 'upstream-link', 'upstream-link-refused', 'upstream-login', 'upstream-unavailable']);
    expect(violations).toEqual(Object.fromEntries(Object.keys(violations).map((name) => [name, []])));
  });
});
