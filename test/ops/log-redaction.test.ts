import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { loggerOptions, redactUrl, SECRET_HEADERS, SECRET_PARAMS } from '../../src/observability/index.ts';
import { buildServer } from '../../src/server.ts';
import { createServices } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

/** Written out here, so a name dropped from SECRET_PARAMS fails this test. */
const PARAMS = [
  'api_key', 'code', 'code_verifier', 'id_token_hint', 'logout_hint', 'login_hint', 'token', 'refresh_token', 'access_token',
  'client_secret', 'client_assertion', 'assertion', 'subject_token', 'actor_token', 'device_code', 'user_code', 'request',
  'request_uri', 'password', 'new_password', 'current_password', 'csrf', 'dpop',
];
const HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'dpop'];
const ENDPOINTS = ['/admin/api/v1/clients', '/auth', '/token', '/token/introspection', '/me', '/session/end', '/interaction/x'];

it('names every secret-bearing parameter and header', () => {
  expect(SECRET_PARAMS).toEqual(expect.arrayContaining(PARAMS));
  expect(SECRET_HEADERS).toEqual(expect.arrayContaining(HEADERS));
  expect(SECRET_PARAMS).not.toContain('state');
});

it('redacts every repetition, in any case and percent-encoding, keeping the rest of the URL', () => {
  expect(redactUrl('/auth?client_id=web&code=a&state=s&CODE=b&%63ode=c&Token&x=1')).toBe(
    '/auth?client_id=web&code=[redacted]&state=s&CODE=[redacted]&%63ode=[redacted]&Token=[redacted]&x=1',
  );
  expect(redactUrl('/jwks')).toBe('/jwks');
});

/** A server on a fresh SQLite database whose log lines (at `level`) are collected. */
async function serverWithLogs(level: string) {
  const database: TestDatabase = await createTestDatabase('sqlite');
  const lines: string[] = [];
  const limits = { RATE_LIMIT_AUTHORIZE_PER_IP: '10000', RATE_LIMIT_TOKEN_PER_IP: '10000', RATE_LIMIT_TOKEN_PER_CLIENT: '10000', RATE_LIMIT_ADMIN_PER_KEY: '10000' };
  const config = loadConfig({ PORT: '0', DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: level, ...limits });
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const logger = pino(loggerOptions(config), stream) as unknown as FastifyBaseLogger;
  const services = await createServices(config, { info: () => {}, warn: () => {} }, { migrate: true, log: logger });
  await services.signingKeys.ensureCurrent();
  const app: FastifyInstance = await buildServer(services, { logger });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const close = async () => {
    await app.close();
    await services.close();
    await database.drop();
  };
  return { app, base, lines, close };
}

describe.each(['info', 'trace'])('log lines at LOG_LEVEL=%s', (level) => {
  let server: Awaited<ReturnType<typeof serverWithLogs>>;
  const sent: string[] = [];
  /** A distinctive value, remembered so the logs can be searched for it. */
  const secret = (prefix = '') => {
    const value = `${prefix}leak${randomBytes(10).toString('hex')}`;
    sent.push(value);
    return value;
  };
  // Each name as is, in upper case, and repeated: each occurrence with a value of its own.
  const query = () => PARAMS.flatMap((p) => [`${p}=${secret()}`, `${p.toUpperCase()}=${secret()}`, `${p}=${secret()}`]).join('&');
  const headers = () => ({
    authorization: `Bearer ${secret()}`,
    'proxy-authorization': `Basic ${secret()}`,
    cookie: `_session=${secret()}; _interaction=${secret()}`,
    'set-cookie': `x=${secret()}`,
    'x-api-key': secret('osk_'),
    dpop: secret(),
  });

  beforeAll(async () => {
    server = await serverWithLogs(level);
  });
  afterAll(() => server?.close());

  it('never writes a secret parameter or header value, wherever it is sent', async () => {
    const { base, lines } = server;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    for (const path of ENDPOINTS) {
      await fetch(`${base}${path}?client_id=web&state=visible-state&${query()}`, { headers: headers(), redirect: 'manual' });
    }
    await fetch(`${base}/admin/api/v1/clients?api_key=${secret('osk_')}`);
    await fetch(`${base}/auth?client_id=web&%63ode=${secret()}&Login_Hint=${secret()}`, { redirect: 'manual' });
    for (const p of PARAMS) {
      await fetch(`${base}/auth?client_id=web&response_type=code&${p}=${secret()}`, { redirect: 'manual' });
      await fetch(`${base}/token?grant_type=client_credentials&${p}=${secret()}`, { method: 'POST', headers: form, body: `grant_type=client_credentials&${p}=${secret()}` });
    }
    await fetch(`${base}/token`, { method: 'POST', headers: { ...form, ...headers() }, body: `grant_type=authorization_code&${query()}` });
    // What a handler or a library might log: a URL quoted in a message, an error or a detail.
    server.app.log.error({ err: new Error(`fetching /cb?code=${secret()} failed`), detail: `GET /x?a=1&token=${secret()}` }, `at /y?Password=${secret()} with Bearer ${secret()}`);

    await new Promise((resolve) => setTimeout(resolve, 100));
    const text = lines.join('\n');
    const leaked = sent.filter((value) => text.includes(value));
    expect(leaked).toEqual([]);

    // The requests were logged, with their parameters redacted, not dropped.
    const urls = lines.map((l) => JSON.parse(l) as { req?: { url: string } }).flatMap((l) => (l.req ? [l.req.url] : []));
    for (const path of ENDPOINTS) expect(urls.some((u) => u.startsWith(`${path}?`) && u.includes('code=[redacted]')), path).toBe(true);
    expect(urls.length).toBeGreaterThanOrEqual(ENDPOINTS.length + 2 * PARAMS.length);
    expect(text).toContain('state=visible-state');
    expect(text).toContain('"msg":"at /y?Password=[redacted] with Bearer [redacted]"');
    expect(text).toContain('fetching /cb?code=[redacted] failed');
  });
});
