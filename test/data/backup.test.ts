import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEFT_OUT, TABLES } from '../../src/backup/index.ts';
import { modelColumns, openDatabase } from '../../src/db/index.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { ostiary } from '../support/cli.ts';
import { createTestDatabase, DATABASES, type TestDatabase, type TestDatabaseKind } from '../support/databases.ts';
import { ADA, BILLING, createWebClient, m2mToken, postForm, setUpWorker, type Credentials } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const KEY_ENCRYPTION_KEY = randomBytes(32).toString('base64');
const envOf = (database: TestDatabase, kek = KEY_ENCRYPTION_KEY) => ({ DATA_DIR: database.dataDir, DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: kek });

/** JSON with object keys sorted: PostgreSQL's jsonb reorders keys, SQLite keeps them as written. */
const canonical = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );

/** Every row of every table, read through Prisma (Dates as ISO strings, JSON parsed), as sorted canonical JSON. */
async function tablesOf(database: TestDatabase): Promise<Record<string, string[]>> {
  const handle = await openDatabase(database.url);
  try {
    const models = await modelColumns();
    const tables: Record<string, string[]> = {};
    for (const table of [...TABLES, ...LEFT_OUT]) {
      const delegate = (handle.db as unknown as Record<string, { findMany(args: object): Promise<unknown[]> }>)[table[0]!.toLowerCase() + table.slice(1)]!;
      tables[table] = (await delegate.findMany({ orderBy: models[table]!.key.map((k) => ({ [k]: 'asc' })) })).map(canonical).sort();
    }
    return tables;
  } finally {
    await handle.close();
  }
}

/** The restored tables less the one event the restore added (returned) and the Lock rows neither side copies. */
function restoredRows(tables: Record<string, string[]>, source: Record<string, string[]>) {
  const events = tables.AuditEvent!.filter((row) => JSON.parse(row).type === 'backup.restored');
  return { events, tables: { ...tables, AuditEvent: tables.AuditEvent!.filter((row) => !events.includes(row)), Lock: source.Lock } };
}

const lines = async (file: string) => gunzipSync(await readFile(file)).toString('utf8').split('\n').slice(0, -1);
/** A copy of a backup with its decompressed text changed by `change`, gzipped again. */
async function altered(file: string, name: string, change: (text: string) => string): Promise<string> {
  const copy = join(dirname(file), name);
  await writeFile(copy, gzipSync(change(gunzipSync(await readFile(file)).toString('utf8'))));
  return copy;
}

interface Populated {
  web: Credentials;
  worker: Credentials;
  apiKey: string;
  tokens: { id_token?: string; access_token: string; refresh_token?: string };
  m2m: string;
}

/** APIs, a role held by a user and a client, clients, an API key, and a signed-in user's grant and refresh token. */
async function populate(server: TestServer): Promise<Populated> {
  const { roles, users, apiKeys, audit } = server.services;
  const worker = await setUpWorker(server);
  await roles.create({ name: 'accountant', permissions: ['invoices:*'] }, TEST_ACTOR);
  await roles.grant('accountant', { clientId: worker.id }, TEST_ACTOR);
  await users.create({ ...ADA, name: 'Ada', roles: ['accountant'] }, TEST_ACTOR);
  const web = await createWebClient(server, { scopes: ['invoices:read'] });
  const { apiKey } = await apiKeys.create({ name: 'ops', scopes: ['admin'], allowedIps: ['127.0.0.1/32'] }, TEST_ACTOR);
  const rp = await discover(server.issuer, web.id, web.secret);
  const { tokens } = await codeFlow(rp, ADA);
  const m2m = await m2mToken(server, worker);
  await audit.flush();
  return { web, worker, apiKey, tokens, m2m };
}

