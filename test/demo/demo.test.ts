import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createServices } from '../../src/services.ts';
import { freePorts } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// CI installs Debian's chromium; elsewhere a machine without it reports these tests as skipped.
const available = existsSync(CHROMIUM) || Boolean(process.env.CI);
const RUN = new URL('../../src/demo/run.ts', import.meta.url).pathname;
const AUDIENCE = 'urn:ostiary:demo';
const CLIENT_ID = 'ostiary-demo';

/** axe-core's browser build, when the package is installed; its test is skipped without it. */
function axeSource(): string | undefined {
  try {
    return readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  } catch {
    return undefined;
  }
}
const AXE = axeSource();
/** Where to save a screenshot of the signed-in page (`DEMO_SCREENSHOT=src/demo/screenshot.png`), for the README. */
const SCREENSHOT = process.env.DEMO_SCREENSHOT;

interface Demo {
  process: ChildProcess;
  dataDir: string;
  /** What it printed: the app's URL, the credentials, the issuer and the API. */
  url: string;
  email: string;
  password: string;
  issuer: string;
  api: string;
  output(): string;
}

/** `node src/demo/run.ts` on free loopback ports and a data directory (a new one by default), once it prints its banner. */
async function startDemo(options: { dataDir?: string; readmePorts?: boolean } = {}): Promise<Demo> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ostiary-demo-'));
  // Three different ports: asked for one at a time, the system may hand out the same one twice.
  const [server, app, api] = options.readmePorts ? [3000, 3001, 3002] : await freePorts(3);
  const env = {
    PATH: process.env.PATH ?? '',
    DATA_DIR: dataDir,
    PORT: String(server),
    DEMO_PORT: String(app),
    DEMO_API_PORT: String(api),
    ...(process.env.TEST_LOG_LEVEL ? { LOG_LEVEL: process.env.TEST_LOG_LEVEL } : {}),
  };
  const child = spawn(process.execPath, [RUN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('Press Ctrl-C to stop.')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the demo exited (${code}) before it was ready:\n${stdout}\n${stderr}`)));
  });
  const printed = (label: string) => new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(stdout)?.[1] ?? '';
  return {
    process: child,
    dataDir,
    url: printed('Open'),
    email: printed('Email'),
    password: printed('Password'),
    issuer: printed('Ostiary'),
    api: printed('Demo API'),
    output: () => `${stdout}\n${stderr}`,
  };
}

/** The claims a table of the signed-in page shows, by name. */
async function claims(page: Page, table: 'ID token' | 'Access token'): Promise<Record<string, string>> {
  const shown: Record<string, string> = {};
  for (const row of await page.getByRole('table', { name: table }).getByRole('row').all()) {
    shown[await row.locator('th').innerText()] = await row.locator('td code').innerText();
  }
  return shown;
}

describe.skipIf(!available)('npm run demo, driven in Chromium', () => {
  let demo: Demo;
  let browser: Browser;

  beforeAll(async () => {
    // The README's screenshot shows the ports the README names.
    demo = await startDemo({ readmePorts: SCREENSHOT !== undefined });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (demo && demo.process.exitCode === null && demo.process.signalCode === null) {
      demo.process.kill('SIGTERM');
      await new Promise((resolve) => demo.process.once('exit', resolve));
    }
    if (demo) rmSync(demo.dataDir, { recursive: true, force: true });
  });

  /** A page of its own; console errors (a style or form the CSP refused among them) are collected. */
  async function newPage() {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      // A browser asks every origin for /favicon.ico; neither Ostiary nor the app has one.
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) consoleErrors.push(`${message.text()} ${message.location().url}`);
    });
    return { page, consoleErrors };
  }

  async function signIn(page: Page) {
    await page.goto(demo.url);
    await page.getByRole('link', { name: 'Sign in with Ostiary' }).click();
    await page.waitForURL(`${demo.issuer}/**`);
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    await page.getByLabel('Email').fill(demo.email);
    await page.getByLabel('Password').fill(demo.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // First-party client: no consent page, straight back to the app.
    await page.waitForURL(`${demo.url}/`);
  }

  async function callApi(page: Page) {
    await page.getByRole('button', { name: 'Call the API' }).click();
    const heading = page.getByRole('heading', { name: /^The API answered/ });
    await heading.waitFor();
    return { heading: await heading.innerText(), body: JSON.parse(await page.locator('pre').innerText()) as Record<string, unknown> };
  }

  it('prints the app, the credentials and the issuer', () => {
    expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(demo.email).toBe('demo@example.com');
    expect(demo.password.length).toBeGreaterThanOrEqual(8);
    expect(demo.issuer).toMatch(/^http:\/\/localhost:\d+$/);
    expect(demo.output()).toContain(`audience ${AUDIENCE}`);
  });

  it('signs in with code and PKCE, shows both tokens, calls the API, refreshes and signs out', async () => {
    const { page, consoleErrors } = await newPage();
    await page.goto(demo.url);
    await expect(page.title()).resolves.toBe('Welcome · Ostiary demo');
    await signIn(page);
    await expect(page.title()).resolves.toBe('Signed in · Ostiary demo');

    const id = await claims(page, 'ID token');
    expect(id).toMatchObject({ iss: demo.issuer, aud: CLIENT_ID, email: demo.email, email_verified: 'true', roles: '["demo-reader"]' });
    expect(id.sub).toMatch(/^[0-9a-f-]{36}$/);
    const access = await claims(page, 'Access token');
    expect(access).toMatchObject({ iss: demo.issuer, sub: id.sub, aud: AUDIENCE, client_id: CLIENT_ID, scope: 'demo:read', permissions: '["demo:read"]' });
    // The stylesheet was served and allowed by the app's CSP.
    expect(await page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")).toBe('rgb(29, 35, 48)');

    const answer = await callApi(page);
    expect(answer.heading).toBe('The API answered 200');
    expect(answer.body).toMatchObject({ sub: id.sub, client_id: CLIENT_ID, permissions: ['demo:read'], verified: { iss: demo.issuer, aud: AUDIENCE } });
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByRole('button', { name: 'Refresh tokens' }).click();
    await page.getByRole('status').waitFor();
    expect(await page.getByRole('status').innerText()).toContain('Tokens refreshed');
    const refreshed = await claims(page, 'Access token');
    expect(refreshed.jti).not.toBe(access.jti);
    expect(refreshed).toMatchObject({ sub: id.sub, aud: AUDIENCE });
    expect((await callApi(page)).heading).toBe('The API answered 200');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${demo.issuer}/session/end**`);
    await expect(page.title()).resolves.toBe('Sign out · Ostiary');
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${demo.url}/`);
    expect(await page.getByRole('link', { name: 'Sign in with Ostiary' }).count()).toBe(1);

    // Ostiary's session ended too: signing in again asks for the password.
    await page.getByRole('link', { name: 'Sign in with Ostiary' }).click();
    await page.waitForURL(`${demo.issuer}/**`);
    await expect(page.title()).resolves.toBe('Sign in · Ostiary');
    expect(consoleErrors).toEqual([]);
    await page.context().close();
  });

  it("keeps the session in an HttpOnly SameSite=Lax cookie and refuses a post without the session's CSRF token", async () => {
    const { page } = await newPage();
    await signIn(page);
    const [cookie] = (await page.context().cookies(demo.url)).filter((c) => c.name === 'demo_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    const forged = await page.request.post(`${demo.url}/call-api`, { form: { csrf: 'not-the-token' }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    const missing = await page.request.post(`${demo.url}/refresh`, { form: {}, maxRedirects: 0 });
    expect(missing.status()).toBe(403);
    // The real form still works: the refused posts changed nothing.
    expect((await callApi(page)).heading).toBe('The API answered 200');
    await page.context().close();
  });

  it('has an API that refuses a request without a token, and a token not signed by Ostiary', async () => {
    const none = await fetch(demo.api);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('error="invalid_request"');

    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ client_id: CLIENT_ID, permissions: ['demo:read'] })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'not-ostiary' })
      .setIssuer(demo.issuer)
      .setAudience(AUDIENCE)
      .setSubject('someone')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const refused = await fetch(demo.api, { headers: { authorization: `Bearer ${forged}` } });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token' });
  });

  it.skipIf(!AXE)('has no accessibility violations on its pages (axe-core)', async () => {
    const { page } = await newPage();
    const violations = async () => {
      await page.evaluate(AXE!);
      const found = (await page.evaluate(
        "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => v.id + ': ' + v.help + ' ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))",
      )) as string[];
      return { url: page.url(), found };
    };
    await page.goto(demo.url);
    const start = await violations();
    await signIn(page);
    await callApi(page);
    const signedIn = await violations();
    await page.goto(`${demo.url}/callback?code=x&state=y`);
    const error = await violations();
    expect([start, signedIn, error]).toEqual([start, signedIn, error].map((v) => ({ url: v.url, found: [] })));
    await page.context().close();
  });

  it('stops Ostiary, the app and the API on SIGINT, exiting 0', async () => {
    const exited = new Promise<number | null>((resolve) => demo.process.once('exit', resolve));
    demo.process.kill('SIGINT');
    expect(await exited).toBe(0);
    for (const url of [demo.url, demo.api, `${demo.issuer}/healthz`]) {
      await expect(fetch(url), url).rejects.toThrow();
    }
  });

  // Starting the demo (migrations, then two processes) is part of this test: it gets the hooks' bound.
  it('starts again on the same database and other ports, creating nothing twice', async () => {
    const before = demo;
    demo = await startDemo({ dataDir: before.dataDir });
    expect(demo.url).not.toBe(before.url);
    const { page } = await newPage();
    await signIn(page);
    expect((await callApi(page)).heading).toBe('The API answered 200');
    await page.context().close();

    const services = await createServices(loadConfig({ DATA_DIR: demo.dataDir }), { info: () => {}, warn: () => {} });
    try {
      expect(await services.users.list()).toMatchObject([{ email: demo.email, roles: ['demo-reader'] }]);
      expect(await services.clients.list()).toMatchObject([{ clientId: CLIENT_ID, redirectUris: [`${demo.url}/callback`], postLogoutRedirectUris: [`${demo.url}/`], firstParty: true }]);
      expect(await services.apis.list()).toMatchObject([{ audience: AUDIENCE, scopes: ['demo:read'] }]);
      expect(await services.roles.list()).toMatchObject([{ name: 'demo-reader', permissions: ['demo:read'] }]);
    } finally {
      await services.close();
    }
  }, 90_000);
});
