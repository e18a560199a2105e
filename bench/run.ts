// Load benchmarks against a real Ostiary process on loopback, with the signing limit measured in
// the same run. Usage: npm run bench [-- --duration 10 --connections 32]
// Writes bench/results/<time>.json and prints a Markdown table. Loopback only, bounded in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config/index.ts';
import { createServices } from '../src/services.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' } } });
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const PORT = 7120;
const BASE = `http://127.0.0.1:${PORT}`;
const MAIN = new URL('../src/main.ts', import.meta.url).pathname;

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

async function waitReady(): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (await fetch(`${BASE}/readyz`).then((r) => r.ok).catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('server did not become ready');
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

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'ostiary-bench-'));
  const env = {
    PATH: process.env.PATH ?? '',
    PORT: String(PORT),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TOKEN_PER_CLIENT: '100000000',
    RATE_LIMIT_TOKEN_PER_IP: '100000000',
    RATE_LIMIT_ADMIN_PER_KEY: '100000000',
  };
  const config = loadConfig(env);
  const services = await createServices(config, { info: () => {}, warn: () => {} }, { migrate: true });
  await services.signingKeys.ensureCurrent();
  await services.apis.create({ name: 'Bench API', audience: 'https://bench.example.com', scopes: ['bench:read'] });
  const { client, clientSecret } = await services.clients.create({ name: 'bench', grantTypes: ['client_credentials'], scopes: ['bench:read'] });
  await services.close();
  const basic = `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString('base64')}`;
  const tokenRequest = {
    url: `${BASE}/token`,
    method: 'POST' as const,
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=bench%3Aread&resource=https%3A%2F%2Fbench.example.com',
  };

  const limit = signingLimit();
  console.error(`signing limit: ${Math.round(limit)} RS256 signatures/s on one core`);
  const rows = [];
  let child: ChildProcess | undefined;
  const start = async (workers: string) => {
    child = spawn(process.execPath, [MAIN, 'serve', '--workers', workers], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    await waitReady();
  };
  const stop = async () => {
    if (!child) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await start('1');
    const token = ((await (await fetch(tokenRequest.url, tokenRequest)).json()) as { access_token: string }).access_token;
    rows.push({ ...(await load('client_credentials, JWT, 1 worker', tokenRequest)), workers: 1 });
    rows.push({ ...(await load('discovery, 1 worker', { url: `${BASE}/.well-known/openid-configuration` })), workers: 1 });
    rows.push({ ...(await load('JWKS, 1 worker', { url: `${BASE}/jwks` })), workers: 1 });
    rows.push({
      ...(await load('introspection of a JWT access token, 1 worker', {
        url: `${BASE}/token/introspection`,
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${token}`,
      })),
      workers: 1,
    });
    await stop();
    const workers = availableParallelism();
    await start('auto');
    rows.push({ ...(await load(`client_credentials, JWT, ${workers} workers`, tokenRequest)), workers });
    rows.push({ ...(await load(`discovery, ${workers} workers`, { url: `${BASE}/.well-known/openid-configuration` })), workers });
    rows.push({ ...(await load(`JWKS, ${workers} workers`, { url: `${BASE}/jwks` })), workers });
  } finally {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
  }

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    conditions: { connections: CONNECTIONS, durationSeconds: DURATION, loadGenerator: 'autocannon, same machine', database: 'SQLite (file, WAL)' },
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
