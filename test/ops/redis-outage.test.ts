import { TEST_ACTOR } from '../support/actor.ts';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { ADA, BILLING, createWebClient, postForm, setUpWorker, type Credentials } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';

const LIMIT = 5;
const ccForm = { grant_type: 'client_credentials', scope: 'invoices:read', resource: BILLING };
const LOST = 'Redis unavailable: rate limits are counted in this process until it is back';
const BACK = 'Redis is back: rate limits are shared again';

/** A redis-server of the test's own on `port`, without persistence, so a restart starts empty. */
async function ownRedis(port: number): Promise<ChildProcess> {
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await until(() => cli(port, 'PING') === 'PONG', 'redis-server answers');
  return child;
}

function cli(port: number, ...args: string[]): string {
  try {
    return execFileSync('/usr/bin/redis-cli', ['-p', String(port), ...args], { stdio: 'pipe' }).toString().trim();
  } catch {
    return '';
  }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each(DATABASES)('Redis outage (%s)', (kind) => {
  let port: number;
  let redis: ChildProcess;
  let server: TestServer;
  let worker: Credentials;
  let web: Credentials;
  const lines: { level: number; msg: string }[] = [];

  beforeAll(async () => {
    port = await freePort();
    redis = await ownRedis(port);
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))));
    const logger = pino({ level: 'info' }, stream) as unknown as FastifyBaseLogger;
    server = await startTestServer(kind, { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_TOKEN_PER_CLIENT: String(LIMIT) }, { logger });
    worker = await setUpWorker(server);
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server);
  });
  afterAll(async () => {
    await server?.stop();
    redis?.kill('SIGKILL');
  });

  const token = (client: Credentials) => postForm(server, '/token', client, ccForm);
  const freshClient = async (name: string): Promise<Credentials> => {
    const created = await server.services.clients.create({ name, grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
    return { id: created.client.clientId, secret: created.clientSecret! };
  };
  /** The client's token counter as Redis holds it ('' while there is none). */
  const sharedCount = (client: Credentials) => {
    const [key] = cli(port, '--scan', '--pattern', `ostiary-rl-*token-client:${client.id}`).split('\n').filter(Boolean);
    return key ? cli(port, 'GET', key) : '';
  };
  const readyz = async () => {
    const response = await fetch(`${server.url}/readyz`);
    return { status: response.status, body: (await response.json()) as { status: string; checks: Record<string, string> } };
  };
  const logged = (msg: string) => lines.filter((l) => l.msg === msg);

  it('counts in this process while Redis is gone, says so once, and shares the counters again when it is back', async () => {
    expect((await token(worker)).status).toBe(200);
    expect((await token(worker)).status).toBe(200);
    expect(sharedCount(worker)).toBe('2');
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', checks: expect.objectContaining({ redis: 'ok' }) } });

    redis.kill('SIGKILL');
    await once(redis, 'exit');
    const burst = await freshClient('burst');
    for (let i = 0; i < LIMIT; i += 1) expect((await token(burst)).status, `request ${i + 1}`).toBe(200);
    const limited = await token(burst);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA);
    expect(tokens.id_token).toEqual(expect.any(String));
    const degraded = await readyz();
    expect(degraded).toEqual({ status: 200, body: { status: 'degraded', checks: { database: 'ok', migrations: 'ok', signing_keys: 'ok', redis: 'degraded: counting in this process' } } });
    expect(logged(LOST)).toHaveLength(1);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);

    redis = await ownRedis(port);
    await until(async () => (await readyz()).body.checks.redis === 'ok', '/readyz says Redis is ok');
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', checks: expect.objectContaining({ redis: 'ok' }) } });
    expect((await token(worker)).status).toBe(200);
    expect(sharedCount(worker)).toBe('1');
    expect(logged(BACK)).toHaveLength(1);
    expect(logged(LOST)).toHaveLength(1);
  });
});
