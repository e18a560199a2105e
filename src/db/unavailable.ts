/** What a request is told while the database cannot be reached (with 503 and Retry-After). */
export const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable. Try again shortly.';

/**
 * Errors that mean the database cannot be reached or cannot take writes right now (as opposed to a
 * bad query): SQLite's full disk (SQLITE_FULL), failed reads or writes of its files (SQLITE_IOERR,
 * e.g. a file that refuses writes), a file or directory it may not write (SQLITE_READONLY) or open
 * (SQLITE_CANTOPEN). Each clears when the operator frees space or fixes the file, with no restart.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const text = `${(error as { code?: string })?.code ?? ''} ${(error as Error)?.message ?? ''} ${(error as { cause?: { message?: string } })?.cause?.message ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|P1001|P1017|P2024|DatabaseNotReachable|ConnectionClosed|Connection terminated|terminating connection|the database system is (shutting down|starting up)|connect ETIMEDOUT|Can't reach database|SQLITE_BUSY|database is locked|SQLITE_FULL|database or disk is full|SQLITE_IOERR|disk I\/O error|SQLITE_READONLY|attempt to write a readonly database|SQLITE_CANTOPEN|unable to open database file/i.test(text);
}
