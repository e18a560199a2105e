import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { CONFIG_FILE_LIMITS, configFileJsonSchema, loadConfigFile } from '../../src/config-file/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createServices } from '../../src/services.ts';
import { spawn } from 'node:child_process';
import { inProcess, ostiary } from '../support/cli.ts';
import { freePort } from '../support/server.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';

const SECRET = 'k'.repeat(20) + 'Q'.repeat(24);

const FILE = `# the declared state
apis:
  - audience: https://billing.example.com
    name: Billing API
    scopes: [invoices:read, invoices:write]
roles:
  - name: billing-admin
    permissions: ["invoices:*"]
clients:
  - client_id: billing-worker
    name: Billing worker
    grant_types: [client_credentials]
    scopes: [invoices:read]
    roles: [billing-admin]
    secret: { env: BILLING_WORKER_SECRET }
  - client_id: web
    name: Web
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://app.example.com/cb]
    public: true
    access_token_ttl: 300
  - client_id: reporter
    name: Reporter
    grant_types: [client_credentials]
    scopes: [invoices:read]
api_keys:
  - name: ci
    scopes: [clients:read]
`;

it('the committed JSON Schema is the one the zod schema generates', () => {
  const committed = JSON.parse(readFileSync(new URL('../../src/config-file/ostiary.schema.json', import.meta.url), 'utf8'));
  expect(committed).toEqual(configFileJsonSchema());
});

