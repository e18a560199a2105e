import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable, UNAVAILABLE_MESSAGE } from '../db/index.ts';
import { OstiaryError } from '../errors.ts';
import type { Translate } from '../i18n/index.ts';

/** What a 5xx says, whatever front it comes from: the details go to the log with the request id. */
export const GENERIC_ERROR = 'The server could not handle this request.';

/** How long a client is told to wait while the database is out of reach. */
export const RETRY_AFTER_SECONDS = 5;

/** The protocol's words for it (RFC 6749 `temporarily_unavailable`), from Fastify and the provider alike. */
export const PROTOCOL_UNAVAILABLE = { error: 'temporarily_unavailable', error_description: UNAVAILABLE_MESSAGE } as const;

export type ErrorKind = { kind: 'unavailable' } | { kind: 'client'; status: number; message: string } | { kind: 'server' };

/**
 * What an error means for the answer, and the part every front shares: the log line, the status
 * and the headers. Each front's handler then sends its own body (JSON, page, problem).
 */
export function prepareErrorReply(error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply): ErrorKind {
  reply.header('cache-control', 'no-store');
  if (isDatabaseUnavailable(error)) {
    request.log.error({ err: error }, 'database unavailable');
    reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS));
    return { kind: 'unavailable' };
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  reply.code(status);
  if (status < 500) return { kind: 'client', status, message: error.message };
  request.log.error({ err: error }, 'request failed');
  return { kind: 'server' };
}

/** OAuth-shaped JSON errors (RFC 6749 section 5.2): the protocol's endpoints, and anything outside the other fronts. */
export function protocolErrorHandler(error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) {
  const outcome = prepareErrorReply(error, request, reply);
  if (outcome.kind === 'unavailable') return reply.send(PROTOCOL_UNAVAILABLE);
  if (outcome.kind === 'server') return reply.send({ error: 'server_error', error_description: GENERIC_ERROR });
  return reply.send({ error: outcome.status === 429 ? 'too_many_requests' : 'invalid_request', error_description: outcome.message });
}

/** The page's words for a refused request: a typed error's by its code, else by the status. */
function pageMessageKey(error: Error, status: number): string[] {
  const code = (error as { code?: unknown }).code;
  const byStatus = status === 429 ? 'errors:page.too_many_requests' : status === 413 ? 'errors:page.too_large' : 'errors:page.refused';
  return error instanceof OstiaryError && typeof code === 'string' ? [`errors:${code}`, byStatus] : [byStatus];
}

/**
 * Our error page, whatever went wrong: the catalogue's words for a 4xx, fixed text otherwise,
 * in the page's language (the page defaults put the translator in `reply.locals`).
 */
export function pageErrorHandler(error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) {
  const outcome = prepareErrorReply(error, request, reply);
  const t = (reply.locals as { t?: Translate } | undefined)?.t;
  if (outcome.kind === 'unavailable') return reply.view('error', { message: t ? t('errors:page.unavailable') : UNAVAILABLE_MESSAGE });
  if (outcome.kind === 'server') return reply.view('error', { message: t ? t('errors:page.server_error') : GENERIC_ERROR, code: 'server_error' });
  return reply.view('error', { message: t ? t(pageMessageKey(error, outcome.status)) : outcome.message });
}
