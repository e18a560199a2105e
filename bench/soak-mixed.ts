// A mixed load against two `ostiary serve` processes on one PostgreSQL database and one Redis:
// sign-ins, refresh rotations, client credentials, introspection and admin reads, spread over
// both; part way through one process is killed with SIGKILL and restarted while the load goes on.
// Then the books are checked (soak-books.ts). Run by `npm run bench:soak -- --mixed`.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/config/index.ts';
import { createServices } from '../src/services.ts';
import { SYSTEM_ACTOR } from '../src/audit/index.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { REDIRECT } from '../test/support/flows.ts';
import { oidc } from '../test/support/relying-party.ts';
import { freePort } from '../test/support/server.ts';
import { authorize, UserAgent } from '../test/support/user-agent.ts';
import { BENCH_USER, benchEnv, seedMachineClient, seedWebClient, startServer, tokenRequest } from './support.ts';

export type Op = 'sign-in' | 'refresh' | 'client-credentials' | 'introspection' | 'admin';

/** Lane i runs LANES[i % length]: every operation once in the first five, then the busier ones again. */
const LANES: readonly Op[] = ['sign-in', 'refresh', 'client-credentials', 'introspection', 'admin', 'refresh', 'client-credentials', 'sign-in', 'introspection', 'admin', 'refresh', 'client-credentials'];
/** One public name for both processes, as behind a load balancer; requests go to each by address. */
const ISSUER = 'http://ostiary.soak.test';
const ADMIN_PATHS = ['/admin/api/v1/users?limit=20', '/admin/api/v1/clients?limit=20', '/admin/api/v1/apis', '/admin/api/v1/keys'];
const REQUEST_TIMEOUT_MS = 30_000;
/** A lane pauses this long after a failed attempt, so a dead instance is not hammered in a loop. */
const BACKOFF_MS = 100;
const RING_SIZE = 64;
const SAMPLE_EVERY_MS = 2_000;
/** When in the run (as a share of it) one instance is killed. */
const KILL_AT = 0.4;
const REUSE_PROBES = 4;
const REDIS_URL = 'redis://127.0.0.1:6379';

type Server = Awaited<ReturnType<typeof startServer>>;

export interface Instance {
  name: 'a' | 'b';
  base: string;
  env: Record<string, string>;
  server: Server;
  /** 1 for the first process, 2 after the restart. */
  life: number;
  up: boolean;
}

/** Where a request went: `a1`, `b1`, `b2`, or `b-restarting` between the kill and readiness. */
const labelOf = (instance: Instance) => (instance.up ? `${instance.name}${instance.life}` : `${instance.name}-restarting`);

export interface TokenRequest {
  requestId: string;
  op: Op;
  label: string;
  /** The status once the whole answer was read; `refused` never reached a process, `cut` was cut off. */
  status: number | 'refused' | 'cut';
  answeredAt: number;
}

/** A rotation answered 200: the token sent, the one received, and the sign-in (grant) they belong to. */
export interface Rotation {
  sent: string;
  received: string;
  chain: number;
  label: string;
}

export interface Probe {
  chain: number;
  replayStatus: number;
  replayError: string;
  headStatus: number;
  replayRequestId: string;
}

export interface Ledger {
  /** `<op> <label>` -> attempts that went as expected. */
  ok: Record<string, number>;
  /** `<op> <label> <kind>` -> attempts that failed. */
  failures: Record<string, number>;
  tokenRequests: TokenRequest[];
  rotations: Rotation[];
  /** Every refresh token the load received, with its sign-in. */
  received: Map<string, number>;
  /** Every refresh token sent to a process (a refused connection reached none); none is sent twice. */
  sent: Set<string>;
  /** Refresh tokens sent whose fate the load never learned (the connection was cut). */
  unknownFate: string[];
  probes: Probe[];
}

export interface Timeline {
  startedAt: number;
  endedAt: number;
  killedAt: number;
  restartedAt: number;
  killedLabel: string;
}

export interface MemorySample {
  at: number;
  a: number | null;
  b: number | null;
}

class Unexpected extends Error {}

/** The errno-like code of a failed fetch (connection refused, reset, closed), if it was one. */
export function networkCode(error: unknown): string | undefined {
  // fetch's own failures: no connection, or the answer cut off while it was being read.
  if (!(error instanceof TypeError) || !['fetch failed', 'terminated'].includes(error.message)) return undefined;
  const cause = error.cause as { code?: string } | undefined;
  return cause?.code ?? 'UND_ERR_SOCKET';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident memory of a process in MB, from /proc/<pid>/status. */
async function rssMb(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = status.match(/^VmRSS:\s+(\d+) kB/m)?.[1];
  return kb ? Math.round(Number(kb) / 1024) : null;
}

/** A browser whose every request goes to one instance (the issuer's path on its address), tagged for the audit books. */
class InstanceAgent extends UserAgent {
  private readonly base: string;
  private readonly nextRequestId: () => string;

  constructor(base: string, nextRequestId: () => string) {
    super();
    this.base = base;
    this.nextRequestId = nextRequestId;
  }

  override request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    return super.request(`${this.base}${target.pathname}${target.search}`, { ...init, headers: tagged(init.headers, this.nextRequestId()) });
  }
}

