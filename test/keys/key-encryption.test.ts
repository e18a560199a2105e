import { TEST_ACTOR } from '../support/actor.ts';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ostiary } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { jwksKids, m2mToken, setUpWorker, type Worker } from '../support/fixtures.ts';
import { kidOf } from '../support/relying-party.ts';
import { startTestServer } from '../support/server.ts';

const kek = () => randomBytes(32).toString('base64');

describe('key-encryption keys', () => {
  const oldKey = kek();
  const newKey = kek();
  let database: TestDatabase;
  let worker: Worker;
  let kids: string[];
  const env = (keys: string) => ({ DATA_DIR: database.dataDir, DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: keys });

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    const server = await startTestServer('sqlite', { KEY_ENCRYPTION_KEY: oldKey }, { database });
    worker = await setUpWorker(server);
    await server.services.signingKeys.rotate(TEST_ACTOR);
    await server.app.ostiary.keys.run();
    kids = await jwksKids(server);
    expect(kids).toHaveLength(2);
    await server.stop();
  });
  afterAll(() => database?.drop());

  it('refuses to start with a wrong key and makes no new signing key', async () => {
    const keysBefore = JSON.parse((await ostiary(['keys', 'list', '--json'], env(oldKey))).stdout);
    const run = await ostiary(['serve'], { ...env(newKey), PORT: '0' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot decrypt: sealed under a key-encryption key that is not configured/);
    expect(JSON.parse((await ostiary(['keys', 'list', '--json'], env(oldKey))).stdout)).toEqual(keysBefore);
  });

  it('rewraps every private key under a new first key, after which the old key can go', async () => {
    const rewrap = await ostiary(['secrets', 'rewrap', '--json'], env(`${newKey},${oldKey}`));
    expect(rewrap.code, rewrap.stderr).toBe(0);
    expect(JSON.parse(rewrap.stdout)).toEqual({ rewrapped: 2 });
    const again = await ostiary(['secrets', 'rewrap', '--json'], env(`${newKey},${oldKey}`));
    expect(JSON.parse(again.stdout)).toEqual({ rewrapped: 0 });

    const server = await startTestServer('sqlite', { KEY_ENCRYPTION_KEY: newKey }, { database });
    try {
      expect(await jwksKids(server)).toEqual(kids);
      expect(kidOf(await m2mToken(server, worker))).toBe(kids[0]);
    } finally {
      await server.stop();
    }
  });
});
