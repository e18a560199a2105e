import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

/** A browser that names its languages on every request, as browsers do. */
class SpeakingAgent extends UserAgent {
  private readonly languages: string | undefined;
  constructor(languages?: string) {
    super();
    this.languages = languages;
  }
  override request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.languages) headers.set('accept-language', this.languages);
    return super.request(url, { ...init, headers });
  }
}

// The page language and the brand do not depend on the database: SQLite only.
describe('page languages: ui_locales, then Accept-Language, then DEFAULT_LOCALE', () => {
  let server: TestServer;
  let french: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    [server, french] = await Promise.all([startTestServer('sqlite'), startTestServer('sqlite', { DEFAULT_LOCALE: 'fr' })]);
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { name: 'Billing' });
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), french?.stop()]);
  });

  async function loginPage(params: Record<string, string> = {}, languages?: string) {
    const agent = new SpeakingAgent(languages);
    const rp = await discover(server.issuer, web.id, web.secret);
    const page = await agent.follow((await startFlow(rp, params)).url, REDIRECT);
    expect(page.response!.status).toBe(200);
    return { ...page, body: page.body!, agent };
  }

  it('shows the login page in the language ui_locales asks for, before the browser’s', async () => {
    const { body } = await loginPage({ ui_locales: 'es de' }, 'fr');
    expect(body).toContain('<html lang="de">');
    expect(body).toContain('<h1>Anmelden, um mit Billing fortzufahren</h1>');
    expect(body).toContain('<label for="password">Passwort</label>');
    expect(body).toMatch(LOGIN_FORM);
  });

  it('keeps the sign-in request’s language on the refused form, with the error in it', async () => {
    const page = await loginPage({ ui_locales: 'de' });
    const refused = await page.agent.submit(page.url, page.body, LOGIN_FORM, { email: ADA.email, password: 'wrong password here' }, REDIRECT);
    expect(refused.response!.status).toBe(401);
    expect(refused.body).toContain('<html lang="de">');
    expect(refused.body).toContain('E-Mail-Adresse oder Passwort ist falsch.');
  });

  it('answers the sign-up address with our page, in the request’s language, when sign-up is closed', async () => {
    const page = await loginPage({ ui_locales: 'de' });
    expect(page.body).not.toContain('/signup');
    const agent = new SpeakingAgent();
    const closed = await page.agent.request(`${page.url}/signup`);
    expect(closed.status).toBe(404);
    expect(closed.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await closed.text()).toContain('Hier können keine Konten erstellt werden.');
    expect((await agent.request(`${page.url}/signup`)).status).toBe(400);
  });

  it('follows Accept-Language (by quality, a region falling back to its language) without ui_locales', async () => {
    const { body } = await loginPage({}, 'it;q=1, fr-CH;q=0.9, de;q=0.5');
    expect(body).toContain('<html lang="fr">');
    expect(body).toContain('Mot de passe oublié ?');
    expect(body).toContain('<title>Connexion · Ostiary</title>');
  });

  it('falls back to English here, and to DEFAULT_LOCALE where it is set', async () => {
    const english = await loginPage({}, 'ja');
    expect(english.body).toContain('<html lang="en">');
    expect(english.body).toContain('Forgot your password?');

    const reset = await fetch(`${french.issuer}/interaction/unknown`, { headers: { 'accept-language': 'ja' } });
    expect(reset.status).toBe(400);
    const body = await reset.text();
    expect(body).toContain('<html lang="fr">');
    expect(body).toContain('Cette demande de connexion a expiré ou n’est pas valide.');
  });

  it('translates the pages outside a sign-in request and the provider’s error pages', async () => {
    const reset = await fetch(`${server.issuer}/account/password/reset`, { headers: { 'accept-language': 'de-AT' } });
    expect(reset.status).toBe(200);
    const resetBody = await reset.text();
    expect(resetBody).toContain('<html lang="de">');
    expect(resetBody).toContain('<h1>Passwort zurücksetzen</h1>');

    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp, { redirect_uri: 'https://evil.example.com/cb', ui_locales: 'fr' });
    const refused = await fetch(flow.url, { redirect: 'manual' });
    expect(refused.status).toBe(400);
    const body = await refused.text();
    expect(body).toContain('<html lang="fr">');
    expect(body).toContain('Code d’erreur : invalid_redirect_uri');
    expect(body).toContain('L’application voulait vous envoyer vers une adresse qu’elle n’a pas enregistrée');
    // The provider's own words, for the application's developers, stay beside ours in English.
    expect(body).toContain('redirect_uri');
  });
});