describe.each(DATABASES)('ostiary apply and export (%s)', (kind) => {
  let database: TestDatabase;
  let dir: string;
  let env: Record<string, string>;
  const run = (args: string[]) => inProcess(args, env);
  async function json(args: string[]) {
    const result = await run([...args, '--json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  }
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    dir = await mkdtemp(join(tmpdir(), 'ostiary-apply-'));
    env = { DATA_DIR: database.dataDir, DATABASE_URL: database.url, BILLING_WORKER_SECRET: SECRET };
  });
  afterAll(async () => {
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses an invalid file before any change, listing every error with its line', async () => {
    const bad = await file('bad.yaml', `apis:\n  - audience: https://x.example.com\n    nam: X\nclients:\n  - client_id: w\n    name: W\n    grant_types: [client_credentials]\n    secret: an-inline-secret\n    access_token_ttl: -5\n`);
    const result = await run(['apply', '-f', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nothing was changed');
    expect(result.stderr).toMatch(/line 2, column 5: apis\[0\]\.name:/);
    expect(result.stderr).toMatch(/line 3, column 5: apis\[0\]\.nam: Unrecognized key/);
    expect(result.stderr).toMatch(/line 8, column \d+: clients\[0\]\.secret: .*an inline secret is refused/);
    expect(result.stderr).toMatch(/line 9, column \d+: clients\[0\]\.access_token_ttl:/);
    expect(await json(['apis', 'list'])).toEqual([]);
    const syntax = await run(['apply', '-f', await file('syntax.yaml', 'apis:\n  - audience: [unclosed\n')]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/line \d+, column \d+/);
  });

  it('refuses a hostile file cleanly and changes nothing: huge, deeply nested, an alias bomb, __proto__ keys', async () => {
    const laughs = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 10; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const block = Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}apis:`).join('\n');
    const cases: [string, string, RegExp][] = [
      ['huge.yaml', `apis: []\n# ${'x'.repeat(CONFIG_FILE_LIMITS.bytes)}\n`, /is larger than 4 MiB: nothing was changed/],
      ['deep-flow.yaml', `apis: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, /nested more than 16 levels deep/],
      ['deep-block.yaml', `${block}\n`, /nested more than 16 levels deep/],
      ['laughs.yaml', `${laughs.join('\n')}\n`, /aliases expand to more than 100 times/],
      [
        'proto.yaml',
        'apis:\n  - audience: https://proto.example.com\n    name: P\n    __proto__: { scopes: [x] }\n__proto__: { polluted: true }\n',
        /line 4, column 5: apis\[0\]\.__proto__: Unrecognized key[\s\S]*line 5, column 1: __proto__: Unrecognized key/,
      ],
    ];
    for (const [name, text, message] of cases) {
      const result = await run(['apply', '-f', await file(name, text)]);
      expect(result.code, name).toBe(2);
      expect(result.stderr, name).toMatch(message);
      expect(result.stderr, name).toContain('nothing was changed');
      expect(result.stderr, name).not.toMatch(/^\s+at /m);
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(await json(['apis', 'list'])).toEqual([]);
  });

  it('dry-run prints the plan and changes nothing', async () => {
    const path = await file('ostiary.yaml', FILE);
    const plan = await json(['apply', '-f', path, '--dry-run']);
    expect(plan).toMatchObject({ dry_run: true, applied: false });
    expect(plan.changes.map((c: { action: string; kind: string; id: string }) => `${c.action} ${c.kind} ${c.id}`)).toEqual([
      'create api https://billing.example.com',
      'create role billing-admin',
      'create client billing-worker',
      'create client web',
      'create client reporter',
      'create api_key ci',
    ]);
    expect(await json(['apis', 'list'])).toEqual([]);
    expect(await json(['clients', 'list'])).toEqual([]);
  });

  it('applies, shows generated secrets once, and a second apply has nothing to do', async () => {
    const path = join(dir, 'ostiary.yaml');
    const first = await json(['apply', '-f', path]);
    expect(first.applied).toBe(true);
    expect(first.changes).toHaveLength(6);
    // The secret the file names is not printed; the generated ones are.
    expect(first.client_secrets.map((s: { client_id: string }) => s.client_id)).toEqual(['reporter']);
    expect(first.api_keys).toEqual([expect.objectContaining({ name: 'ci', api_key: expect.stringMatching(/^osk_/) })]);
    expect(JSON.stringify(first)).not.toContain(SECRET);

    const worker = await json(['clients', 'show', 'billing-worker']);
    expect(worker).toMatchObject({ client_name: 'Billing worker', scope: 'invoices:read', roles: ['billing-admin'] });
    expect((await json(['clients', 'show', 'web'])).access_token_ttl).toBe(300);
    const audit = await json(['audit', '--type', 'client.created']);
    expect(audit.map((e: { actor: string }) => e.actor)).toEqual(['cli', 'cli', 'cli']);

    const again = await json(['apply', '-f', path]);
    expect(again).toMatchObject({ applied: false, changes: [] });
    expect((await run(['apply', '-f', path])).stdout).toContain('nothing to do');
  });

  it('shows a progress bar for apply and backup on a terminal only, never with --json', async () => {
    const extra = await file('progress.yaml', FILE.replace('apis:\n', 'apis:\n  - audience: https://progress.example.com\n    name: Progress\n'));
    const cleanUp = async () => expect((await run(['apis', 'delete', 'https://progress.example.com'])).code).toBe(0);
    const quiet = await inProcess(['apply', '-f', extra], env);
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    expect(quiet.stdout).toContain('+ api https://progress.example.com');
    await cleanUp();
    const scripted = await inProcess(['apply', '-f', extra, '--json'], env, true);
    expect(scripted).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(scripted.stdout).changes).toHaveLength(1);
    await cleanUp();
    const shown = await inProcess(['apply', '-f', extra], env, true);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toMatch(/applying \[[^\]]*\] \d+\/1/);
    await cleanUp();

    expect(await inProcess(['backup', '--out', join(dir, 'a.backup.gz')], env)).toMatchObject({ code: 0, stderr: '' });
    expect(await inProcess(['backup', '--out', join(dir, 'b.backup.gz'), '--json'], env, true)).toMatchObject({ code: 0, stderr: '' });
    const backup = await inProcess(['backup', '--out', join(dir, 'c.backup.gz')], env, true);
    expect(backup.code).toBe(0);
    expect(backup.stderr).toMatch(/backing up \[[^\]]*\] \d+\/\d+/);
  });

  it('changes what differs and deletes only with --prune', async () => {
    const changed = FILE.replace('name: Billing API', 'name: Billing').replace('[invoices:read, invoices:write]', '[invoices:read]').replace(/  - client_id: reporter[\s\S]*?(?=api_keys:)/, '');
    const path = await file('changed.yaml', changed);
    const plan = await json(['apply', '-f', path]);
    expect(plan.changes).toEqual([{ kind: 'api', action: 'update', id: 'https://billing.example.com', fields: ['name', 'scopes'] }]);
    expect((await json(['apis', 'list']))[0]).toMatchObject({ name: 'Billing', scopes: ['invoices:read'] });
    expect((await json(['clients', 'list'])).map((c: { client_id: string }) => c.client_id)).toContain('reporter');

    const pruned = await json(['apply', '-f', path, '--prune']);
    expect(pruned.changes).toEqual([{ kind: 'client', action: 'delete', id: 'reporter' }]);
    expect(await run(['clients', 'show', 'reporter'])).toMatchObject({ code: 3 });
  });

  it('a changed secret source rotates the secret; a failure part way leaves everything as it was', async () => {
    const path = await file('changed.yaml', (await readFile(join(dir, 'changed.yaml'), 'utf8')));
    env.BILLING_WORKER_SECRET = 'z'.repeat(44);
    const rotated = await json(['apply', '-f', path]);
    expect(rotated.changes).toEqual([{ kind: 'client', action: 'update', id: 'billing-worker', fields: ['secret'] }]);
    env.BILLING_WORKER_SECRET = SECRET;

    // A new API and a client needing a scope no API defines: the client fails, the API is rolled back.
    const failing = await file('failing.yaml', `${await readFile(path, 'utf8')}`.replace('apis:\n', 'apis:\n  - audience: https://new.example.com\n    name: New\n').replace('clients:\n', 'clients:\n  - client_id: broken\n    name: Broken\n    grant_types: [client_credentials]\n    scopes: [nowhere:read]\n'));
    const result = await run(['apply', '-f', failing]);
    expect(result.code).toBe(2);
    // The service's refusal, said with where the file declares what it refused.
    expect(result.stderr).toMatch(/failing\.yaml: line \d+, column 5: clients\[0\] \(broken\): scope nowhere:read is not defined by any API; nothing was changed/);
    expect((await json(['apis', 'list'])).map((a: { audience: string }) => a.audience)).toEqual(['https://billing.example.com']);
    expect(await run(['clients', 'show', 'broken'])).toMatchObject({ code: 3 });

    // Nor do the audit log lines tell of the rolled-back API; those of a committed apply come after it.
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) as unknown as FastifyBaseLogger;
    const services = await createServices(loadConfig(env), { info() {}, warn() {} }, { log });
    try {
      await expect(services.configFiles.apply(loadConfigFile(failing, env), { prune: false }, { id: 'test' })).rejects.toMatchObject({ code: 'client.scope_unknown' });
      expect(lines.join('')).not.toContain('audit api.created');
      const added = await file('added.yaml', 'apis:\n  - audience: https://logged.example.com\n    name: Logged\n');
      await services.configFiles.apply(loadConfigFile(added, env), { prune: false }, { id: 'test' });
      expect(lines.join('')).toContain('audit api.created');
      await services.apis.delete('https://logged.example.com', { id: 'test' });
    } finally {
      await services.close();
    }
  });

  it('refuses a missing secret source before any change', async () => {
    const path = await file('missing.yaml', FILE.replace('BILLING_WORKER_SECRET', 'NOT_SET_ANYWHERE'));
    const result = await run(['apply', '-f', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('environment variable NOT_SET_ANYWHERE is not set');
  });

  it('export writes the state without secrets, and applying it changes nothing', async () => {
    // A client that registered itself is not configuration: neither exported nor pruned.
    const services = await createServices(loadConfig(env), { info() {}, warn() {} });
    try {
      const metadata = { client_id: 'self-registered', redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none' };
      await services.clients.registerFromProvider({ metadata, asked: {}, actor: { id: 'test' } });
    } finally {
      await services.close();
    }
    const out = join(dir, 'export.yaml');
    expect(await json(['export', '-o', out])).toEqual({ file: out });
    const text = await readFile(out, 'utf8');
    expect(text).not.toContain('self-registered');
    expect(text).not.toContain(SECRET);
    expect(text).toContain('secret: { env: CLIENT_SECRET_BILLING_WORKER }');
    expect(text).toContain('client_id: billing-worker');
    const again = await json(['apply', '-f', out, '--prune']);
    expect(again).toMatchObject({ applied: false, changes: [] });
    expect(await json(['clients', 'show', 'self-registered'])).toMatchObject({ registered: true });
  });

  it('carries the trusted assertion issuer of a jwt_bearer client through apply and export, and refuses private keys', async () => {
    const key = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'idp-1' };
    const partner = (keys: object) =>
      `apis:\n  - audience: https://billing.example.com\n    name: Billing API\n    scopes: [invoices:read, invoices:write]\nclients:\n  - client_id: partner\n    name: Partner\n    grant_types: [jwt_bearer]\n    scopes: [invoices:read]\n    assertion_issuer: https://idp.example.com\n    assertion_jwks: { keys: [${JSON.stringify(keys)}] }\n    secret: { env: BILLING_WORKER_SECRET }\n`;
    const refused = await run(['apply', '-f', await file('private.yaml', partner({ ...key, d: 'private' }))]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/clients\[0\] \(partner\).*public RSA, EC or OKP key/);
    await json(['apply', '-f', await file('partner.yaml', partner(key))]);
    expect(await json(['clients', 'show', 'partner'])).toMatchObject({ assertion_issuer: 'https://idp.example.com', assertion_jwks: { keys: [key] }, assertion_jwks_uri: null });
    const out = join(dir, 'partner-export.yaml');
    await json(['export', '-o', out]);
    expect(await readFile(out, 'utf8')).toContain('assertion_issuer: https://idp.example.com');
    expect(await json(['apply', '-f', out, '--prune'])).toMatchObject({ applied: false, changes: [] });
    await json(['clients', 'delete', 'partner']);
  });

  it('CONFIG_FILE: serve applies the file before it listens, and refuses one whose secrets would be shown to no one', async () => {
    const declared = await file('serve.yaml', `apis:\n  - audience: https://billing.example.com\n    name: Billing\n    scopes: [invoices:read]\n  - audience: https://at-start.example.com\n    name: At start\n`);
    const port = await freePort();
    const child = spawn(process.execPath, [new URL('../../src/main.ts', import.meta.url).pathname, 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), CONFIG_FILE: declared, LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    try {
      let ready = false;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready).toBe(true);
      expect((await json(['apis', 'list'])).map((a: { audience: string }) => a.audience)).toEqual(['https://billing.example.com', 'https://at-start.example.com']);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const lost = await file('lost.yaml', `clients:\n  - client_id: no-secret\n    name: No secret\n    grant_types: [client_credentials]\n`);
    const refused = await ostiary(['serve'], { ...env, PORT: String(await freePort()), CONFIG_FILE: lost, LOG_LEVEL: 'silent' });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('its secret would be shown to no one');
    expect(await run(['clients', 'show', 'no-secret'])).toMatchObject({ code: 3 });
  });
});
