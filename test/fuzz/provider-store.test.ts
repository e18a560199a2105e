import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { BEARER_MODELS, createProviderStore, type ProviderStore } from '../../src/provider-store/index.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';
import { fuzzParameters, nastyString } from './support.ts';

// Bearer models are looked up by a digest of the id; the others (sessions, grants) by the id itself.
const MODELS = ['RefreshToken', 'AuthorizationCode', 'Session', 'Grant', 'Interaction'];

describe.each(DATABASES)('provider store ids (%s)', (kind) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: ProviderStore;
  const stored = 'stored-id';

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    handle = await openDatabase(database.url, { migrate: true });
    store = createProviderStore(handle.db);
    for (const model of MODELS) await store.model(model).upsert(stored, { uid: 'stored-uid', grantId: 'g' }, 3600);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  it('any string id finds nothing or a row, and consuming or destroying it touches only that id', async () => {
    expect(BEARER_MODELS.has('RefreshToken') && !BEARER_MODELS.has('Session')).toBe(true);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...MODELS), nastyString, async (model, id) => {
        const rows = store.model(model);
        const found = await rows.find(id);
        expect(found === undefined || typeof found === 'object').toBe(true);
        if (id !== stored) expect(found).toBeUndefined();
        expect(await rows.findByUid(id)).toSatisfy((row) => row === undefined || id === 'stored-uid');
        if (id !== stored) {
          expect(await rows.consume(id)).toBe(false);
          await rows.destroy(id);
        }
        expect(await rows.find(stored)).toMatchObject({ uid: 'stored-uid' });
      }),
      fuzzParameters(120),
    );
  });
});
