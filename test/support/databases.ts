import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type TestDatabaseKind = 'sqlite' | 'postgresql';

/** Both by default; TEST_DATABASES=sqlite (or postgresql) narrows a local run. */
export const DATABASES = (process.env.TEST_DATABASES ?? 'sqlite,postgresql').split(',') as TestDatabaseKind[];

/** A PostgreSQL server the tests may create databases on (the machine's local one by default). */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  kind: TestDatabaseKind;
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database of its own, and a data directory; `drop` removes both. */
export async function createTestDatabase(kind: TestDatabaseKind): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ostiary-test-'));
  if (kind === 'sqlite') {
    return { kind, url: `file:${dataDir}/ostiary.db`, dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const name = `ostiary_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    dataDir,
    async drop() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
