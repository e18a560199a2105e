import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type DatabaseHandle } from '../../src/db/index.ts';
import { BEARER_MODELS, createProviderStore, TOKEN_MODELS, type ProviderStore } from '../../src/provider-store/index.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

/** The database with every `deleteMany` on the provider's table recorded, by how many rows it names. */
function recordingDeletes(db: Database, sizes: number[]): Database {
  const table = new Proxy(db.oidcPayload, {
    get(target, property, receiver) {
      if (property !== 'deleteMany') return Reflect.get(target, property, receiver);
      return (args: { where: { OR?: unknown[] } }) => {
        sizes.push(args.where.OR?.length ?? -1);
        return target.deleteMany(args as never);
      };
    },
  });
  return new Proxy(db, { get: (target, property, receiver) => (property === 'oidcPayload' ? table : Reflect.get(target, property, receiver)) });
}

describe.each(DATABASES)('provider store (%s)', (kind) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: ProviderStore;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    handle = await openDatabase(database.url, { migrate: true });
    store = createProviderStore(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  it('stores every bearer model under a SHA-256 of its id, without the id anywhere, and finds it by the id', async () => {
    for (const model of BEARER_MODELS) {
      const secret = `${model}-bearer-secret`;
      await store.model(model).upsert(secret, { jti: secret, grantId: `hash-${model}` }, 60);
      const rows = await handle.db.oidcPayload.findMany({ where: { type: model, grantId: `hash-${model}` } });
      expect(rows.map((r) => r.id)).toEqual([sha256(secret)]);
      expect(JSON.stringify(rows)).not.toContain(secret);
      expect(await store.model(model).find(secret)).toMatchObject({ jti: secret });
      expect(await store.model(model).find(sha256(secret))).toBeUndefined();
    }
  });

  it('stores other models under their own id, and finds them by uid', async () => {
    await store.model('Session').upsert('plain-session', { jti: 'plain-session', uid: 'plain-uid', accountId: 'nobody' }, 60);
    expect(await handle.db.oidcPayload.findUnique({ where: { type_id: { type: 'Session', id: 'plain-session' } } })).toMatchObject({ uid: 'plain-uid' });
    expect(await store.model('Session').findByUid('plain-uid')).toMatchObject({ jti: 'plain-session' });
    expect(await store.model('Session').findByUid('plain\u0000uid')).toBeUndefined();
  });

  it('keeps a device code out of its row, found by user code under a stand-in id that saves the row but never redeems it', async () => {
    const codes = store.model('DeviceCode');
    const deviceCode = 'device-code-bearer-secret-0123456789abcdefg';
    const standIn = `:${sha256(deviceCode)}`;
    await codes.upsert(deviceCode, { jti: deviceCode, kind: 'DeviceCode', userCode: 'BCDFGHJK', clientId: 'tv' }, 60);
    const rowOf = () => handle.db.oidcPayload.findMany({ where: { type: 'DeviceCode', clientId: 'tv' } });
    const [row] = await rowOf();
    expect(row!.id).toBe(sha256(deviceCode));
    expect(row!.payload).not.toHaveProperty('jti');
    expect(JSON.stringify(row)).not.toContain(deviceCode);

    // Found by user code, it is named by the stand-in; saved back under it, it stays the one row.
    const found = await codes.findByUserCode('BCDFGHJK');
    expect(found).toMatchObject({ jti: standIn, clientId: 'tv' });
    expect(await codes.find(standIn)).toEqual(found);
    await codes.upsert(standIn, { ...found!, accountId: 'ada', grantId: 'g-device' }, 60);
    const rows = await rowOf();
    expect(rows.map((r) => r.id)).toEqual([sha256(deviceCode)]);
    expect(rows[0]!.payload).not.toHaveProperty('jti');
    expect(JSON.stringify(rows)).not.toContain(deviceCode);
    expect(await codes.find(deviceCode)).toMatchObject({ jti: deviceCode, accountId: 'ada', grantId: 'g-device' });

    // Only the device code redeems; once it has, the stand-in finds nothing.
    expect(await codes.consume(standIn)).toBe(false);
    expect((await codes.find(deviceCode))?.consumed).toBeUndefined();
    expect(await codes.consume(deviceCode)).toBe(true);
    expect(await codes.find(standIn)).toBeUndefined();
    expect((await codes.find(deviceCode))?.consumed).toEqual(expect.any(Number));

    // A stand-in creates no row, names nothing of another model, and destroys the row it names.
    const gone = `:${sha256('device-code-never-issued')}`;
    await codes.upsert(gone, { kind: 'DeviceCode', clientId: 'tv' }, 60);
    expect(await rowOf()).toHaveLength(1);
    await store.model('AuthorizationCode').upsert('code-for-stand-in', { jti: 'code-for-stand-in' }, 60);
    expect(await store.model('AuthorizationCode').find(`:${sha256('code-for-stand-in')}`)).toBeUndefined();
    await codes.destroy(standIn);
    expect(await rowOf()).toEqual([]);
  });

  it('consumes a code exactly once, however many try at the same moment', async () => {
    const codes = store.model('AuthorizationCode');
    await codes.upsert('store-code-race', { jti: 'store-code-race' }, 60);
    const results = await Promise.all(Array.from({ length: 12 }, () => codes.consume('store-code-race')));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await codes.consume('store-code-race')).toBe(false);
    expect((await codes.find('store-code-race'))?.consumed).toEqual(expect.any(Number));
  });

  it('deletes everything of one account: its sessions, grants and what was issued under them, and nothing of another', async () => {
    for (const account of ['ada', 'bob']) {
      await store.model('Session').upsert(`session-${account}`, { jti: `session-${account}`, accountId: account }, 60);
      await store.model('Grant').upsert(`grant-${account}`, { jti: `grant-${account}`, accountId: account, clientId: 'web' }, 60);
      await store.model('AccessToken').upsert(`at-${account}`, { jti: `at-${account}`, accountId: account, grantId: `grant-${account}` }, 60);
      // A row under the grant that does not name the account is deleted by its grant.
      await store.model('RefreshToken').upsert(`rt-${account}`, { jti: `rt-${account}`, grantId: `grant-${account}` }, 60);
    }
    expect(await store.grantIds({ accountId: 'ada' })).toEqual(['grant-ada']);

    expect(await store.deleteAccount('ada')).toBe(1);

    expect(await handle.db.oidcPayload.count({ where: { OR: [{ accountId: 'ada' }, { grantId: 'grant-ada' }, { id: 'grant-ada' }] } })).toBe(0);
    expect(await store.model('Session').find('session-bob')).toBeDefined();
    expect(await store.model('AccessToken').find('at-bob')).toBeDefined();
    expect(await store.model('RefreshToken').find('rt-bob')).toBeDefined();
    expect((await store.grantsOf('bob')).map((g) => g.id)).toEqual(['grant-bob']);
  });

  it('names the grants that had a code or token issued since a date, each once', async () => {
    const since = new Date('2100-01-01T00:00:00Z');
    const recent = [
      ['AuthorizationCode', 'since-code', 'g-since-1'],
      ['AccessToken', 'since-at-1', 'g-since-2'],
      ['AccessToken', 'since-at-2', 'g-since-2'],
      ['RefreshToken', 'since-rt', 'g-since-3'],
      ['Session', 'since-session', 'g-since-4'],
    ] as const;
    for (const [model, id, grantId] of recent) await store.model(model).upsert(id, { jti: id, grantId }, 60);
    await store.model('AccessToken').upsert('before-at', { jti: 'before-at', grantId: 'g-before' }, 60);
    await handle.db.oidcPayload.updateMany({ where: { grantId: { startsWith: 'g-since-' } }, data: { createdAt: since } });
    await handle.db.oidcPayload.updateMany({ where: { grantId: 'g-before' }, data: { createdAt: new Date(since.getTime() - 1000) } });

    expect(TOKEN_MODELS).not.toContain('Session');
    expect((await store.grantIdsIssuedSince(since)).sort()).toEqual(['g-since-1', 'g-since-2', 'g-since-3']);
  });

  it('deletes expired rows in batches of the size asked, and keeps the live ones', async () => {
    await store.deleteExpired(100);
    for (let i = 0; i < 5; i += 1) await store.model('RefreshToken').upsert(`expired-${i}`, { jti: `expired-${i}`, grantId: 'g-expired' }, 60);
    await store.model('Interaction').upsert('live-interaction', { jti: 'live-interaction', grantId: 'g-expired' });
    await handle.db.oidcPayload.updateMany({ where: { type: 'RefreshToken', grantId: 'g-expired' }, data: { expiresAt: new Date(Date.now() - 1000) } });

    const sizes: number[] = [];
    expect(await createProviderStore(recordingDeletes(handle.db, sizes)).deleteExpired(2)).toBe(5);
    expect(sizes).toEqual([2, 2, 1]);
    expect(await handle.db.oidcPayload.count({ where: { grantId: 'g-expired' } })).toBe(1);
    expect(await store.model('Interaction').find('live-interaction')).toBeDefined();
  });
});
