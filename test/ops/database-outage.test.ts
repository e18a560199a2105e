import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_CACHE_MS } from '../../src/clients/index.ts';
import { ROLES_CACHE_MS } from '../../src/roles/index.ts';
import { postForm, setUpWorker, type Worker } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = `/usr/lib/postgresql/${readdirSync('/usr/lib/postgresql').sort().at(-1)}/bin`;
const asRoot = process.getuid?.() === 0;

/** A PostgreSQL server of the test's own: its own data folder and port, stopped and started at will. */
function ownPostgres(port: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ostiary-pg-'));
  const postgresUid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  if (asRoot) chownSync(dir, postgresUid, postgresUid);
  // initdb refuses to run as root; the machine's postgres account runs this cluster.
  const run = (bin: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : `${BIN}/${bin}`, asRoot ? ['-u', 'postgres', '--', `${BIN}/${bin}`, ...args] : args, { stdio: 'pipe' });
  run('initdb', ['-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const pgCtl = (action: string, extra: string[] = []) =>
    run('pg_ctl', ['-D', `${dir}/data`, '-l', `${dir}/log`, '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, ...extra, action]);
  pgCtl('start');
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    dir,
    start: () => pgCtl('start'),
    stop: () => pgCtl('stop', ['-m', 'fast']),
    remove() {
      try {
        pgCtl('stop', ['-m', 'immediate']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('database outage', () => {
  let pg: ReturnType<typeof ownPostgres>;
  let server: TestServer;
  let worker: Worker;
  const ccForm = { grant_type: 'client_credentials', scope: 'invoices:read', resource: 'https://billing.example.com' };

  beforeAll(async () => {
    pg = ownPostgres(20_000 + Math.floor(Math.random() * 20_000));
    const database = { kind: 'postgresql' as const, url: pg.url, dataDir: pg.dir, drop: async () => {} };
    server = await startTestServer('postgresql', {}, { database });
    worker = await setUpWorker(server);
  });
  afterAll(async () => {
    await server?.stop();
    pg?.remove();
  });

  it('answers 503 temporarily_unavailable while the database is down, stays up, and recovers without a restart', async () => {
    expect((await postForm(server, '/token', worker, ccForm)).status).toBe(200);
    pg.stop();
    // The client, its API and its roles are cached for a second: past that, a token needs the database.
    await new Promise((resolve) => setTimeout(resolve, Math.max(CLIENT_CACHE_MS, ROLES_CACHE_MS) + 200));

    const token = await postForm(server, '/token', worker, ccForm);
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toBe('5');
    expect(await token.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable. Try again shortly.' });
    const ready = await fetch(`${server.issuer}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { database: string } }).checks.database).toBe('unreachable');
    expect((await fetch(`${server.issuer}/healthz`)).status).toBe(200);
    const admin = await fetch(`${server.issuer}/admin/api/v1/clients`, { headers: { authorization: 'Bearer osk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    expect(admin.status).toBe(503);
    expect(admin.headers.get('content-type')).toMatch(/problem\+json/);

    pg.start();
    let status = 0;
    for (let attempt = 0; attempt < 40 && status !== 200; attempt += 1) {
      status = (await postForm(server, '/token', worker, ccForm)).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe(200);
    expect((await fetch(`${server.issuer}/readyz`)).status).toBe(200);
  });
});
