import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { openDatabase } from '../../src/db/index.ts';
import { loadKeyEncryptionKeys } from '../../src/secrets/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** Opens the database at `url` and writes to it (so SQLite has made its -wal file); `close` when done. */
async function touch(url: string, dataDir?: string) {
  const handle = await openDatabase(url, { migrate: true, dataDir });
  await handle.db.$executeRawUnsafe(`INSERT INTO "Lock" ("name") VALUES ('${randomUUID()}')`);
  return handle;
}
const touchAndClose = async (url: string, dataDir?: string) => (await touch(url, dataDir)).close();

describe('file modes on SQLite', () => {
  let scratch: TestDatabase;
  beforeAll(async () => {
    scratch = await createTestDatabase('sqlite');
  });
  afterAll(() => scratch?.drop());

  describe('a server on a data directory that does not exist yet', () => {
    let server: TestServer;
    let dataDir: string;
    beforeAll(async () => {
      dataDir = join(scratch.dataDir, 'new', 'data');
      server = await startTestServer('sqlite', { DATA_DIR: dataDir, DATABASE_URL: `file:${dataDir}/ostiary.db` }, { database: scratch });
    });
    afterAll(() => server?.stop());

    it('creates the directories 0700 and the database, its -wal and -shm files and the development key 0600', async () => {
      expect(await modeOf(join(scratch.dataDir, 'new'))).toBe(0o700);
      expect(await modeOf(dataDir)).toBe(0o700);
      expect(await modeOf(join(dataDir, 'ostiary.db'))).toBe(0o600);
      expect(existsSync(join(dataDir, 'ostiary.db-wal'))).toBe(true);
      for (const suffix of ['-wal', '-shm']) {
        const file = join(dataDir, `ostiary.db${suffix}`);
        if (existsSync(file)) expect(await modeOf(file), suffix).toBe(0o600);
      }
      expect(await modeOf(join(dataDir, 'dev-key-encryption-key'))).toBe(0o600);
    });
  });

  it('tightens an existing world-readable database, its -wal file and DATA_DIR', async () => {
    const dataDir = join(scratch.dataDir, 'loose');
    await mkdir(dataDir);
    await chmod(dataDir, 0o755);
    const file = join(dataDir, 'ostiary.db');
    // As an earlier version left them, with a process still holding the -wal and -shm files open.
    const earlier = await touch(`file:${file}`);
    for (const path of [file, `${file}-wal`, `${file}-shm`]) await chmod(path, 0o644);

    await touchAndClose(`file:${file}`, dataDir);
    for (const path of [file, `${file}-wal`, `${file}-shm`]) expect(await modeOf(path), path).toBe(0o600);
    expect(await modeOf(dataDir)).toBe(0o700);
    await earlier.close();
  });

  it('tightens an existing world-readable DATA_DIR when it keeps the development key there', async () => {
    const dataDir = join(scratch.dataDir, 'dev');
    await mkdir(dataDir);
    await chmod(dataDir, 0o755);
    const config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: `file:${dataDir}/ostiary.db` });
    await loadKeyEncryptionKeys(config, () => {});
    expect(await modeOf(dataDir)).toBe(0o700);
    expect(await modeOf(join(dataDir, 'dev-key-encryption-key'))).toBe(0o600);
  });

  it('leaves an existing directory that is not DATA_DIR as it was', async () => {
    const shared = join(scratch.dataDir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o755);
    await touchAndClose(`file:${shared}/ostiary.db`, join(scratch.dataDir, 'elsewhere'));
    expect(await modeOf(shared)).toBe(0o755);
    expect(await modeOf(join(shared, 'ostiary.db'))).toBe(0o600);
  });

  it('reads relative and file:/// URLs as libsql does, and opens :memory: without a file', async () => {
    const relativeFile = join(scratch.dataDir, 'rel', 'a.db');
    await touchAndClose(`file:./${relative(process.cwd(), relativeFile)}`);
    expect(await modeOf(relativeFile)).toBe(0o600);
    expect(await modeOf(join(scratch.dataDir, 'rel'))).toBe(0o700);

    const absoluteFile = join(scratch.dataDir, 'abs dir', 'b.db');
    await touchAndClose(pathToFileURL(absoluteFile).href);
    expect(await modeOf(absoluteFile)).toBe(0o600);

    const memory = await openDatabase('file::memory:');
    expect(await memory.db.$queryRawUnsafe('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await memory.close();
    expect(existsSync(':memory:')).toBe(false);
  });
});
