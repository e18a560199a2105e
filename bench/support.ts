import { spawn, type ChildProcess } from 'node:child_process';
import { HEAP_FLAGS } from '../src/cli/commands/serve.ts';
import { loadConfig } from '../src/config/index.ts';
import { createServices } from '../src/services.ts';
import { SYSTEM_ACTOR } from '../src/audit/index.ts';
import { basicAuth } from '../test/support/fixtures.ts';
import { REDIRECT } from '../test/support/flows.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;

/** The environment of a benchmarked server: loopback, quiet logs, every rate limit out of the way. */
export function benchEnv(port: number, dataDir: string): Record<string, string> {
  const unlimited = '100000000';
  return {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TOKEN_PER_CLIENT: unlimited,
    RATE_LIMIT_TOKEN_PER_IP: unlimited,
    RATE_LIMIT_ADMIN_PER_KEY: unlimited,
    RATE_LIMIT_AUTHORIZE_PER_IP: unlimited,
    RATE_LIMIT_LOGIN_PER_IP: unlimited,
    RATE_LIMIT_LOGIN_PER_ACCOUNT: unlimited,
    // Codes are issued ahead of the code-exchange load, more of them than a minute makes.
    AUTHORIZATION_CODE_TTL_SECONDS: '600',
  };
}

export const BENCH_API = 'https://bench.example.com';

/** A client credentials token request for the bench API, as autocannon options. */
export function tokenRequest(base: string, basic: string) {
  return {
    url: `${base}/token`,
    method: 'POST' as const,
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&scope=bench%3Aread&resource=${encodeURIComponent(BENCH_API)}`,
  };
}

/** Migrates the database, ensures a signing key and the bench API, registers a client credentials client. */
export async function seedMachineClient(env: Record<string, string>): Promise<string> {
  const services = await createServices(loadConfig(env), { info: () => {}, warn: () => {} }, { migrate: true });
  try {
    await services.signingKeys.ensureCurrent();
    if (!(await services.apis.list()).some((api) => api.audience === BENCH_API)) {
      await services.apis.create({ name: 'Bench API', audience: BENCH_API, scopes: ['bench:read'] }, SYSTEM_ACTOR);
    }
    const m2m = await services.clients.create({ name: 'bench', grantTypes: ['client_credentials'], scopes: ['bench:read'] }, SYSTEM_ACTOR);
    return basicAuth(m2m.client.clientId, m2m.clientSecret!);
  } finally {
    await services.close();
  }
}

/** The user every sign-in load signs in as. */
export const BENCH_USER = { email: 'bench@example.com', password: 'correct horse battery staple' };

/** Registers BENCH_USER and a first-party web client (code flow with refresh) redirecting to REDIRECT. */
export async function seedWebClient(env: Record<string, string>) {
  const services = await createServices(loadConfig(env), { info: () => {}, warn: () => {} });
  try {
    await services.users.create(BENCH_USER, SYSTEM_ACTOR);
    const web = await services.clients.create({ name: 'web', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], firstParty: true }, SYSTEM_ACTOR);
    return { id: web.client.clientId, secret: web.clientSecret!, basic: basicAuth(web.client.clientId, web.clientSecret!) };
  } finally {
    await services.close();
  }
}

export async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (await fetch(`${base}/readyz`).then((r) => r.ok).catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('server did not become ready');
}

/**
 * `ostiary serve` in a child process, started as `npm start` starts it (with its heap flags)
 * unless `nodeFlags` says otherwise; ready when this resolves.
 */
export async function startServer(env: Record<string, string>, args: string[] = [], nodeFlags: string[] = HEAP_FLAGS) {
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, MAIN, 'serve', ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitReady(`http://127.0.0.1:${env.PORT}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    child,
    async stop(): Promise<void> {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The server's resident memory and V8 heap, from its /metrics. */
export async function memoryOf(base: string): Promise<{ rssMb: number; heapTotalMb: number; heapUsedMb: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const mb = (name: string) => Math.round(Number(text.match(new RegExp(`^ostiary_${name} (\\S+)`, 'm'))?.[1] ?? 0) / 1_048_576);
  return { rssMb: mb('process_resident_memory_bytes'), heapTotalMb: mb('nodejs_heap_size_total_bytes'), heapUsedMb: mb('nodejs_heap_size_used_bytes') };
}
