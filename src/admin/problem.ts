import type { FastifyError, FastifyReply } from 'fastify';
import { OstiaryError } from '../errors.ts';

/** RFC 9457 problem details, the only error shape the admin API answers with. */
export function sendProblem(reply: FastifyReply, status: number, title: string, detail: string) {
  return reply.code(status).type('application/problem+json').header('cache-control', 'no-store').send({ type: 'about:blank', title, status, detail });
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** Names the offending field for schema errors, the service's message for its own errors, nothing internal otherwise. */
export function problemFor(error: FastifyError | OstiaryError | Error): { status: number; detail: string } {
  if (error instanceof OstiaryError) return { status: error.status, detail: error.message };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const detail = fastifyError.validation
      .map((v) =>
        v.keyword === 'additionalProperties'
          ? `unknown field ${String((v.params as { additionalProperty?: string }).additionalProperty)}`
          : `${fastifyError.validationContext ?? 'body'}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''} ${v.message}`,
      )
      .join('; ');
    return { status: 400, detail };
  }
  const status = fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500 ? fastifyError.statusCode : 500;
  return { status, detail: status === 500 ? 'The server could not handle this request.' : error.message };
}

export const titleOf = (status: number) => TITLES[status] ?? 'Error';
