// Load benchmarks against a real Ostiary process on loopback, with the physical limits measured in
// the same run. Usage: npm run bench [-- --duration 10 --connections 32] [-- --quick]
// Writes bench/results/<time>.json and prints a Markdown table. Loopback only, bounded in time.
import { generateKeyPairSync, sign } from 'node:crypto';
import { hashPassword, verifyPassword } from '../src/users/passwords.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { BENCH_USER, benchEnv, seedMachineClient, seedWebClient, startServer, tokenRequest } from './support.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { codeFlow, REDIRECT } from '../test/support/flows.ts';
import { authorize, UserAgent } from '../test/support/user-agent.ts';
import { discover, oidc } from '../test/support/relying-party.ts';

const { values } = parseArgs({ options: { duration: { type: 'string' }, connections: { type: 'string' }, quick: { type: 'boolean', default: false } } });
// --quick: a check before a change (under 3 minutes), short loads; the full run is the default.
const QUICK = values.quick;
const DURATION = Number(values.duration ?? (QUICK ? 3 : 10));
const CONNECTIONS = Number(values.connections ?? (QUICK ? 16 : 32));
const LIMIT_SECONDS = QUICK ? 1 : 3;
const PORT = 7120;
const BASE = `http://127.0.0.1:${PORT}`;

/** Signatures per second on one core with Node's crypto.sign: RS256 (RSA-2048, SHA-256) or ES256 (P-256). */
function signingLimit(kind: 'rsa' | 'ec' = 'rsa', seconds = LIMIT_SECONDS): number {
  const { privateKey } = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(200, 1);
  const end = Date.now() + seconds * 1000;
  let count = 0;
  while (Date.now() < end) {
    sign('sha256', data, privateKey);
    count += 1;
  }
  return count / seconds;
}

/**
 * argon2id verifications per second on all cores, with the library and parameters sign-in uses
 * (src/users/passwords.ts), as many at a time as libuv's threadpool runs.
 */
async function passwordLimit(seconds = LIMIT_SECONDS): Promise<number> {
  const hash = await hashPassword(BENCH_USER.password);
  const end = Date.now() + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: Number(process.env.UV_THREADPOOL_SIZE ?? 4) }, async () => {
      while (Date.now() < end) {
        await verifyPassword(hash, BENCH_USER.password);
        count += 1;
      }
    }),
  );
  return count / seconds;
}

/** Database statements the server has run (its /metrics histogram's count; with several workers, one worker's). */
async function statementCount(): Promise<number> {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  return Number(/^ostiary_db_query_duration_seconds_count (\S+)/m.exec(text)?.[1] ?? Number.NaN);
}

const perRequest = (statements: number, total: number) => (total > 0 && Number.isFinite(statements) ? Number((statements / total).toFixed(1)) : null);

async function load(title: string, options: autocannon.Options) {
  const before = await statementCount();
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options });
  const statements = (await statementCount()) - before;
  const row = {
    title,
    statementsPerRequest: perRequest(statements, result.requests.total),
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

/** Authorization codes for one signed-in browser, issued ahead (the session makes each a redirect), all with one verifier. */
async function issueCodes(rp: oidc.Configuration, count: number): Promise<{ codes: string[]; verifier: string }> {
  const agent = new UserAgent();
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const codes: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' });
    const { callbackUrl } = await authorize(agent, url, REDIRECT, BENCH_USER);
    codes.push(new URL(callbackUrl).searchParams.get('code')!);
  }
  return { codes, verifier };
}

/** Code exchanges per second (the authorization_code grant alone), each request redeeming a code issued ahead. */
async function codeExchangeLoad(title: string, basic: string, { codes, verifier }: { codes: string[]; verifier: string }) {
  const tail = `&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${verifier}`;
  // Exactly as many requests as codes: each is redeemed once, and the rate is over the time they took.
  return load(title, {
    amount: codes.length,
    url: `${BASE}/token`,
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    requests: [{ setupRequest: (request) => ({ ...request, body: `grant_type=authorization_code&code=${codes.shift() ?? 'exhausted'}${tail}` }) }],
  });
}

/** Complete sign-ins per second (authorize, login form with argon2id, consent, code exchange), `concurrency` at a time. */
async function signInLoad(title: string, rp: oidc.Configuration, concurrency = 8) {
  const end = Date.now() + DURATION * 1000;
  const latencies: number[] = [];
  let failures = 0;
  const before = await statementCount();
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
  const statements = (await statementCount()) - before;
  const row = { title, statementsPerRequest: perRequest(statements, latencies.length), requestsPerSecond: Math.round((latencies.length / DURATION) * 10) / 10, p50ms: at(0.5), p99ms: at(0.99), non2xx: failures, errors: 0, total: latencies.length };
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

  const limit = signingLimit('rsa');
  const ecLimit = signingLimit('ec');
  const argon2Limit = await passwordLimit();
  console.error(`limits: ${Math.round(limit)} RS256 and ${Math.round(ecLimit)} ES256 signatures/s on one core, ${Math.round(argon2Limit)} argon2id verifications/s on all cores`);
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
    // A few seconds' worth of exchanges at a few hundred per second.
    rows.push({ ...(await codeExchangeLoad('authorization_code exchange, SQLite, 1 worker', web.basic, await issueCodes(rp, DURATION * 200))), workers: 1 });
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
    es256SigningLimitPerCore: Math.round(ecLimit),
    argon2idVerificationsPerSecond: Math.round(argon2Limit),
    quick: QUICK,
    rows: rows.map((row) => ({
      ...row,
      // Tokens per second over what the cores used could sign.
      ...(row.title.startsWith('client_credentials') ? { shareOfSigningLimit: Number((row.requestsPerSecond / (limit * row.workers)).toFixed(2)) } : {}),
    })),
  };
  const file = new URL(`results/${results.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`| measurement | req/s | p50 ms | p99 ms | non-2xx | statements per request | share of signing limit |\n|---|---:|---:|---:|---:|---:|---:|`);
  for (const row of results.rows) {
    console.log(`| ${row.title} | ${row.requestsPerSecond} | ${row.p50ms} | ${row.p99ms} | ${row.non2xx} | ${row.statementsPerRequest ?? ''} | ${'shareOfSigningLimit' in row ? row.shareOfSigningLimit : ''} |`);
  }
  const cc = results.rows.find((row) => row.title === 'client_credentials, JWT, 1 worker')?.requestsPerSecond ?? 0;
  const ratio = (title: string) => (cc ? Number(((results.rows.find((row) => row.title.startsWith(title))?.requestsPerSecond ?? 0) / cc).toFixed(2)) : 0);
  const signInRate = results.rows.find((row) => row.title.startsWith('full sign-in'))?.requestsPerSecond ?? 0;
  console.log(`\nlimits: ${results.signingLimitPerCore} RS256 and ${results.es256SigningLimitPerCore} ES256 signatures/s per core (crypto.sign), ${results.argon2idVerificationsPerSecond} argon2id verifications/s on all cores`);
  console.log(`ratios to client_credentials (1 worker): refresh SQLite ${ratio('refresh_token rotation, SQLite')}, refresh PostgreSQL ${ratio('refresh_token rotation, PostgreSQL')}, code exchange ${ratio('authorization_code exchange')}; sign-ins per argon2id verification/s: ${(signInRate / results.argon2idVerificationsPerSecond).toFixed(2)}`);
  console.log(`results in ${file.pathname}`);
}

await main();
