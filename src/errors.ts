/** Product errors (CLI and HTTP outside the protocol). Protocol errors are oidc-provider's own. */
export type ErrorCode = 'invalid_input' | 'forbidden' | 'not_found' | 'conflict';

const STATUS: Record<ErrorCode, number> = { invalid_input: 400, forbidden: 403, not_found: 404, conflict: 409 };

export class OstiaryError extends Error {
  override name = 'OstiaryError';
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.status = STATUS[code];
  }
}

export const invalidInput = (message: string) => new OstiaryError('invalid_input', message);
/** The caller may not do this (e.g. an API key asking for more than it holds). */
export const forbidden = (message: string) => new OstiaryError('forbidden', message);
export const notFound = (message: string) => new OstiaryError('not_found', message);
export const conflict = (message: string) => new OstiaryError('conflict', message);

/** Prisma's unique-constraint violation (P2002), to be reported as a conflict. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'P2002';
}