describe.each(DATABASES)('backup and restore (%s)', (kind: TestDatabaseKind) => {
  let server: TestServer;
  let populated: Populated;
  let target: TestDatabase;
  let file: string;

  beforeAll(async () => {
    server = await startTestServer(kind, { KEY_ENCRYPTION_KEY });
    populated = await populate(server);
    target = await createTestDatabase(kind);
    file = join(target.dataDir, 'ostiary.backup.gz');
  });
  afterAll(async () => {
    await server?.stop();
    await target?.drop();
  });

  it('every table is backed up but Lock', async () => {
    expect([...TABLES, ...LEFT_OUT].sort()).toEqual(Object.keys(await modelColumns()).sort());
  });

  it('copies every row exactly, with sessions, into a fresh database of the same kind; no secret is in the file', async () => {
    const backup = await ostiary(['backup', '--out', file, '--include-sessions', '--json'], envOf(server.database));
    expect(backup.code, backup.stderr).toBe(0);
    const source = await tablesOf(server.database);
    const written = JSON.parse(backup.stdout);
    expect(written).toMatchObject({ format: 'ostiary-backup', version: 1, provider: kind, sessions: true });
    for (const table of TABLES) expect(written.counts[table], table).toBe(source[table]!.length);
    expect(written.counts.OidcPayload).toBeGreaterThan(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const [header, ...body] = await lines(file);
    expect(JSON.parse(header!).checksum).toBe(createHash('sha256').update(body.map((l) => `${l}\n`).join('')).digest('hex'));
    const text = body.join('\n');
    expect(text).toContain(populated.web.id);
    const [privateJwk] = (await server.services.signingKeys.privateJwks()).keys;
    const secrets = { web: populated.web.secret, worker: populated.worker.secret, password: ADA.password, apiKey: populated.apiKey.slice('osk_0123456789abcdef_'.length), refresh: populated.tokens.refresh_token!, access: populated.tokens.access_token, d: privateJwk!.d! };
    for (const [what, secret] of Object.entries(secrets)) expect(text.includes(secret), what).toBe(false);

    const restore = await ostiary(['restore', '--in', file, '--json'], envOf(target));
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({ counts: written.counts, replaced: false });
    const restored = restoredRows(await tablesOf(target), source);
    expect(restored.events).toHaveLength(1);
    expect(JSON.parse(restored.events[0]!)).toMatchObject({ actor: 'cli', outcome: 'success', details: { replaced: false, sessions: true } });
    expect(restored.tables).toEqual(source);
  });

  it('refuses a backup into a directory that does not exist, in one line', async () => {
    const nowhere = await ostiary(['backup', '--out', join(target.dataDir, 'no-such-directory', 'backup.gz')], envOf(server.database));
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/no-such-directory does not exist or cannot be written/);
    expect(nowhere.stderr).not.toMatch(/ENOENT|    at /);
  });

  it('refuses, changing nothing: an existing --out without --force, a database with data without --replace, a truncated, altered or newer file, keys under another key-encryption key', async () => {
    const existing = join(target.dataDir, 'existing.gz');
    await writeFile(existing, 'keep me');
    const refused = await ostiary(['backup', '--out', existing], envOf(server.database));
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/already exists: nothing written \(overwrite it with --force\)/);
    expect(await readFile(existing, 'utf8')).toBe('keep me');
    expect((await readdir(target.dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    const bytes = await readFile(file);
    const truncated = join(target.dataDir, 'truncated.gz');
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const cases: [string, string[], Record<string, string>, number, RegExp][] = [
      ['not empty', ['--in', file], envOf(target), 4, /already holds data: nothing restored \(to delete its rows and restore, give --replace\)/],
      ['truncated', ['--in', truncated, '--replace'], envOf(target), 2, /truncated/],
      ['one byte changed', ['--in', await altered(file, 'tampered.gz', (t) => t.replace('"name":"Ada"', '"name":"Adb"')), '--replace'], envOf(target), 2, /checksum does not match/],
      ['version 99', ['--in', await altered(file, 'newer.gz', (t) => t.replace('"version":1', '"version":99')), '--replace'], envOf(target), 2, /format version 99.*upgrade Ostiary/],
      ['another key-encryption key', ['--in', file, '--replace'], envOf(target, randomBytes(32).toString('base64')), 2, /sealed under a key-encryption key this server does not have/],
    ];
    const before = await tablesOf(target);
    for (const [what, args, env, code, message] of cases) {
      const result = await ostiary(['restore', ...args], env);
      expect(result.code, what).toBe(code);
      expect(result.stderr, what).toMatch(message);
    }
    expect(await tablesOf(target)).toEqual(before);

    const forced = await ostiary(['backup', '--out', existing, '--force', '--json'], envOf(server.database));
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse((await lines(existing))[0]!).format).toBe('ostiary-backup');
  }, 90_000); // Several CLI runs, each opening the database: slow on a loaded machine.

  it('--replace deletes the rows there and restores the backup in one transaction', async () => {
    await openDatabase(target.url).then(async (handle) => {
      await handle.db.role.create({ data: { id: 'stray', name: 'stray' } });
      await handle.close();
    });
    const result = await ostiary(['restore', '--in', file, '--replace', '--json'], envOf(target));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).replaced).toBe(true);
    const roles = (await tablesOf(target)).Role!.map((row) => JSON.parse(row).name);
    expect(roles).toEqual(['accountant']);
  });
});

describe.runIf(DATABASES.includes('sqlite') && DATABASES.includes('postgresql'))('moving from SQLite to PostgreSQL', () => {
  let source: TestServer;
  let moved: TestServer | undefined;
  let target: TestDatabase;

  beforeAll(async () => {
    source = await startTestServer('sqlite', { KEY_ENCRYPTION_KEY });
    target = await createTestDatabase('postgresql');
  });
  afterAll(async () => {
    await moved?.stop();
    await source?.stop();
    await target?.drop();
  });

  it('keeps clients, passwords, refresh tokens and the keys that signed earlier tokens', async () => {
    const before = await populate(source);
    const file = join(target.dataDir, 'move.backup.gz');
    const backup = await ostiary(['backup', '--out', file, '--include-sessions'], envOf(source.database));
    expect(backup.code, backup.stderr).toBe(0);
    const sourceRows = await tablesOf(source.database);
    const restore = await ostiary(['restore', '--in', file], envOf(target));
    expect(restore.code, restore.stderr).toBe(0);
    expect(restoredRows(await tablesOf(target), sourceRows).tables).toEqual(sourceRows);
    const oldIssuer = source.issuer;
    await source.stop();

    moved = await startTestServer('postgresql', { KEY_ENCRYPTION_KEY }, { database: target });
    expect(await m2mToken(moved, before.worker)).toEqual(expect.any(String));

    const refreshed = await postForm(moved, '/token', before.web, { grant_type: 'refresh_token', refresh_token: before.tokens.refresh_token! });
    expect(refreshed.status, await refreshed.clone().text()).toBe(200);
    expect(((await refreshed.json()) as { refresh_token?: string }).refresh_token).toEqual(expect.any(String));

    const rp = await discover(moved.issuer, before.web.id, before.web.secret);
    expect((await codeFlow(rp, ADA)).tokens.claims()?.email).toBe(ADA.email);

    expect((await verifyJwt(oldIssuer, before.tokens.id_token!, before.web.id, undefined, moved.url)).payload.email).toBe(ADA.email);
    expect((await verifyJwt(oldIssuer, before.m2m, BILLING, undefined, moved.url)).payload.client_id).toBe(before.worker.id);
  });
});
