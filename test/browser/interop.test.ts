import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { ADA } from '../support/fixtures.ts';
import { codeFlow, REDIRECT } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { available, launchChromium } from './support.ts';

// The package exports only its module builds; the browser build sits beside them in dist/.
const OIDC_CLIENT_TS = readFileSync(join(dirname(createRequire(import.meta.url).resolve('oidc-client-ts')), '../browser/oidc-client-ts.min.js'), 'utf8');

/** A single-page app's origin on loopback: its page and oidc-client-ts, as the library ships it for browsers. */
async function startSpa(): Promise<{ origin: string; server: Server }> {
  const server = createServer((request, response) => {
    if (request.url === '/oidc-client-ts.min.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(OIDC_CLIENT_TS);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><title>spa</title><script src="/oidc-client-ts.min.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.skipIf(!available)('client libraries of other stacks, in Chromium', () => {
  let server: TestServer;
  let spa: { origin: string; server: Server };
  let browser: Browser;
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.services.users.create({ ...ADA, emailVerified: true }, TEST_ACTOR);
    spa = await startSpa();
    const created = await server.services.clients.create(
      { name: 'SPA', public: true, grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT, `${spa.origin}/callback`], firstParty: true },
      TEST_ACTOR,
    );
    clientId = created.client.clientId;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => spa?.server.close(resolve));
    await server?.stop();
  });

  it('oidc-client-ts on its default settings revokes a token: the answer is an empty 200 without a Content-Type', async () => {
    const { tokens } = await codeFlow(await discover(server.issuer, clientId), ADA);
    const userinfo = () => fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect((await userinfo()).status).toBe(200);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(spa.origin);
    const outcome = await page.evaluate(
      async ({ authority, client_id, redirect_uri, token }) => {
        const library = (globalThis as unknown as { oidc: { OidcClient: new (settings: object) => { revokeToken(token: string, type: string): Promise<void> } } }).oidc;
        try {
          await new library.OidcClient({ authority, client_id, redirect_uri }).revokeToken(token, 'access_token');
          return 'revoked';
        } catch (error) {
          return String(error);
        }
      },
      { authority: server.issuer, client_id: clientId, redirect_uri: `${spa.origin}/callback`, token: tokens.access_token },
    );
    expect(outcome).toBe('revoked');
    expect((await userinfo()).status).toBe(401);
    await context.close();

    const raw = await fetch(`${server.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.refresh_token ?? 'gone', client_id: clientId }),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBeNull();
    expect(await raw.text()).toBe('');
  });
});