let sequence = 0;
const nextRequestId = (op: string) => `soak-${op}-${(sequence += 1)}`;
const USER_AGENT = 'ostiary-soak-mixed';

function tagged(headers: RequestInit['headers'], requestId: string): Headers {
  const result = new Headers(headers);
  result.set('x-request-id', requestId);
  result.set('user-agent', USER_AGENT);
  return result;
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

function postToken(instance: Instance, requestId: string, authorization: string, body: string): Promise<Response> {
  return fetch(`${instance.base}/token`, {
    method: 'POST',
    headers: tagged({ authorization, 'content-type': 'application/x-www-form-urlencoded' }, requestId),
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

interface Seeded {
  m2mBasic: string;
  web: { basic: string; id: string };
  apiKey: string;
}

/** Migrations, the bench API and clients, the bench user and an admin API key with read scopes. */
async function seed(env: Record<string, string>): Promise<Seeded> {
  const m2mBasic = await seedMachineClient(env);
  const web = await seedWebClient(env);
  const services = await createServices(loadConfig(env), { info: () => {}, warn: () => {} });
  try {
    const made = await services.apiKeys.create({ name: 'soak', scopes: ['users:read', 'clients:read', 'apis:read', 'keys:read'] }, SYSTEM_ACTOR);
    return { m2mBasic, web, apiKey: made.apiKey };
  } finally {
    await services.close();
  }
}

/** The load: lanes, pools of tokens, and the ledger of what came back. */
class MixedLoad {
  readonly ledger: Ledger = { ok: {}, failures: {}, tokenRequests: [], rotations: [], received: new Map(), sent: new Set(), unknownFate: [], probes: [] };
  /** Refresh tokens not yet sent, each with its sign-in; a token leaves the pool when it is sent. */
  private readonly pool: { token: string; chain: number }[] = [];
  private readonly opaqueTokens: string[] = [];
  private readonly jwtTokens: string[] = [];
  private turn = 0;
  private introspections = 0;
  private adminReads = 0;
  private chains = 0;

  private readonly instances: Instance[];
  private readonly seeded: Seeded;

  constructor(instances: Instance[], seeded: Seeded) {
    this.instances = instances;
    this.seeded = seeded;
  }

  private pick(): Instance {
    this.turn += 1;
    return this.instances[this.turn % this.instances.length]!;
  }

  private count(table: Record<string, number>, key: string) {
    table[key] = (table[key] ?? 0) + 1;
  }

  /**
   * Runs one operation against `instance` and books it. A network error is the kill's doing
   * (expected) when the instance was down when the attempt began or went down during it.
   */
  private async attempt(op: Op, instance: Instance, body: (label: string) => Promise<void>): Promise<boolean> {
    const label = labelOf(instance);
    const life = instance.life;
    try {
      await body(label);
      this.count(this.ledger.ok, `${op} ${label}`);
      return true;
    } catch (error) {
      this.count(this.ledger.failures, `${op} ${label} ${this.kindOf(error, instance, label, life)}`);
      return false;
    }
  }

  private kindOf(error: unknown, instance: Instance, label: string, life: number): string {
    if (error instanceof Unexpected) return error.message;
    const code = networkCode(error);
    if (!code) return error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : `error: ${String(error).slice(0, 80)}`;
    const killed = label.endsWith('-restarting') || !instance.up || instance.life !== life;
    if (!killed) return `network-${code}`;
    return code === 'ECONNREFUSED' ? 'refused (instance down)' : 'cut (instance killed)';
  }

  /** A token request, booked for the audit check; the parsed 200 answer. */
  private async token(instance: Instance, op: Op, label: string, authorization: string, body: string) {
    const entry: TokenRequest = { requestId: nextRequestId(op), op, label, status: 'cut', answeredAt: 0 };
    this.ledger.tokenRequests.push(entry);
    try {
      const response = await postToken(instance, entry.requestId, authorization, body);
      const answer = (await response.json()) as { access_token?: string; refresh_token?: string; error?: string };
      entry.status = response.status;
      entry.answeredAt = Date.now();
      if (response.status !== 200 || !answer.access_token) throw new Unexpected(`http-${response.status} ${answer.error ?? ''}`.trim());
      return answer as { access_token: string; refresh_token?: string };
    } catch (error) {
      if (networkCode(error) === 'ECONNREFUSED') entry.status = 'refused';
      throw error;
    }
  }

  private async get(instance: Instance, op: Op, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${instance.base}${path}`, { ...init, headers: tagged(init.headers, nextRequestId(op)), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  }

  private keep(ring: string[], token: string) {
    ring.push(token);
    if (ring.length > RING_SIZE) ring.shift();
  }

  private async authorizationUrl(verifier: string): Promise<URL> {
    const url = new URL(`${ISSUER}/auth`);
    url.search = form({
      client_id: this.seeded.web.id,
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: REDIRECT,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
    });
    return url;
  }

  /** Authorize, the login form (argon2id), the code exchange; the refresh token joins the pool. */
  signIn(instance: Instance) {
    return this.attempt('sign-in', instance, async (label) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const agent = new InstanceAgent(instance.base, () => nextRequestId('sign-in'));
      const { callbackUrl } = await authorize(agent, await this.authorizationUrl(verifier), REDIRECT, BENCH_USER);
      const code = new URL(callbackUrl).searchParams.get('code');
      if (!code) throw new Unexpected('no code');
      const set = await this.token(instance, 'sign-in', label, this.seeded.web.basic, form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }));
      if (!set.refresh_token) throw new Unexpected('no refresh token');
      this.chains += 1;
      this.ledger.received.set(set.refresh_token, this.chains);
      this.pool.push({ token: set.refresh_token, chain: this.chains });
      this.keep(this.opaqueTokens, set.access_token);
    });
  }

  /** Sends one pooled refresh token, once: only a connection refused (it reached no process) puts it back. */
  async refresh(instance: Instance): Promise<boolean> {
    const next = this.pool.shift();
    if (!next) return sleep(BACKOFF_MS).then(() => true);
    return this.attempt('refresh', instance, async (label) => {
      try {
        const set = await this.token(instance, 'refresh', label, this.seeded.web.basic, form({ grant_type: 'refresh_token', refresh_token: next.token }));
        this.ledger.sent.add(next.token);
        if (!set.refresh_token) throw new Unexpected('no refresh token');
        this.ledger.rotations.push({ sent: next.token, received: set.refresh_token, chain: next.chain, label });
        this.ledger.received.set(set.refresh_token, next.chain);
        this.pool.push({ token: set.refresh_token, chain: next.chain });
        this.keep(this.opaqueTokens, set.access_token);
      } catch (error) {
        if (networkCode(error) === 'ECONNREFUSED') this.pool.push(next);
        else if (!this.ledger.sent.has(next.token)) {
          this.ledger.sent.add(next.token);
          if (networkCode(error)) this.ledger.unknownFate.push(next.token);
        }
        throw error;
      }
    });
  }

  clientCredentials(instance: Instance) {
    return this.attempt('client-credentials', instance, async (label) => {
      const request = tokenRequest(instance.base, this.seeded.m2mBasic);
      const set = await this.token(instance, 'client-credentials', label, request.headers.authorization, request.body);
      this.keep(this.jwtTokens, set.access_token);
    });
  }

  /** An opaque access token (as the web client) or a JWT one (as the machine client), taken in turn. */
  async introspection(instance: Instance): Promise<boolean> {
    const opaque = (this.introspections += 1) % 2 === 0;
    const ring = opaque ? this.opaqueTokens : this.jwtTokens;
    const token = ring[Math.floor(Math.random() * ring.length)];
    if (!token) return sleep(BACKOFF_MS).then(() => true);
    return this.attempt('introspection', instance, async () => {
      const response = await this.get(instance, 'introspection', '/token/introspection', {
        method: 'POST',
        headers: { authorization: opaque ? this.seeded.web.basic : this.seeded.m2mBasic, 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ token }),
      });
      const answer = (await response.json()) as { active?: boolean };
      if (response.status !== 200) throw new Unexpected(`http-${response.status}`);
      if (answer.active !== true) throw new Unexpected('inactive');
    });
  }

  admin(instance: Instance) {
    return this.attempt('admin', instance, async () => {
      const response = await this.get(instance, 'admin', ADMIN_PATHS[(this.adminReads += 1) % ADMIN_PATHS.length]!, { headers: { authorization: `Bearer ${this.seeded.apiKey}` } });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Unexpected(`http-${response.status}`);
    });
  }

  async lane(op: Op, until: number): Promise<void> {
    const run = { 'sign-in': this.signIn, refresh: this.refresh, 'client-credentials': this.clientCredentials, introspection: this.introspection, admin: this.admin }[op].bind(this);
    while (Date.now() < until) {
      if (!(await run(this.pick()))) await sleep(BACKOFF_MS);
    }
  }

  /**
   * On purpose, after the load: a refresh token already redeemed comes back (must be refused and
   * revoke its grant), then that chain's unredeemed token (must be refused: its grant is gone).
   */
  async probeReuse(): Promise<void> {
    const heads = new Map([...this.ledger.received].filter(([token]) => !this.ledger.sent.has(token)).map(([token, chain]) => [chain, token]));
    const probed = new Set<number>();
    for (const rotation of this.ledger.rotations) {
      const head = heads.get(rotation.chain);
      if (probed.size === REUSE_PROBES) break;
      if (!head || probed.has(rotation.chain)) continue;
      probed.add(rotation.chain);
      await this.probe(this.instances[probed.size % this.instances.length]!, rotation, head);
    }
  }

  private async probe(instance: Instance, rotation: Rotation, head: string): Promise<void> {
    const post = async (refreshToken: string) => {
      const requestId = nextRequestId('reuse');
      const response = await postToken(instance, requestId, this.seeded.web.basic, form({ grant_type: 'refresh_token', refresh_token: refreshToken }));
      return { requestId, status: response.status, error: ((await response.json()) as { error?: string }).error ?? '' };
    };
    const replay = await post(rotation.sent);
    const afterwards = await post(head);
    this.ledger.probes.push({ chain: rotation.chain, replayStatus: replay.status, replayError: replay.error, headStatus: afterwards.status, replayRequestId: replay.requestId });
  }
}

async function killAndRestart(instance: Instance, at: number, timeline: Timeline): Promise<void> {
  await sleep(at - Date.now());
  const exited = once(instance.server.child, 'exit');
  timeline.killedLabel = labelOf(instance);
  instance.up = false;
  timeline.killedAt = Date.now();
  instance.server.child.kill('SIGKILL');
  await exited;
  instance.server = await startServer(instance.env);
  instance.life += 1;
  instance.up = true;
  timeline.restartedAt = Date.now();
}

function sampleMemory(instances: Instance[], startedAt: number, samples: MemorySample[]): () => void {
  const timer = setInterval(() => {
    void Promise.all(instances.map((i) => rssMb(i.up ? i.server.child.pid : undefined))).then(([a, b]) => {
      samples.push({ at: Math.round((Date.now() - startedAt) / 1000), a: a ?? null, b: b ?? null });
    });
  }, SAMPLE_EVERY_MS);
  return () => clearInterval(timer);
}

export interface MixedRun {
  ledger: Ledger;
  timeline: Timeline;
  memory: MemorySample[];
  databaseUrl: string;
  versions: Record<string, string>;
  drop(): Promise<void>;
}

async function startInstance(name: Instance['name'], shared: Record<string, string>, dataDir: string): Promise<Instance> {
  const port = await freePort();
  const env = { ...benchEnv(port, dataDir), ...shared };
  return { name, base: `http://127.0.0.1:${port}`, env, server: await startServer(env), life: 1, up: true };
}

async function serverVersions(databaseUrl: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const postgres = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  await client.end();
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  const redisVersion = (await redis.info('server')).match(/redis_version:(\S+)/)?.[1] ?? 'unknown';
  redis.disconnect();
  const oidcProvider = JSON.parse(await readFile(new URL('../node_modules/oidc-provider/package.json', import.meta.url), 'utf8')) as { version: string };
  return { node: process.version, postgresql: postgres, redis: redisVersion, oidcProvider: oidcProvider.version };
}

/** The whole run: a fresh database, two instances, the load with the kill, the reuse probe; both stopped after. */
export async function runMixed(seconds: number, connections: number): Promise<MixedRun> {
  const database = await createTestDatabase('postgresql');
  const shared = { DATABASE_URL: database.url, REDIS_URL, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), ISSUER };
  const seedEnv = { ...benchEnv(await freePort(), database.dataDir), ...shared };
  try {
    const seeded = await seed(seedEnv);
    const instances = [await startInstance('a', shared, database.dataDir), await startInstance('b', shared, database.dataDir)];
    const load = new MixedLoad(instances, seeded);
    const startedAt = Date.now();
    const timeline: Timeline = { startedAt, endedAt: 0, killedAt: 0, restartedAt: 0, killedLabel: '' };
    const memory: MemorySample[] = [];
    const stopSampling = sampleMemory(instances, startedAt, memory);
    try {
      const until = startedAt + seconds * 1000;
      const lanes = Array.from({ length: connections }, (_, i) => load.lane(LANES[i % LANES.length]!, until));
      await Promise.all([...lanes, killAndRestart(instances[1]!, startedAt + seconds * 1000 * KILL_AT, timeline)]);
      timeline.endedAt = Date.now();
      stopSampling();
      await load.probeReuse();
    } finally {
      stopSampling();
      // SIGTERM: each process writes its pending audit rows before it exits.
      for (const instance of instances) await instance.server.stop();
    }
    return { ledger: load.ledger, timeline, memory, databaseUrl: database.url, versions: await serverVersions(database.url), drop: () => database.drop() };
  } catch (error) {
    await database.drop();
    throw error;
  }
}
