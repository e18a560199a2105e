import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ostiary } from '../support/cli.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

// Each step starts a real `ostiary` process (about a second each on a busy 2-core machine).
describe('ostiary CLI', { timeout: 120_000 }, () => {
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

  it('creates registration tokens that register clients, lists them, and revokes them; operators see and delete registered clients', async () => {
    const created = await json(['clients', 'registration-token', 'create', '--max-clients', '2', '--expires-in', '1d']);
    expect(created).toMatchObject({ id: expect.any(String), max_clients: 2, revoked_at: null });
    expect(created.token).toMatch(/^[\w-]{43}$/);
    expect(await json(['clients', 'registration-token', 'list'])).toEqual([expect.not.objectContaining({ token: expect.anything() })]);

    const server = await startTestServer('sqlite', { DYNAMIC_REGISTRATION: 'token' }, { database });
    let clientId: string;
    try {
      const response = await fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { authorization: `Bearer ${created.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'registered', redirect_uris: ['https://app.example.com/cb'] }),
      });
      expect(response.status).toBe(201);
      clientId = ((await response.json()) as { client_id: string }).client_id;
    } finally {
      await server.stop();
    }
    const listed = (await json(['clients', 'list'])) as { client_id: string; registered: boolean }[];
    expect(listed.find((c) => c.client_id === clientId)).toMatchObject({ registered: true });
    expect(listed.filter((c) => c.client_id !== clientId).every((c) => !c.registered)).toBe(true);
    await json(['clients', 'delete', clientId]);

    expect(await json(['clients', 'registration-token', 'revoke', created.id])).toMatchObject({ id: created.id, revoked_at: expect.any(String) });
    expect((await run(['clients', 'registration-token', 'revoke', 'nope'])).code).toBe(3);
    expect((await run(['clients', 'registration-token', 'create', '--max-clients', 'many'])).code).toBe(2);
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

  it('refuses a duplicate user with exit 4 and a short or common password with exit 2', async () => {
    expect((await run(['users', 'create', '--email', 'ada@example.com', '--password-stdin'], 'a long enough password')).code).toBe(4);
    const short = await run(['users', 'create', '--email', 'eve@example.com', '--password-stdin'], 'short');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 12 characters/);
    const common = await run(['users', 'create', '--email', 'eve@example.com', '--password-stdin'], 'password1234');
    expect(common.code).toBe(2);
    expect(common.stderr).toMatch(/too easy to guess/);
    expect(common.stderr).not.toContain('password1234');
  });

  it('invites an address and resends a verification link, mailing each (as .eml files without SMTP_URL)', async () => {
    const invited = await json(['users', 'invite', '--email', 'Barbara@Example.com']);
    expect(invited).toMatchObject({ email: 'barbara@example.com', expires_at: expect.any(String) });
    const taken = await run(['users', 'invite', '--email', 'ada@example.com']);
    expect(taken.code).toBe(4);
    expect((await json(['users', 'resend-verification', 'ada@example.com'])).email).toBe('ada@example.com');
    const unknown = await run(['users', 'resend-verification', 'nobody@example.com']);
    expect(unknown.code).toBe(3);
    const queued = await json(['audit', '--type', 'mail.queued']);
    expect(queued.map((e: { details: { template: string } }) => e.details.template)).toEqual(expect.arrayContaining(['invitation', 'verify-email']));
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

describe.each(DATABASES)('ostiary CLI and email addresses (%s)', (kind) => {
  /** A command on PostgreSQL takes about 12 s: the process lingers until the pool's idle connection times out. */
  const SLOW = 120_000;
  let server: TestServer;
  let env: Record<string, string>;
  const password = 'a long enough password';
  const create = (email: string) => ostiary(['users', 'create', '--email', email, '--password-stdin', '--json'], env, password);
  const check = async (...flags: string[]) => {
    const result = await ostiary(['users', 'check-emails', ...flags, '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  };

  beforeAll(async () => {
    server = await startTestServer(kind);
    env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url };
  });
  afterAll(() => server?.stop());

  it('treats look-alikes of an existing address as the same person or refuses them', async () => {
    expect((await create('ada@example.com')).code).toBe(0);
    const sameAddress = ['ａｄａ@example.com', 'ada@example.com.', 'ADA@Example.com'];
    const refused = [
      ['ada@exam\u200Bple.com', /U\+200B/],
      ['ada@exаmple.com', /mixes scripts \(Latin, Cyrillic\)/],
    ] as const;
    const results = await Promise.all([...sameAddress, ...refused.map(([email]) => email)].map(create));
    sameAddress.forEach((email, i) => {
      expect(results[i]!.code, email).toBe(4);
      expect(results[i]!.stderr).toMatch(/a user with email ada@example.com already exists/);
    });
    refused.forEach(([email, reason], i) => {
      const result = results[sameAddress.length + i]!;
      expect(result.code, email).toBe(2);
      expect(result.stderr).toMatch(/invalid email address /);
      expect(result.stderr).toMatch(reason);
    });
    expect(await server.services.db.user.count()).toBe(1);
  }, SLOW);

  it('check-emails reports stored addresses out of normal form, fixes the clean ones and leaves the rest', async () => {
    const row = async (email: string) => (await server.services.db.user.create({ data: { id: randomUUID(), email, passwordHash: 'x' } })).id;
    const ada = (await server.services.users.resolve('ada@example.com')).id;
    const clean = await row('Grace@Example.com.');
    const twin = await row('ＡＤＡ@example.com');
    const invalid = await row('eve@exam\u200Bple.com');

    const report = await check();
    expect(report).toMatchObject({ checked: 4, fixed: 0 });
    const byId = (r: { problems: { id: string }[] }) => Object.fromEntries(r.problems.map((p) => [p.id, p]));
    expect(byId(report)).toEqual({
      [clean]: expect.objectContaining({ email: 'Grace@Example.com.', normalized: 'grace@example.com', problem: 'not_normal', fixed: false }),
      [twin]: expect.objectContaining({ normalized: 'ada@example.com', problem: 'collision', collides_with: [ada], fixed: false }),
      [invalid]: expect.objectContaining({ normalized: null, problem: 'invalid', detail: expect.stringMatching(/U\+200B/), fixed: false }),
    });
    expect((await server.services.db.user.findUnique({ where: { id: clean } }))!.email).toBe('Grace@Example.com.');

    const fixed = await check('--fix');
    expect(fixed.fixed).toBe(1);
    expect(byId(fixed)[clean]).toMatchObject({ fixed: true });
    expect(byId(fixed)[twin]).toMatchObject({ problem: 'collision', fixed: false });
    const emails = await server.services.db.user.findMany({ select: { id: true, email: true } });
    expect(Object.fromEntries(emails.map((u) => [u.id, u.email]))).toEqual({ [ada]: 'ada@example.com', [clean]: 'grace@example.com', [twin]: 'ＡＤＡ@example.com', [invalid]: 'eve@exam\u200Bple.com' });
    const audited = (await server.services.audit.list({ type: 'user.updated' })).filter((e) => e.actor === 'cli');
    expect(audited.map((e) => [e.subject, e.details])).toEqual([[clean, { fields: 'email' }]]);

    const text = await ostiary(['users', 'check-emails'], env);
    expect(text.stdout).toContain(`${twin}  ＡＤＡ@example.com  collision: collides with ada@example.com as ada@example.com`);
    expect(text.stdout).toMatch(/^4 users checked, 2 with a problem, 0 fixed$/m);
    expect((await server.services.users.resolve('Grace@example.com')).id).toBe(clean);
  }, SLOW);
});
