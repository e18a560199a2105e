import { createHash } from 'node:crypto';
import type { Actor, Audit } from '../audit/index.ts';
import { loadMigrations, modelColumns, type Database, type ModelColumns, type Transaction } from '../db/index.ts';
import { fail } from '../errors.ts';
import { sealContext } from '../keys/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { refuseExisting, readLines, writeBackupFile } from './files.ts';
import { decodeRow, delegateName, encodeRow, FORMAT, SESSIONS_TABLE, TABLES, VERSION, type Counts, type Header, type Row, type Table } from './format.ts';

/**
 * Backup and restore. This module owns no table: it copies all of them, byte for byte as
 * stored (hashes stay hashes, sealed keys stay sealed), which is why it alone reads and writes
 * every other module's tables rather than going through their owners.
 */

export { FORMAT, LEFT_OUT, TABLES, VERSION, type Counts, type Header } from './format.ts';

type Delegate = {
  findMany(args: object): Promise<Row[]>;
  createMany(args: { data: Row[] }): Promise<unknown>;
  deleteMany(args?: object): Promise<unknown>;
  count(): Promise<number>;
};
type Reader = Transaction | Database;
const delegate = (tx: Reader, table: Table) => (tx as unknown as Record<string, Delegate>)[delegateName(table)]!;

/** Rows read per query and written per INSERT (well under either provider's parameter limit). */
const PAGE = 500;
// Long enough for a large database; a backup holds its read snapshot, a restore its write, for as long.
const LIMITS = { maxWait: 10_000, timeout: 3_600_000 };
// The Database type is the SQLite client's, whose only level is Serializable; PostgreSQL's client takes this one.
const REPEATABLE_READ = 'RepeatableRead' as unknown as 'Serializable';

interface Schema {
  models: Record<string, ModelColumns>;
  committed: string[];
}

/** The rows of a table in primary-key order, a page at a time (cursor paging: no offset scans). */
async function* tableRows(tx: Reader, table: Table, model: ModelColumns): AsyncGenerator<Row> {
  const orderBy = model.key.map((column) => ({ [column]: 'asc' }));
  const cursorOf = (row: Row) =>
    model.key.length === 1 ? { [model.key[0]!]: row[model.key[0]!] } : { [model.key.join('_')]: Object.fromEntries(model.key.map((k) => [k, row[k]])) };
  let last: Row | undefined;
  for (;;) {
    const rows = await delegate(tx, table).findMany({ orderBy, take: PAGE, ...(last ? { skip: 1, cursor: cursorOf(last) } : {}) });
    yield* rows;
    if (rows.length < PAGE) return;
    last = rows.at(-1);
  }
}

async function latestMigration(tx: Reader): Promise<string> {
  const rows = await tx.$queryRawUnsafe<{ migration_name: string }[]>(
    'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
  );
  return rows.map((r) => r.migration_name).sort().at(-1) ?? '';
}

async function isEmpty(tx: Reader): Promise<boolean> {
  for (const table of TABLES) if ((await delegate(tx, table).count()) > 0) return false;
  return true;
}

const invalid = (message: string) => fail('backup.invalid', message);

function parseHeader(line: string | undefined, schema: Schema): Header {
  let header: Partial<Header>;
  try {
    header = JSON.parse(line ?? '') as Partial<Header>;
  } catch {
    throw invalid('not an Ostiary backup: the first line is not a JSON header');
  }
  if (header?.format !== FORMAT) throw invalid(`not an Ostiary backup: the format is ${JSON.stringify(header?.format)}, not ${FORMAT}`);
  if (!Number.isInteger(header.version) || header.version! < 1) throw invalid('the header has no valid version');
  if (header.version! > VERSION) {
    throw fail('backup.version_unsupported', `the backup has format version ${header.version}; this version of Ostiary reads version ${VERSION}: upgrade Ostiary first`);
  }
  if (typeof header.checksum !== 'string' || typeof header.counts !== 'object' || header.counts === null || typeof header.migration !== 'string') {
    throw invalid('the header lacks its checksum, counts or migration');
  }
  checkMigration(header.migration, schema.committed);
  return header as Header;
}

