import type { PrismaClient as SqliteClient } from './generated/sqlite/client.ts';

/** Both generated clients expose the same model API; the SQLite one names the type. */
export type Database = SqliteClient;
