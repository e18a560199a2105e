// Load benchmarks against a real Ostiary process on loopback, with the signing limit measured in
// the same run. Usage: npm run bench [-- --duration 10 --connections 32]
// Writes bench/results/<time>.json and prints a Markdown table. Loopback only, bounded in time.
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { BENCH_USER, benchEnv, seedMachineClient, seedWebClient, startServer, tokenRequest } from './support.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { codeFlow } from '../test/support/flows.ts';
import { discover, oidc } from '../test/support/relying-party.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' } } });
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const PORT = 7120;
const BASE = `http://127.0.0.1:${PORT}`;

/** RS256 (RSA-2048, SHA-256) signatures per second on one core with Node's crypto.sign. */
function signingLimit(seconds = 3): number {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = Buffer.alloc(200, 1);
  const end = Date.now() + seconds * 1000;
  let count = 0;
  while (Date.now() < end) {
    sign('sha256', data, privateKey);
    count += 1;
  }
  return count / seconds;
}

async function load(title: string, options: autocannon.Options) {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options });
  const row = {
    title,
    requestsPerSecond: Math.round(result.requests.average),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  };
  console.error(`${title}: ${row.requestsPerSecond} req/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, non-2xx ${row.non2xx}`);
  return row;
}

/** Refresh token rotations/s: each response's new refresh token goes back into the pool the next request takes from. */
async function refreshLoad(title: string, basic: string, pool: string[]) {
  return load(title, {
    url: `${BASE}/token`,
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: `grant_type=refresh_token&refresh_token=${pool.shift()}` }),
        onResponse: (status, body) => {
          if (status === 200) pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
        },
      },
    ],
  });
}

/** Complete sign-ins per second (authorize, login form with argon2id, consent, code exchange), `concurrency` at a time. */
async function signInLoad(title: string, rp: oidc.Configuration, concurrency = 8) {
  const end = Date.now() + DURATION * 1000;
  const latencies: number[] = [];
  let failures = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        try {
          await codeFlow(rp, BENCH_USER);
          latencies.push(performance.now() - started);
        } catch {
          failures += 1;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const row = { title, requestsPerSecond: Math.round((latencies.length / DURATION) * 10) / 10, p50ms: at(0.5), p99ms: at(0.99), non2xx: failures, errors: 0, total: latencies.length };
  console.error(`${title}: ${row.requestsPerSecond} sign-ins/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, failures ${failures}`);
  return row;
}

/** Sets up an API, a client credentials client, a user and a web client; returns what the loads need. */
async function seed(env: Record<string, string>) {
  return { m2mBasic: await seedMachineClient(env), web: await seedWebClient(env) };
}

/** The tokens of `count` separate sign-ins (separate grants): refresh tokens for the refresh load, opaque access tokens to introspect. */
async function signIns(rp: oidc.Configuration, count: number) {
  const tokens: { refresh: string; access: string }[] = [];
  for (let i = 0; i < count; i += 1) {
    const { tokens: set } = await codeFlow(rp, BENCH_USER);
    tokens.push({ refresh: set.refresh_token!, access: set.access_token });
  }
  return tokens;
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'ostiary-bench-'));
  const env = benchEnv(PORT, dataDir);
  const { m2mBasic: basic, web } = await seed(env);
  const m2mRequest = tokenRequest(BASE, basic);

  const limit = signingLimit();
  console.error(`signing limit: ${Math.round(limit)} RS256 signatures/s on one core`);
  const rows = [];
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const start = async (workers: string) => {
    server = await startServer(env, ['--workers', workers]);
  };
  const stop = async () => {
    await server?.stop();
    server = undefined;
  };
  const introspection = (title: string, clientBasic: string, token: string) =>
    load(title, {
      url: `${BASE}/token/introspection`,
      method: 'POST',
      headers: { authorization: clientBasic, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${token}`,
    });
  try {
    await start('1');
    const jwt = ((await (await fetch(m2mRequest.url, m2mRequest)).json()) as { access_token: string }).access_token;
    rows.push({ ...(await load('client_credentials, JWT, 1 worker', m2mRequest)), workers: 1 });
    rows.push({ ...(await load('discovery, 1 worker', { url: `${BASE}/.well-known/openid-configuration` })), workers: 1 });
    rows.push({ ...(await load('JWKS, 1 worker', { url: `${BASE}/jwks` })), workers: 1 });
    rows.push({ ...(await introspection('introspection of a JWT access token, 1 worker', basic, jwt)), workers: 1 });
    const rp = await discover(BASE, web.id, web.secret);
    const tokens = await signIns(rp, CONNECTIONS * 2);
    rows.push({ ...(await introspection('introspection of an opaque access token, SQLite, 1 worker', web.basic, tokens[0]!.access)), workers: 1 });
    rows.push({ ...(await refreshLoad('refresh_token rotation, SQLite, 1 worker', web.basic, tokens.map((t) => t.refresh))), workers: 1 });
    rows.push({ ...(await signInLoad('full sign-in (login form, argon2id, code exchange), SQLite, 1 worker, 8 at a time', rp)), workers: 1 });
    await stop();

    // The same refresh load on PostgreSQL (a fresh database, dropped afterwards).
    const postgres = await createTestDatabase('postgresql');
    const sqliteUrl = env.DATABASE_URL;
    try {
      env.DATABASE_URL = postgres.url;
      const pgSeed = await seed(env);
      await start('1');
      const pgRp = await discover(BASE, pgSeed.web.id, pgSeed.web.secret);
      rows.push({ ...(await refreshLoad('refresh_token rotation, PostgreSQL, 1 worker', pgSeed.web.basic, (await signIns(pgRp, CONNECTIONS * 2)).map((t) => t.refresh))), workers: 1 });
      await stop();
    } finally {
      if (sqliteUrl) env.DATABASE_URL = sqliteUrl;
      else delete env.DATABASE_URL;
      await postgres.drop();
    }

    const workers = availableParallelism();
    await start('auto');
    rows.push({ ...(await load(`client_credentials, JWT, ${workers} workers`, m2mRequest)), workers });
    rows.push({ ...(await load(`discovery, ${workers} workers`, { url: `${BASE}/.well-known/openid-configuration` })), workers });
    rows.push({ ...(await load(`JWKS, ${workers} workers`, { url: `${BASE}/jwks` })), workers });
  } finally {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
  }

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    conditions: { connections: CONNECTIONS, durationSeconds: DURATION, loadGenerator: 'autocannon, same machine', database: 'SQLite (file, WAL) unless the row says PostgreSQL (local server)' },
    signingLimitPerCore: Math.round(limit),
    rows: rows.map((row) => ({
      ...row,
      // Tokens per second over what the cores used could sign.
      ...(row.title.startsWith('client_credentials') ? { shareOfSigningLimit: Number((row.requestsPerSecond / (limit * row.workers)).toFixed(2)) } : {}),
    })),
  };
  const file = new URL(`results/${results.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`| measurement | req/s | p50 ms | p99 ms | non-2xx | share of signing limit |\n|---|---:|---:|---:|---:|---:|`);
  for (const row of results.rows) {
    console.log(`| ${row.title} | ${row.requestsPerSecond} | ${row.p50ms} | ${row.p99ms} | ${row.non2xx} | ${'shareOfSigningLimit' in row ? row.shareOfSigningLimit : ''} |`);
  }
  console.log(`\nsigning limit: ${results.signingLimitPerCore} RS256 signatures/s per core (crypto.sign, RSA-2048); results in ${file.pathname}`);
}

await main();
