/** What a request is told while the database cannot be reached (with 503 and Retry-After). */
export const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable. Try again shortly.';

/** Errors that mean the database cannot be reached (as opposed to a bad query). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const text = `${(error as { code?: string })?.code ?? ''} ${(error as Error)?.message ?? ''} ${(error as { cause?: { message?: string } })?.cause?.message ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|P1001|P1017|P2024|DatabaseNotReachable|ConnectionClosed|Connection terminated|terminating connection|the database system is (shutting down|starting up)|connect ETIMEDOUT|Can't reach database|SQLITE_BUSY|database is locked/i.test(text);
}
