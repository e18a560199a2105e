import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaClient as PostgresClient } from './generated/postgresql/client.ts';
import { PrismaClient as SqliteClient } from './generated/sqlite/client.ts';
import { adapterFactory, databaseTarget, type DatabaseTarget } from './connection.ts';
import { applyMigrations } from './migrations.ts';

// Both generated clients share Prisma's runtime, so its SQL template helpers serve either.
export { Prisma } from './generated/sqlite/client.ts';
export { databaseTarget, redactedUrl } from './connection.ts';

/** Both generated clients expose the same model API; the SQLite one names the type. */
export type Database = SqliteClient;

export interface DatabaseHandle {
  db: Database;
  target: DatabaseTarget;
  close(): Promise<void>;
}

async function ensureSqliteDirectory(url: string): Promise<void> {
  const path = url.slice('file:'.length);
  if (path && path !== ':memory:') await mkdir(dirname(path.startsWith('//') ? fileURLToPath(url) : path), { recursive: true });
}

/** Opens the database named by `url`, creating the SQLite file and applying migrations if asked. */
export async function openDatabase(
  url: string,
  options: { migrate?: boolean; onQuery?: (milliseconds: number) => void } = {},
): Promise<DatabaseHandle & { applied: string[] }> {
  const target = databaseTarget(url);
  if (target.provider === 'sqlite') await ensureSqliteDirectory(url);
  const applied = options.migrate ? await applyMigrations(target) : [];
  const adapter = adapterFactory(target);
  const log = options.onQuery ? [{ emit: 'event' as const, level: 'query' as const }] : [];
  const db = target.provider === 'sqlite' ? new SqliteClient({ adapter, log }) : (new PostgresClient({ adapter, log }) as unknown as Database);
  if (options.onQuery) {
    const onQuery = options.onQuery;
    (db as unknown as { $on(event: 'query', listener: (e: { duration: number }) => void): void }).$on('query', (e) => onQuery(e.duration));
  }
  if (target.provider === 'sqlite') {
    // WAL lets readers run beside the writer; the busy timeout queues writers instead of failing.
    await db.$queryRawUnsafe('PRAGMA journal_mode = WAL');
    await db.$queryRawUnsafe('PRAGMA busy_timeout = 5000');
  }
  return { db, target, applied, close: () => db.$disconnect() };
}

/** PostgreSQL text cannot hold NUL; a lookup by such a value can only find nothing. */
export const unstorable = (value: string) => value.includes('\u0000');