/** The backup's rows must follow a schema this version knows: one of its committed migrations. */
function checkMigration(migration: string, committed: string[]): void {
  if (committed.includes(migration)) return;
  if (migration > committed.at(-1)!) {
    throw fail('backup.version_unsupported', `the backup was made with a newer schema (migration ${migration}): upgrade Ostiary first`);
  }
  throw invalid(`the backup's schema (migration ${migration}) is not one of this version's migrations`);
}

function parseLine(line: string, schema: Schema, previous: number): { table: Table; row: Row; index: number } {
  let parsed: { table?: unknown; row?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    throw invalid('a line of the backup is not JSON');
  }
  const index = TABLES.indexOf(parsed?.table as Table);
  if (index < 0) throw invalid(`the backup holds an unknown table ${JSON.stringify(parsed?.table)}`);
  if (index < previous) throw invalid(`the rows of ${TABLES[index]} are out of dependency order`);
  if (typeof parsed.row !== 'object' || parsed.row === null) throw invalid(`a ${TABLES[index]} line has no row`);
  const known = new Set(schema.models[TABLES[index]!]!.columns.map((c) => c.name));
  const unknown = Object.keys(parsed.row).find((column) => !known.has(column));
  if (unknown) throw invalid(`${TABLES[index]}.${unknown} is not a column of this schema`);
  return { table: TABLES[index]!, row: parsed.row as Row, index };
}

const sameCounts = (a: Counts, b: Counts) =>
  TABLES.every((table) => (a[table] ?? 0) === (b[table] ?? 0)) && Object.keys(a).every((table) => TABLES.includes(table as Table));

/**
 * Reads and checks a whole backup: the header first, then every line, its table and columns,
 * and at the end the counts and the checksum. `onRow` sees each row; nothing a caller did with
 * them should stand unless this returns.
 */
async function readBackup(file: string, schema: Schema, onRow: (table: Table, row: Row) => Promise<void>): Promise<Header> {
  const lines = readLines(file);
  try {
    const header = parseHeader((await lines.next()).value ?? undefined, schema);
    const hash = createHash('sha256');
    const counts: Counts = {};
    let previous = 0;
    for await (const line of lines) {
      hash.update(`${line}\n`);
      const { table, row, index } = parseLine(line, schema, previous);
      previous = index;
      counts[table] = (counts[table] ?? 0) + 1;
      await onRow(table, row);
    }
    return checked(header, hash.digest('hex'), counts);
  } finally {
    await lines.return(undefined);
  }
}

function checked(header: Header, checksum: string, counts: Counts): Header {
  if (checksum !== header.checksum) throw invalid('the checksum does not match: the file was altered or is incomplete');
  if (!sameCounts(header.counts, counts)) throw invalid('the row counts do not match the header: the file is incomplete');
  return header;
}

/** Reports rows done out of the total, for a progress bar; never prints. */
export type Progress = (done: number, total: number) => void;

async function totalRows(tx: Reader, tables: readonly Table[]): Promise<number> {
  let total = 0;
  for (const table of tables) total += await delegate(tx, table).count();
  return total;
}

