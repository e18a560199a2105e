import { Prisma, type Column, type ModelColumns } from '../db/index.ts';

export const FORMAT = 'ostiary-backup';
export const VERSION = 1;

/**
 * Every table a backup holds, in dependency order (a row's references come before it); restore
 * inserts in this order and deletes in the reverse. `Lock` is left out: its rows are only names
 * that serialize work, recreated on first use; `PasskeyChallenge` and `AssertionJti` too: their
 * rows live minutes (a ceremony, an assertion's lifetime). `OidcPayload` only with --include-sessions.
 */
export const TABLES = ['Api', 'ApiScope', 'Role', 'RolePermission', 'RegistrationToken', 'Client', 'ClientRole', 'ClientMetadataDocument', 'User', 'UserRole', 'TotpFactor', 'RecoveryCode', 'Passkey', 'Upstream', 'UpstreamIdentity', 'OneTimeToken', 'MailMessage', 'SigningKey', 'ApiKey', 'AuditEvent', 'OidcPayload'] as const;
export type Table = (typeof TABLES)[number];
export const SESSIONS_TABLE: Table = 'OidcPayload';
export const LEFT_OUT = ['Lock', 'PasskeyChallenge', 'AssertionJti'];

export type Counts = Partial<Record<Table, number>>;

export interface Header {
  format: typeof FORMAT;
  version: number;
  /** The newest migration applied to the source database: the schema the rows follow. */
  migration: string;
  provider: string;
  createdAt: string;
  sessions: boolean;
  counts: Counts;
  /** SHA-256 (hex) of every body line with its newline, in order. */
  checksum: string;
}

export type Row = Record<string, unknown>;
export interface BodyLine {
  table: Table;
  row: Row;
}

/** The Prisma client's property for a model: `ApiScope` -> `apiScope`. */
export const delegateName = (table: Table) => table[0]!.toLowerCase() + table.slice(1);

/**
 * A stored value as the file holds it, the same from either provider: DateTime as an ISO 8601
 * string in UTC with milliseconds, Json as the JSON value itself, BigInt and Decimal as decimal
 * strings, Bytes as base64.
 */
function encodeValue(value: unknown, column: Column): unknown {
  if (value === null || value === undefined) return null;
  if (column.type === 'DateTime') return (value as Date).toISOString();
  if (column.type === 'BigInt' || column.type === 'Decimal') return String(value);
  if (column.type === 'Bytes') return Buffer.from(value as Uint8Array).toString('base64');
  return value;
}

/** The value Prisma writes back: the inverse of encodeValue. A null Json is the SQL NULL the database held. */
function decodeValue(value: unknown, column: Column): unknown {
  if (value === null) return column.type === 'Json' ? (column.optional ? Prisma.DbNull : Prisma.JsonNull) : null;
  if (column.type === 'DateTime') return new Date(value as string);
  if (column.type === 'BigInt') return BigInt(value as string);
  if (column.type === 'Bytes') return new Uint8Array(Buffer.from(value as string, 'base64'));
  return value;
}

export function encodeRow(row: Row, model: ModelColumns): Row {
  return Object.fromEntries(model.columns.map((column) => [column.name, encodeValue(row[column.name], column)]));
}

export function decodeRow(row: Row, model: ModelColumns): Row {
  return Object.fromEntries(model.columns.filter((c) => c.name in row).map((column) => [column.name, decodeValue(row[column.name], column)]));
}
