import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcess as ostiary } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';

interface Item {
  check: string;
  status: 'pass' | 'warn' | 'fail';
  detail: string;
  advice: string;
}

const byCheck = (items: Item[]) => Object.fromEntries(items.map((i) => [i.check, i.status]));

async function check(args: string[], env: Record<string, string> = {}) {
  const result = await ostiary(['check', ...args, '--json'], env);
  return { code: result.code, items: result.stdout ? (JSON.parse(result.stdout) as Item[]) : [], stderr: result.stderr };
}

describe('ostiary check against a good deployment', () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, ISSUER: server.issuer };
  });
  afterAll(() => server?.stop());

  it('from outside: every check passes or warns (plain http on loopback), exit 0', async () => {
    const { code, items } = await check([server.issuer]);
    expect(code).toBe(0);
    for (const item of items) expect(item.advice.length).toBeGreaterThan(0);
    expect(byCheck(items)).toMatchObject({
      https_issuer: 'warn',
      discovery_issuer: 'pass',
      discovery_endpoints: 'pass',
      endpoints_reachable: 'pass',
      jwks_public: 'pass',
      rsa_key_size: 'pass',
      clock_skew: 'pass',
      trust_proxy: 'pass',
      cors: 'pass',
    });
    expect(items.some((i) => i.status === 'fail')).toBe(false);
  });

  it('from inside: configuration and database pass, exit 0; the text form is one line per check', async () => {
    const { code, items } = await check([], env);
    expect(code).toBe(0);
    expect(byCheck(items)).toMatchObject({ key_rotation: 'pass', key_retention: 'pass', migrations: 'pass', clock_skew: 'pass', key_encryption_key: 'warn', rate_limits: 'pass', redis: 'pass' });
    const text = await ostiary(['check'], env);
    expect(text.stdout).toMatch(/\[pass\] migrations/);
    expect(text.stdout).toMatch(/\d+ passed, \d+ warnings, 0 failed/);
  });

  it('from inside: a public http issuer, https without TRUST_PROXY and a client token outliving the retired keys fail, exit 1', async () => {
    const http = await check([], { ...env, ISSUER: 'http://id.example.com' });
    expect(http.code).toBe(1);
    expect(byCheck(http.items)).toMatchObject({ https_issuer: 'fail', hsts: 'fail' });

    const https = await check([], { ...env, ISSUER: 'https://id.example.com' });
    expect(byCheck(https.items)).toMatchObject({ https_issuer: 'pass', cookies_secure: 'fail' });

    await server.services.clients.create({ name: 'long', grantTypes: ['client_credentials'], accessTokenTtl: 7 * 24 * 3600 }, { id: 'test' });
    const long = await check([], env);
    expect(long.code).toBe(1);
    expect(byCheck(long.items)).toMatchObject({ key_retention: 'fail' });
  });

  it('from inside: several workers without Redis, loose sign-in limits, TRUST_PROXY on plain http and a loopback origin in production warn', async () => {
    const loose = await check([], { ...env, WORKERS: '2', RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000', TRUST_PROXY: 'true' });
    expect(byCheck(loose.items)).toMatchObject({ redis: 'warn', rate_limits: 'warn', trust_proxy: 'warn' });
    expect(loose.items.find((i) => i.check === 'rate_limits')!.detail).toContain('RATE_LIMIT_LOGIN_PER_ACCOUNT');

    await server.services.clients.create({ name: 'dev', grantTypes: ['authorization_code'], redirectUris: ['http://localhost:5173/cb'], public: true }, { id: 'test' });
    const production = { ...env, NODE_ENV: 'production', ISSUER: 'https://id.example.com', TRUST_PROXY: 'true', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
    const prod = await check([], production);
    expect(byCheck(prod.items)).toMatchObject({ cors: 'warn', https_issuer: 'pass', cookies_secure: 'pass', key_encryption_key: 'pass' });
    expect(prod.items.find((i) => i.check === 'cors')!.detail).toContain('http://localhost:5173');
  });
});

describe('ostiary check against a database that was never migrated', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(() => database?.drop());

  it('fails on the missing migrations (applying none), then on the missing signing key', async () => {
    const env = { DATA_DIR: database.dataDir, DATABASE_URL: database.url, ISSUER: 'http://localhost:3000' };
    const bare = await check([], env);
    expect(bare.code, bare.stderr).toBe(1);
    expect(byCheck(bare.items)).toMatchObject({ migrations: 'fail', key_rotation: 'fail' });
    expect((await check([], env)).items.find((i) => i.check === 'migrations')!.status).toBe('fail');

    expect((await ostiary(['migrate'], env)).code).toBe(0);
    const migrated = await check([], env);
    expect(byCheck(migrated.items)).toMatchObject({ migrations: 'pass', key_rotation: 'fail' });
    expect(migrated.items.find((i) => i.check === 'key_rotation')!.detail).toBe('no key signs');
  });
});

describe('ostiary check against a bad issuer', () => {
  let fake: Server;
  let base: string;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'leaked', use: 'sig', alg: 'RS256' };

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    fake = createServer((req, res) => {
      // A clock an hour behind, and any origin allowed to read answers with credentials.
      res.setHeader('date', new Date(Date.now() - 3600_000).toUTCString());
      if (req.headers.origin) res.setHeader('access-control-allow-origin', req.headers.origin).setHeader('access-control-allow-credentials', 'true');
      if (req.url === '/.well-known/openid-configuration') {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ issuer: 'https://someone-else.example.com', authorization_endpoint: `${base}/auth`, token_endpoint: 'https://elsewhere.example.com/token', jwks_uri: `${base}/jwks` }));
      }
      if (req.url === '/jwks') return res.end(JSON.stringify({ keys: [privateJwk] }));
      if (req.url?.startsWith('/not-oidc/')) {
        res.statusCode = 404;
        return res.end('not here');
      }
      res.statusCode = 500;
      res.end('broken');
    });
    await new Promise<void>((resolve) => fake.listen(port, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())));

  it('fails on a mismatched issuer, endpoints elsewhere, a private key, a 1024-bit key, a server error, a clock an hour off and credentialed CORS for any origin; exit 1', async () => {
    const { code, items } = await check([base]);
    expect(code).toBe(1);
    expect(byCheck(items)).toMatchObject({
      discovery_issuer: 'fail',
      discovery_endpoints: 'fail',
      jwks_public: 'fail',
      rsa_key_size: 'fail',
      endpoints_reachable: 'fail',
      clock_skew: 'fail',
      cors: 'fail',
      trust_proxy: 'warn',
    });
    expect(items.find((i) => i.check === 'rsa_key_size')!.detail).toContain('1024 bits');
  });

  it('an unreachable or non-OIDC URL gets one line and a non-zero exit', async () => {
    const closed = await ostiary(['check', `http://127.0.0.1:${await freePort()}`], {});
    expect(closed.code).not.toBe(0);
    expect(closed.stdout).toBe('');
    expect(closed.stderr.trim().split('\n')).toHaveLength(1);
    expect(closed.stderr).toContain('cannot be reached');

    const notOidc = await ostiary(['check', `${base}/not-oidc`], {});
    expect(notOidc.code).not.toBe(0);
    expect(notOidc.stderr.trim().split('\n')).toHaveLength(1);
    expect(notOidc.stderr).toContain('not an OpenID Connect issuer');
  });
});
