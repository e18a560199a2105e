import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeys, type ApiKeys } from '../../src/api-keys/index.ts';
import { createAudit } from '../../src/audit/index.ts';
import { ConfigError, ENV_VARIABLES, loadConfig } from '../../src/config/index.ts';
import { openDatabase, pageQuery, type DatabaseHandle } from '../../src/db/index.ts';
import { OstiaryError } from '../../src/errors.ts';
import { permissionMatches } from '../../src/roles/index.ts';
import { normalizeEmail } from '../../src/users/index.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { fuzzParameters, nastyString } from './support.ts';

/** Runs `work`; an error other than the typed 400 `code` fails the property. */
function onlyTyped400<T>(code: string, work: () => T): T | OstiaryError {
  try {
    return work();
  } catch (error) {
    expect(error).toBeInstanceOf(OstiaryError);
    expect({ code: (error as OstiaryError).code, status: (error as OstiaryError).status }).toEqual({ code, status: 400 });
    return error as OstiaryError;
  }
}

describe('configuration parsing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ostiary-fuzz-config-'));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, 'k'.repeat(44));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const value = fc.oneof(
    nastyString,
    fc.constantFrom('0', '1', '-1', '65535', '65536', '1e3', '0x10', ' 42', 'true', 'false', 'auto', 'production', 'test', 'silent'),
    fc.webUrl(),
    fc.constantFrom('https://id.example.com?', 'http://[::1]', 'file:/x.db', 'postgres://u:p@h/db', 'redis://h', 'https://id.example.com#x'),
    fc.nat().map(String),
  );
  // The key file is read from disk: only these (a file, a folder, nothing), never an arbitrary path.
  const keyFileValue = fc.constantFrom(keyFile, dir, join(dir, 'missing'), '');
  const env = fc
    .tuple(
      fc.dictionary(fc.constantFrom(...ENV_VARIABLES.filter((name) => name !== 'KEY_ENCRYPTION_KEY_FILE')), value, { maxKeys: 12 }),
      fc.option(keyFileValue, { nil: undefined }),
      fc.dictionary(nastyString, nastyString, { maxKeys: 3 }),
    )
    .map(([known, file, unknown]) => ({ ...unknown, ...known, ...(file === undefined ? {} : { KEY_ENCRYPTION_KEY_FILE: file }) }));

  it('any environment gives a Config or a ConfigError that names a variable', () => {
    fc.assert(
      fc.property(env, (variables) => {
        try {
          expect(loadConfig(variables).issuer).toMatch(/^https?:\/\//);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect(ENV_VARIABLES.some((name) => (error as Error).message.includes(name))).toBe(true);
        }
      }),
      fuzzParameters(1000),
    );
  });
});

describe('permission matching', () => {
  it('never throws, and a permission without * matches only itself', () => {
    fc.assert(
      fc.property(nastyString, nastyString, (permission, scope) => {
        const matched = permissionMatches(permission, scope);
        if (!permission.endsWith('*')) expect(matched).toBe(permission === scope);
        else expect(matched).toBe(scope.startsWith(permission.slice(0, -1)));
      }),
      fuzzParameters(1000),
    );
  });
});

describe('page cursors', () => {
  it('any string is a query or the typed 400, and a cursor we issue for an id reads back as that id', () => {
    fc.assert(
      fc.property(nastyString, fc.integer({ min: 1, max: 10_000 }), (cursor, limit) => {
        const query = onlyTyped400('input.invalid', () => pageQuery({ cursor, limit }));
        if (!(query instanceof OstiaryError)) expect(query.take).toBeLessThanOrEqual(201);
        const ours = Buffer.from(cursor).toString('base64url');
        if (cursor && !cursor.includes('\u0000') && Buffer.from(ours, 'base64url').toString('utf8') === cursor) {
          expect(pageQuery({ cursor: ours })).toMatchObject({ cursor: { id: cursor }, skip: 1 });
        }
      }),
      fuzzParameters(1000),
    );
  });
});

describe('email normalisation', () => {
  const address = fc.oneof(
    nastyString,
    fc.emailAddress(),
    fc.tuple(nastyString, fc.domain()).map(([local, domain]) => `${local}@${domain}`),
    fc.tuple(fc.emailAddress(), fc.constantFrom(' ', '.', '\u00A0', 'É', '\u200B', 'ß', 'ﬁ', '\u0130')).map(([email, extra]) => `${extra}${email}${extra}`.toUpperCase()),
  );

  it('is idempotent and throws nothing but the typed 400', () => {
    fc.assert(
      fc.property(address, (raw) => {
        const normal = onlyTyped400('user.email_invalid', () => normalizeEmail(raw));
        if (typeof normal === 'string') expect(normalizeEmail(normal)).toBe(normal);
      }),
      fuzzParameters(1000),
    );
  });
});

describe('API key address ranges', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let apiKeys: ApiKeys;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    handle = await openDatabase(database.url, { migrate: true });
    apiKeys = createApiKeys(handle.db, createAudit(handle.db));
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  const octet = fc.integer({ min: 0, max: 300 });
  const range = fc.oneof(
    nastyString,
    fc.ipV4(),
    fc.ipV6(),
    fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6(), nastyString), fc.oneof(fc.integer({ min: -5, max: 140 }).map(String), nastyString)).map(([ip, prefix]) => `${ip}/${prefix}`),
    fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.')),
    fc.constantFrom('::ffff:10.0.0.1/128', '10.0.0.0/8/8', '/', '0.0.0.0/0', '::/0', '10.0.0.1/ 8', '10.0.0.1/08', 'fe80::1%eth0/64'),
  );

  it('a key is created, or refused with the typed 400, for any allowed_ips; a created key checks any address', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(range, { maxLength: 4 }), fc.oneof(fc.ipV4(), fc.ipV6(), nastyString), async (allowedIps, ip) => {
        try {
          const { apiKey } = await apiKeys.create({ name: 'fuzz', scopes: ['clients:read'], allowedIps }, TEST_ACTOR);
          const checked = await apiKeys.verify(apiKey, ip);
          expect(typeof checked.ok).toBe('boolean');
        } catch (error) {
          expect(error).toBeInstanceOf(OstiaryError);
          expect({ code: (error as OstiaryError).code, status: (error as OstiaryError).status }).toEqual({ code: 'api_key.range_invalid', status: 400 });
        }
      }),
      fuzzParameters(120),
    );
  });
});
