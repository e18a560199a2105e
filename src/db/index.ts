import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PrismaClient as PostgresClient } from './generated/postgresql/client.ts';
import { PrismaClient as SqliteClient } from './generated/sqlite/client.ts';
import { adapterFactory, databaseTarget, type DatabaseTarget } from './connection.ts';
import { applyMigrations } from './migrations.ts';
import type { Database } from './types.ts';

// Both generated clients share Prisma's runtime, so its SQL template helpers serve either.
export { Prisma } from './generated/sqlite/client.ts';
export { databaseTarget, redactedUrl } from './connection.ts';
export { isDatabaseUnavailable, UNAVAILABLE_MESSAGE } from './unavailable.ts';

export type { Database } from './types.ts';
export { withLock, type Transaction } from './lock.ts';
export { DEFAULT_PAGE, MAX_PAGE, pageOf, pageQuery, type Page, type PageRequest } from './paging.ts';
export { strings } from './json.ts';
export { createTtlCache } from './ttl-cache.ts';
export { deleteInBatches } from './batches.ts';
export { loadMigrations } from './migrations.ts';
export { modelColumns, type Column, type ModelColumns } from './columns.ts';

export interface DatabaseHandle {
  db: Database;
  target: DatabaseTarget;
  close(): Promise<void>;
  /** Called with an error a request met: lets the database recover from it without a restart. */
  recover(error: unknown): void;
}

/** The file a `file:` URL names, read as libsql reads it (`file:rel`, `file:/abs`, `file:///abs`); none for `:memory:`. */
function sqliteFile(url: string): string | undefined {
  const path = decodeURIComponent(/^file:(?:\/\/[^/?#]*)?([^?#]*)/.exec(url)?.[1] ?? '');
  return path && path !== ':memory:' ? path : undefined;
}

/** Sets `mode` on `path` if it exists and its group or others have any permission. */
async function restrictToOwner(path: string, mode: number): Promise<void> {
  const current = await stat(path).catch(() => undefined);
  if (current && current.mode & 0o077) await chmod(path, mode);
}

/**
 * Only the server's user may read the database: directories it creates are 0700 and the file is
 * created empty at 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
 * database's mode). Files left looser by an earlier version, and DATA_DIR, are tightened; any
 * other directory that already existed (say /tmp) is left as it is.
 */
async function ensureSqliteFile(url: string, dataDir?: string): Promise<void> {
  const file = sqliteFile(url);
  if (!file) return;
  const directory = dirname(resolve(file));
  await mkdir(directory, { recursive: true, mode: 0o700 });
  if (dataDir && resolve(dataDir) === directory) await restrictToOwner(directory, 0o700);
  await writeFile(file, '', { flag: 'wx', mode: 0o600 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  for (const suffix of ['', '-wal', '-shm', '-journal']) await restrictToOwner(file + suffix, 0o600);
}

/** Opens the database named by `url`, creating the SQLite file and applying migrations if asked. */
export async function openDatabase(
  url: string,
  options: { migrate?: boolean; onQuery?: (milliseconds: number) => void; dataDir?: string } = {},
): Promise<DatabaseHandle & { applied: string[] }> {
  const target = databaseTarget(url);
  if (target.provider === 'sqlite') await ensureSqliteFile(url, options.dataDir);
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
  return { db, target, applied, close: () => db.$disconnect(), recover: (error) => dropReadOnlyConnections(db, target, error) };
}

/**
 * SQLite opens a connection read-only, for good, when its file refuses writes at that moment, and
 * the pool would keep it once the file is writable again. Called on the error path only (a
 * wrapper around every query cost a third of the query time): on such an error the connections
 * are dropped, and the next query opens new ones.
 */
function dropReadOnlyConnections(db: Database, target: DatabaseTarget, error: unknown): void {
  if (target.provider === 'sqlite' && /SQLITE_READONLY/.test(String((error as Error)?.message ?? ''))) void db.$disconnect();
}

/** PostgreSQL text cannot hold NUL; a lookup by such a value can only find nothing. */
export const unstorable = (value: string) => value.includes('\u0000');
