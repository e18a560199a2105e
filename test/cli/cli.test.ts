import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ostiary } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

describe('ostiary CLI', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const run = (args: string[], stdin?: string) => ostiary(args, env, stdin);
  /** A successful --json command: exactly one JSON document on stdout. */
  async function json(args: string[], stdin?: string) {
    const result = await run([...args, '--json'], stdin);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  }

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    env = { DATA_DIR: database.dataDir, DATABASE_URL: database.url };
  });
  afterAll(() => database?.drop());

  it('migrate applies the committed migrations once', async () => {
    const first = await json(['migrate']);
    expect(first.database).toBe('sqlite');
    expect(first.applied.length).toBeGreaterThan(0);
    expect((await json(['migrate'])).applied).toEqual([]);
  });

  it('creates and lists APIs, clients and users with snake_case JSON', async () => {
    const api = await json(['apis', 'create', '--name', 'Billing API', '--audience', 'https://billing.example.com', '--scope', 'invoices:read', '--scope', 'invoices:write ledger:read']);
    expect(api).toMatchObject({ name: 'Billing API', audience: 'https://billing.example.com', scopes: ['invoices:read', 'invoices:write', 'ledger:read'] });
    expect(api.id).toEqual(expect.any(String));

    const worker = await json(['clients', 'create', '--name', 'billing-worker', '--grant', 'client_credentials', '--scope', 'invoices:read']);
    expect(worker).toMatchObject({ client_name: 'billing-worker', grant_types: ['client_credentials'], scope: 'invoices:read', token_endpoint_auth_method: 'client_secret_basic' });
    expect(worker.client_secret).toMatch(/^[\w-]{43}$/);

    const web = await json(['clients', 'create', '--name', 'web', '--grant', 'authorization_code', '--grant', 'refresh_token', '--redirect-uri', 'https://app.example.com/cb', '--public', '--first-party']);
    expect(web).toMatchObject({ token_endpoint_auth_method: 'none', first_party: true, redirect_uris: ['https://app.example.com/cb'] });
    expect(web).not.toHaveProperty('client_secret');

    const shown = await json(['clients', 'show', worker.client_id]);
    expect(shown.client_id).toBe(worker.client_id);
    expect(shown).not.toHaveProperty('client_secret');
    expect((await json(['clients', 'list'])).map((c: { client_id: string }) => c.client_id)).toEqual([worker.client_id, web.client_id]);

    const user = await json(['users', 'create', '--email', 'Ada@Example.com', '--name', 'Ada', '--password-stdin'], 'a long enough password\n');
    expect(user).toMatchObject({ email: 'ada@example.com', name: 'Ada', email_verified: false, disabled: false });
    expect(user).not.toHaveProperty('password_hash');
    expect((await json(['users', 'set-password', 'ada@example.com', '--password-stdin'], 'another long password\n')).id).toBe(user.id);
    expect(await json(['users', 'list'])).toHaveLength(1);
    expect(await json(['apis', 'list'])).toHaveLength(1);

    await json(['clients', 'delete', web.client_id]);
    const missing = await run(['clients', 'show', web.client_id]);
    expect(missing.code).toBe(3);
  });

  it('manages roles and shows them on users and clients', async () => {
    const role = await json(['roles', 'create', '--name', 'accountant', '--permission', 'invoices:read', '--permission', 'invoices:*']);
    expect(role).toMatchObject({ name: 'accountant', permissions: ['invoices:*', 'invoices:read'] });
    const user = await json(['users', 'create', '--email', 'grace@example.com', '--role', 'accountant', '--password-stdin'], 'a long enough password');
    expect(user.roles).toEqual(['accountant']);
    const client = await json(['clients', 'create', '--name', 'svc', '--grant', 'client_credentials', '--role', 'accountant', '--access-token-ttl', '300']);
    expect(client).toMatchObject({ roles: ['accountant'], access_token_ttl: 300 });
    await json(['roles', 'revoke', 'accountant', '--user', 'grace@example.com']);
    expect((await json(['users', 'list'])).find((u: { email: string }) => u.email === 'grace@example.com').roles).toEqual([]);
    await json(['roles', 'grant', 'accountant', '--user', user.id]);
    expect(await json(['users', 'grants', 'grace@example.com'])).toEqual([]);
    expect(await json(['users', 'revoke-grants', 'grace@example.com'])).toEqual({ revoked: 0 });
    expect((await json(['roles', 'list'])).map((r: { name: string }) => r.name)).toEqual(['accountant']);
    const unknownRole = await run(['users', 'create', '--email', 'x@example.com', '--role', 'nope', '--password-stdin'], 'a long enough password');
    expect(unknownRole.code).toBe(3);
    expect(unknownRole.stderr).toMatch(/no role nope/);
  });

  it.each([
    [['clients', 'create', '--name', 'x', '--grant', 'implicit'], 2, /unsupported grant type implicit/],
    [['clients', 'create', '--name', 'x', '--grant', 'authorization_code'], 2, /needs at least one --redirect-uri/],
    [['clients', 'create', '--name', 'x', '--grant', 'authorization_code', '--redirect-uri', 'https://a.example.com/cb#frag'], 2, /fragment/],
    [['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--scope', 'nope:read'], 2, /not defined by any API/],
    [['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--public'], 2, /public client cannot use client_credentials/],
    [['clients', 'create', '--name', 'x', '--bogus'], 2, /bogus/],
    [['apis', 'create', '--name', 'x', '--audience', 'not a url'], 2, /absolute URI/],
    [['users', 'create', '--email', 'bob@example.com'], 2, /--password-stdin is required/],
    [['nonsense'], 2, /unknown command nonsense/],
    [['roles', 'create', '--name', 'r', '--permission', 'inv*oices'], 2, /invalid permission/],
    [['roles', 'grant', 'accountant'], 2, /exactly one of --user/],
    [['keys', 'revoke', 'some-kid'], 2, /--yes/],
    [['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--access-token-ttl', '1h'], 2, /whole number of seconds/],
  ])('%j fails with exit %i and a clear message, printing nothing on stdout', async (args, code, message) => {
    const result = await run([...(args as string[]), '--json']);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message as RegExp);
    expect(result.stdout).toBe('');
  });

  it('refuses a duplicate user with exit 4 and a short password with exit 2', async () => {
    expect((await run(['users', 'create', '--email', 'ada@example.com', '--password-stdin'], 'a long enough password')).code).toBe(4);
    const short = await run(['users', 'create', '--email', 'eve@example.com', '--password-stdin'], 'short');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 8 characters/);
  });

  it('names the variable when the configuration is wrong', async () => {
    const result = await ostiary(['clients', 'list'], { ...env, PORT: 'abc' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PORT/);
    const production = await ostiary(['serve'], { ...env, NODE_ENV: 'production', ISSUER: 'https://id.example.com', PORT: '0' });
    expect(production.code).toBe(2);
    expect(production.stderr).toMatch(/KEY_ENCRYPTION_KEY/);
  });
});
