import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { UNAVAILABLE_MESSAGE } from '../db/index.ts';
import { GENERIC_ERROR, prepareErrorReply } from '../http/index.ts';

/** Our error page, whatever went wrong: the message for a 4xx, fixed text otherwise. */
export function errorPage(error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) {
  const outcome = prepareErrorReply(error as FastifyError, request, reply);
  if (outcome.kind === 'unavailable') return reply.view('error', { message: UNAVAILABLE_MESSAGE });
  if (outcome.kind === 'server') return reply.view('error', { message: GENERIC_ERROR, code: 'server_error' });
  return reply.view('error', { message: outcome.message });
}
