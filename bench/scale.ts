// Scale run: token, refresh and sign-in latency with an empty database, then with one seeded
// with many users, clients and grants, in one run (memory over time is bench/soak.ts).
// Usage: npm run bench:scale [-- --users 1000000 --clients 100000 --grants 1000000]
// Loopback only, every load bounded in time. Writes bench/results/scale-<time>.json.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { BENCH_USER, benchEnv, seedMachineClient, seedWebClient, startServer, tokenRequest } from './support.ts';
import { hashClientSecret } from '../src/clients/secrets.ts';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase } from '../src/db/index.ts';
import { hashPassword } from '../src/users/passwords.ts';
import { codeFlow } from '../test/support/flows.ts';
import { discover, oidc } from '../test/support/relying-party.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    clients: { type: 'string', default: '100000' },
    grants: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '8' },
  },
});
const COUNTS = { users: Number(values.users), clients: Number(values.clients), grants: Number(values.grants) };
const DURATION = Number(values.duration);
const PORT = 7122;
const BASE = `http://127.0.0.1:${PORT}`;
const BATCH = 5000;

/** Bulk rows in batches; the users share one argon2id hash (hashing a million would take hours). */
async function seed(url: string) {
  const { db, close } = await openDatabase(url, { migrate: true });
  try {
    const passwordHash = await hashPassword('not a real password');
    const started = Date.now();
    for (let i = 0; i < COUNTS.users; i += BATCH) {
      const n = Math.min(BATCH, COUNTS.users - i);
      await db.user.createMany({ data: Array.from({ length: n }, (_, k) => ({ id: randomUUID(), email: `user${i + k}@seed.example.com`, passwordHash })) });
    }
    for (let i = 0; i < COUNTS.clients; i += BATCH) {
      const n = Math.min(BATCH, COUNTS.clients - i);
      await db.client.createMany({
        data: Array.from({ length: n }, () => ({
          id: randomBytes(16).toString('base64url'),
          name: 'seeded',
          secretHash: hashClientSecret(randomBytes(32).toString('base64url')),
          tokenEndpointAuthMethod: 'client_secret_basic',
          redirectUris: ['https://seeded.example.com/cb'],
          postLogoutRedirectUris: [],
          grantTypes: ['authorization_code', 'refresh_token'],
          scope: 'openid profile email',
        })),
      });
    }
    const expiresAt = new Date(Date.now() + 30 * 86_400_000);
    for (let i = 0; i < COUNTS.grants; i += BATCH) {
      const n = Math.min(BATCH, COUNTS.grants - i);
      await db.oidcPayload.createMany({
        data: Array.from({ length: n }, () => {
          const id = randomBytes(32).toString('base64url');
          const accountId = randomUUID();
          return { type: 'Grant', id, accountId, clientId: 'seeded', expiresAt, payload: { jti: id, kind: 'Grant', accountId, clientId: 'seeded', openid: { scope: 'openid' } } };
        }),
      });
    }
    return Math.round((Date.now() - started) / 1000);
  } finally {
    await close();
  }
}

async function measure(label: string) {
  const dataDir = await mkdtemp(join(tmpdir(), 'ostiary-scale-'));
  const env = benchEnv(PORT, dataDir);
  const config = loadConfig(env);
  const seedSeconds = label === 'seeded' ? await seed(config.databaseUrl) : 0;
  const m2mBasic = await seedMachineClient(env);
  const web = await seedWebClient(env);

  const server = await startServer(env);
  try {
    const token = await autocannon({ ...tokenRequest(BASE, m2mBasic), connections: 32, duration: DURATION });
    const rp = await discover(BASE, web.id, web.secret);
    const signIns: number[] = [];
    const refreshes: number[] = [];
    for (let i = 0; i < 40; i += 1) {
      let started = performance.now();
      const { tokens } = await codeFlow(rp, BENCH_USER);
      signIns.push(performance.now() - started);
      started = performance.now();
      await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      refreshes.push(performance.now() - started);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const result = {
      label,
      seedSeconds,
      tokensPerSecond: Math.round(token.requests.average),
      tokenP50ms: token.latency.p50,
      tokenP99ms: token.latency.p99,
      signInMedianMs: Math.round(median(signIns)),
      refreshMedianMs: Math.round(median(refreshes) * 10) / 10,
    };
    console.error(JSON.stringify(result));
    return result;
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const empty = await measure('empty');
const seeded = await measure('seeded');

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
const report = {
  date: new Date().toISOString(),
  counts: COUNTS,
  empty,
  seeded,
  seededOverEmpty: {
    tokenP50: ratio(seeded.tokenP50ms, empty.tokenP50ms),
    signIn: ratio(seeded.signInMedianMs, empty.signInMedianMs),
    refresh: ratio(seeded.refreshMedianMs, empty.refreshMedianMs),
  },
};
await writeFile(new URL(`results/scale-${report.date.replace(/[:.]/g, '-')}.json`, import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