describe('branding by configuration', () => {
  let server: TestServer;
  let withFile: TestServer;
  let web: Credentials;
  const operatorCss = '.logo { max-height: 6rem; }';

  beforeAll(async () => {
    const directory = await mkdtemp(join(tmpdir(), 'ostiary-brand-'));
    await writeFile(join(directory, 'brand.css'), operatorCss);
    // A 1x1 PNG.
    await writeFile(join(directory, 'logo.png'), Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'));
    [server, withFile] = await Promise.all([
      startTestServer('sqlite', {
        BRAND_NAME: 'Acme ID',
        BRAND_LOGO_URL: 'https://cdn.example.com/acme/logo.svg',
        BRAND_PRIMARY_COLOR: '#FFCC00',
        BRAND_BACKGROUND_COLOR: '#102030',
        BRAND_STYLESHEET: join(directory, 'brand.css'),
      }),
      startTestServer('sqlite', { BRAND_LOGO_FILE: join(directory, 'logo.png'), BRAND_PRIMARY_COLOR: '#0b3d91' }),
    ]);
    web = await createWebClient(server, { name: 'Billing' });
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), withFile?.stop()]);
  });

  it('names the brand, shows its logo and admits only the logo’s origin beside our own in the CSP', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const page = await new UserAgent().follow((await startFlow(rp)).url, REDIRECT);
    expect(page.body).toContain('<title>Sign in · Acme ID</title>');
    expect(page.body).toContain('<img class="logo" src="https://cdn.example.com/acme/logo.svg" alt="Acme ID">');
    const csp = page.response!.headers.get('content-security-policy')!;
    expect(csp).toContain("img-src 'self' https://cdn.example.com;");
    expect(csp).toContain("style-src 'self';");
    // No script (passkeys need a host name, not 127.0.0.1: no passkey button here).
    expect(csp).not.toMatch(/unsafe-inline|script-src/);
    expect(page.body).not.toMatch(/<style|style=|<script/);
  });

  it('serves the colours and the operator’s stylesheet from /assets, with readable button text', async () => {
    const page = await (await fetch(`${server.issuer}/account/password/reset`)).text();
    const href = page.match(/<link rel="stylesheet" href="(\/assets\/brand\.css\?v=[\w-]+)">/)?.[1];
    expect(href).toBeDefined();
    const css = await fetch(`${server.issuer}${href}`);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    const text = await css.text();
    expect(text).toContain('--brand-primary: #ffcc00;');
    // Yellow is light: white text on it would be unreadable.
    expect(text).toContain('--brand-on-primary: #1d2330;');
    expect(text).toContain('--brand-background: #102030;');
    expect(text.indexOf(operatorCss)).toBeGreaterThan(text.indexOf('--brand-primary'));
  });

  it('serves a logo file from /assets under the page CSP’s own origin', async () => {
    const page = await (await fetch(`${withFile.issuer}/interaction/unknown`)).text();
    expect(page).toContain('<title>Error · Ostiary</title>');
    const src = page.match(/<img class="logo" src="(\/assets\/logo\.png\?v=[\w-]+)" alt="Ostiary">/)?.[1];
    expect(src).toBeDefined();
    const logo = await fetch(`${withFile.issuer}${src}`);
    expect(logo.status).toBe(200);
    expect(logo.headers.get('content-type')).toBe('image/png');
    expect((await logo.arrayBuffer()).byteLength).toBe(70);
    const css = await (await fetch(`${withFile.issuer}${page.match(/href="(\/assets\/brand\.css[^"]*)"/)![1]}`)).text();
    expect(css).toContain('--brand-on-primary: #ffffff;');
  });
});
