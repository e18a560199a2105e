import { TEST_ACTOR } from '../support/actor.ts';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { loggerOptions } from '../../src/observability/index.ts';
import { buildServer } from '../../src/server.ts';
import { createServices } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { ADA, BILLING, m2mToken, setUpWorker } from '../support/fixtures.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('health and metrics', () => {
  let server: TestServer;
  const token = 'metrics-token-0123456789';
  beforeAll(async () => {
    server = await startTestServer('sqlite', { METRICS_TOKEN: token });
  });
  afterAll(() => server?.stop());

  it('reports liveness and readiness', async () => {
    expect(await (await fetch(`${server.issuer}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.issuer}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', signing_keys: 'ok' } });
  });

  it('reports not ready while a migration is missing', async () => {
    await server.services.db.$executeRawUnsafe(`UPDATE "_prisma_migrations" SET rolled_back_at = CURRENT_TIMESTAMP WHERE migration_name LIKE '%api_keys'`);
    const response = await fetch(`${server.issuer}/readyz`);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { checks: { migrations: string } }).checks.migrations).toMatch(/^pending: .*api_keys$/);
    await server.services.db.$executeRawUnsafe(`UPDATE "_prisma_migrations" SET rolled_back_at = NULL`);
  });

  it('exposes Prometheus metrics behind the configured token', async () => {
    const worker = await setUpWorker(server);
    await m2mToken(server, worker);
    const rp = await discover(server.issuer, worker.id, worker.secret);
    await oidc.clientCredentialsGrant(rp, { scope: 'invoices:write', resource: BILLING }).catch(() => {});

    expect((await fetch(`${server.issuer}/metrics`)).status).toBe(401);
    const response = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain(`ostiary_tokens_issued_total{grant_type="client_credentials",client_id="${worker.id}"} 1`);
    expect(text).toContain('ostiary_token_errors_total{error="invalid_scope"} 1');
    expect(text).toMatch(/ostiary_http_request_duration_seconds_count\{method="POST",route="\/token",status_code="200"\} [1-9]/);
    expect(text).toMatch(/ostiary_db_query_duration_seconds_count [1-9]/);
    expect(text).toContain('ostiary_signing_keys{state="current"} 1');
    expect(text).toContain('ostiary_process_resident_memory_bytes');
  });
});

describe('structured logs', () => {
  let database: TestDatabase;
  const lines: Record<string, unknown>[] = [];
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    const config = loadConfig({ PORT: '0', DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'info' });
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))));
    const logger = pino(loggerOptions(config), stream) as unknown as FastifyBaseLogger;
    const services = await createServices(config, { info: () => {}, warn: () => {} }, { migrate: true, log: logger });
    await services.signingKeys.ensureCurrent();
    const app = await buildServer(services, { logger });
    // Raw requests to the listening address; none of them needs discovery.
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    close = async () => {
      await app.close();
      await services.close();
      await database.drop();
    };
    await services.users.create(ADA, TEST_ACTOR);
  });
  afterAll(() => close?.());

  it('writes JSON lines with the request id and without secrets, passwords, codes or tokens', async () => {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    const secret = 'very-secret-client-secret-value';
    await fetch(`${base}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`someone:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body });
    const idToken = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtYmUtbG9nZ2Vk';
    await fetch(`${base}/session/end?id_token_hint=${idToken}&state=s`);
    await fetch(`${base}/me?access_token=opaque-access-token-in-a-query`);
    await fetch(`${base}/auth?client_id=x&code=authorization-code-in-a-query`);

    const requestLines = lines.filter((l) => l.req || l.res);
    expect(requestLines.length).toBeGreaterThanOrEqual(8);
    for (const line of requestLines) expect(line.reqId).toEqual(expect.any(String));
    const text = JSON.stringify(lines);
    for (const leaked of [secret, Buffer.from(`someone:${secret}`).toString('base64'), idToken, 'opaque-access-token-in-a-query', 'authorization-code-in-a-query']) {
      expect(text.includes(leaked), leaked).toBe(false);
    }
    expect(text).toContain('id_token_hint=[redacted]');
  });
});
