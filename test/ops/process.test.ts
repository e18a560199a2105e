import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.ts';
import { createAdapterFactory } from '../../src/oidc/adapter.ts';
import { createProviderStore } from '../../src/provider-store/index.ts';
import { createClientStore } from '../../src/clients/index.ts';
import { createAudit } from '../../src/audit/index.ts';
import { createCleanup } from '../../src/jobs/cleanup.ts';
import { createLinks } from '../../src/users/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { freePort } from '../support/server.ts';
import { loadConfig } from '../../src/config/index.ts';
import { prettyLogs } from '../../src/observability/index.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

/** Starts `ostiary serve`, resolves once it answers /readyz; returns the child and its stderr so far. */
async function startServe(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${env.PORT}`;
  // Up to 30 s: workers start slowly on a loaded 2-core machine.
  for (let i = 0; i < 300; i += 1) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok).catch(() => false);
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, exited, url, stderr: () => stderr };
}

describe('the serve process', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(() => database?.drop());

  it('stops on SIGTERM with exit code 0 after answering the request in flight', async () => {
    const port = String(await freePort());
    const server = await startServe({ PORT: port, DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'info' });
    // A request whose body is still arriving when the signal comes.
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    const body = 'grant_type=client_credentials&client_id=nobody';
    socket.write(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.end(body.slice(10));
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toContain('invalid_client');
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toContain('shutting down: finishing in-flight requests');
    expect(server.stderr()).toContain('Ostiary is listening on');
  });

  it('serves with several workers sharing the port, jobs in one, and stops them all on SIGTERM', async () => {
    const port = String(await freePort());
    const server = await startServe({ PORT: port, DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'info' }, ['--workers', '2']);
    const pids = new Set<string>();
    for (let i = 0; i < 30; i += 1) {
      const response = await fetch(`${server.url}/healthz`, { headers: { connection: 'close' } });
      expect(response.status).toBe(200);
    }
    // The port answers as soon as the first worker listens; give the second its moment.
    const listening = () => server.stderr().split('\n').filter((l) => l.includes('Server listening'));
    for (let waited = 0; listening().length < 2 && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = listening();
    for (const line of lines) pids.add(JSON.parse(line).pid);
    expect(pids.size).toBe(2);
    expect(server.stderr()).toContain('(2 worker processes)');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});

describe('log format', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(() => database?.drop());

  /** Serves with `env`, asks for the JWKS with a secret in the query, stops; returns stderr. */
  async function logsOf(env: Record<string, string>) {
    const port = String(await freePort());
    const server = await startServe({ PORT: port, DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'info', ...env });
    expect((await fetch(`${server.url}/jwks?code=leak0123456789&x=1`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    return server.stderr();
  }

  it('is JSON lines off a terminal, and one readable line each with LOG_FORMAT=pretty; secrets are redacted in both', async () => {
    const json = (await logsOf({})).split('\n').filter((l) => l.startsWith('{'));
    const request = json.map((l) => JSON.parse(l)).find((entry) => entry.req?.url?.startsWith('/jwks'));
    expect(request.req.url).toBe('/jwks?code=[redacted]&x=1');

    const pretty = await logsOf({ LOG_FORMAT: 'pretty' });
    expect(pretty).not.toContain('leak0123456789');
    const line = pretty.split('\n').find((l) => l.includes('/jwks'));
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO/);
    expect(line).toContain('/jwks?code=[redacted]&x=1');
    expect(pretty.split('\n').some((l) => l.startsWith('{'))).toBe(false);
  });

  it('is pretty on a terminal outside production unless LOG_FORMAT says otherwise', () => {
    const at = (env: Record<string, string>) => loadConfig({ KEY_ENCRYPTION_KEY: 'k'.repeat(43), ISSUER: 'https://id.example.com', ...env });
    expect(prettyLogs(at({}), { isTTY: true })).toBe(true);
    expect(prettyLogs(at({}), { isTTY: false })).toBe(false);
    expect(prettyLogs(at({ NODE_ENV: 'production' }), { isTTY: true })).toBe(false);
    expect(prettyLogs(at({ NODE_ENV: 'production', LOG_FORMAT: 'pretty' }), { isTTY: false })).toBe(true);
    expect(prettyLogs(at({ LOG_FORMAT: 'json' }), { isTTY: true })).toBe(false);
    expect(() => at({ LOG_FORMAT: 'yaml' })).toThrow(/LOG_FORMAT/);
  });
});

describe('cleanup job', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(() => database?.drop());

  it('deletes expired provider rows, expired mailed links and old audit events in batches, and keeps the rest', async () => {
    const handle = await openDatabase(database.url, { migrate: true });
    try {
      const store = createProviderStore(handle.db);
      const adapterFor = createAdapterFactory(store, createClientStore(handle.db));
      for (let i = 0; i < 5; i += 1) await adapterFor('RefreshToken').upsert(`expired-${i}`, { jti: `expired-${i}`, grantId: 'g' }, 60);
      await adapterFor('Session').upsert('live-session', { jti: 'live-session', uid: 'u' }, 60);
      await handle.db.oidcPayload.updateMany({ where: { type: 'RefreshToken' }, data: { expiresAt: new Date(Date.now() - 1000) } });
      const audit = createAudit(handle.db);
      await audit.record({ type: 'login.failure', outcome: 'failure' });
      await audit.record({ type: 'login.success', outcome: 'success' });
      await audit.flush();
      await handle.db.auditEvent.updateMany({ where: { type: 'login.failure' }, data: { at: new Date(Date.now() - 100 * 86_400_000) } });

      const link = (id: string, expiresAt: Date, consumedAt: Date | null = null) => ({ id, purpose: 'password_reset', tokenHash: `hash-${id}`, email: 'ada@example.com', expiresAt, consumedAt });
      const past = new Date(Date.now() - 1000);
      const later = new Date(Date.now() + 600_000);
      await handle.db.oneTimeToken.createMany({ data: [link('old', past), link('old-used', past, past), link('old-2', past), link('live', later), link('live-used', later, past)] });
      const links = createLinks(handle.db, () => new Date());

      const result = await createCleanup(store, audit, { batchSize: 2, auditRetentionDays: 90 }, links).run();
      expect(result).toEqual({ expiredRows: 5, auditEvents: 1, expiredLinks: 3, expiredChallenges: 0, expiredAssertions: 0 });
      expect((await handle.db.oneTimeToken.findMany({ orderBy: { id: 'asc' } })).map((row) => row.id)).toEqual(['live', 'live-used']);
      expect(await handle.db.oidcPayload.count()).toBe(1);
      expect((await handle.db.auditEvent.findMany()).map((e) => e.type)).toEqual(['login.success']);
    } finally {
      await handle.close();
    }
  });
});