export function createBackups(db: Database, provider: 'sqlite' | 'postgresql', secrets: Secrets, audit: Audit) {
  const schema = async (): Promise<Schema> => ({
    models: await modelColumns(),
    committed: (await loadMigrations(provider)).migrationDirectories.map((m) => m.path),
  });

  /**
   * One consistent read of every table while the server keeps running. PostgreSQL: a REPEATABLE
   * READ, READ ONLY transaction. SQLite (libsql offers Serializable only): a deferred
   * transaction, which in WAL mode reads one snapshot from its first read while writers go on.
   */
  function snapshot<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    if (provider === 'sqlite') return db.$transaction(work, LIMITS);
    return db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET TRANSACTION READ ONLY');
      return work(tx);
    }, { ...LIMITS, isolationLevel: REPEATABLE_READ });
  }

  /** Refuses, before writing, a backup whose signing keys no configured key-encryption key opens. */
  function checkKeysOpen(keys: Row[]): void {
    for (const key of keys) {
      try {
        secrets.open(key.privateJwkEncrypted as string, sealContext(key.kid as string));
      } catch {
        throw fail(
          'backup.key_unavailable',
          `signing key ${key.kid as string} in the backup is sealed under a key-encryption key this server does not have: set KEY_ENCRYPTION_KEY to the one the backed-up server used`,
        );
      }
    }
  }

  return {
    /** Writes a snapshot of every table (the provider's rows only with `includeSessions`) to `out`. */
    async write(out: string, options: { includeSessions: boolean; force: boolean; onProgress?: Progress }): Promise<Header> {
      await refuseExisting(out, options.force);
      const { models } = await schema();
      const tables = TABLES.filter((table) => options.includeSessions || table !== SESSIONS_TABLE);
      return writeBackupFile(out, options.force, (push) =>
        snapshot(async (tx) => {
          const createdAt = new Date().toISOString();
          const migration = await latestMigration(tx);
          const counts: Counts = {};
          const total = options.onProgress ? await totalRows(tx, tables) : 0;
          let done = 0;
          for (const table of tables) {
            let count = 0;
            for await (const row of tableRows(tx, table, models[table]!)) {
              await push(JSON.stringify({ table, row: encodeRow(row, models[table]!) }));
              count += 1;
              if (++done % PAGE === 0 || done === total) options.onProgress?.(done, total);
            }
            counts[table] = count;
          }
          return { format: FORMAT, version: VERSION, migration, provider, createdAt, sessions: options.includeSessions, counts };
        }),
      );
    },

    /**
     * Checks the whole file (format, version, schema, checksum, that its signing keys open), then
     * in one transaction refuses a database that holds data unless `replace` (whose rows it then
     * deletes), inserts every row in dependency order and records the restore.
     */
    async restore(file: string, options: { replace: boolean; onProgress?: Progress }, actor: Actor): Promise<Header & { replaced: boolean }> {
      const known = await schema();
      const keys: Row[] = [];
      const checkedHeader = await readBackup(file, known, async (table, row) => void (table === 'SigningKey' && keys.push(row)));
      const total = Object.values(checkedHeader.counts).reduce((sum, n) => sum + (n ?? 0), 0);
      let done = 0;
      checkKeysOpen(keys);
      return db.$transaction(async (tx) => {
        const replaced = !(await isEmpty(tx));
        if (replaced && !options.replace) throw fail('backup.not_empty', 'the database already holds data');
        for (const table of [...TABLES].reverse()) if (replaced) await delegate(tx, table).deleteMany({});
        let batch: { table?: Table; rows: Row[] } = { rows: [] };
        const flush = async () => void (batch.table && batch.rows.length && (await delegate(tx, batch.table).createMany({ data: batch.rows })));
        const header = await readBackup(file, known, async (table, row) => {
          if (table !== batch.table || batch.rows.length >= PAGE) {
            await flush();
            batch = { table, rows: [] };
          }
          batch.rows.push(decodeRow(row, known.models[table]!));
          if (++done % PAGE === 0 || done === total) options.onProgress?.(done, total);
        });
        await flush();
        const details = { migration: header.migration, createdAt: header.createdAt, provider: header.provider, sessions: header.sessions, replaced, counts: header.counts };
        await audit.change(actor, { type: 'backup.restored', details }, tx);
        return { ...header, replaced };
      }, LIMITS);
    },
  };
}

export type Backups = ReturnType<typeof createBackups>;
