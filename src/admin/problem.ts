import type { FastifyError, FastifyReply } from 'fastify';
import { OstiaryError } from '../errors.ts';
import { GENERIC_ERROR } from '../http/index.ts';

/** RFC 9457 problem details, the only error shape the admin API answers with. */
export function sendProblem(reply: FastifyReply, status: number, title: string, detail: string, extra: ProblemExtras = {}) {
  return reply.code(status).type('application/problem+json').header('cache-control', 'no-store').send({ type: 'about:blank', title, status, detail, ...extra });
}

/** RFC 9457 extension members: the stable error code, and a JSON pointer to the offending field. */
interface ProblemExtras {
  code?: string;
  pointer?: string;
}

/** The JSON name of a service field where it is not simply the field in snake_case. */
const JSON_FIELDS: Record<string, string> = {
  'client.name': 'client_name',
  'client.scopes': 'scope',
  'api_key.expiresAt': 'expires_in_seconds',
  'upstream.mapping': 'claim_mapping',
};

const snakeCase = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Where in the request body the error's field is (`/grant_types`), for the service errors that name one. */
function pointerOf(error: OstiaryError): string | undefined {
  if (!error.field) return undefined;
  const resource = error.code.slice(0, error.code.indexOf('.'));
  return `/${JSON_FIELDS[`${resource}.${error.field}`] ?? snakeCase(error.field)}`;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/**
 * Names the offending field for schema errors, the service's message for its own errors, nothing
 * internal otherwise. A pointer is given only into a request body (`withBody`).
 */
export function problemFor(error: FastifyError | OstiaryError | Error, withBody: boolean): { status: number; detail: string } & ProblemExtras {
  if (error instanceof OstiaryError) {
    const pointer = withBody ? pointerOf(error) : undefined;
    return { status: error.status, detail: error.message, code: error.code, ...(pointer ? { pointer } : {}) };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const detail = fastifyError.validation
      .map((v) =>
        v.keyword === 'additionalProperties'
          ? `unknown field ${String((v.params as { additionalProperty?: string }).additionalProperty)}`
          : `${fastifyError.validationContext ?? 'body'}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''} ${v.message}`,
      )
      .join('; ');
    const [first] = fastifyError.validation;
    const params = first?.params as { additionalProperty?: string; missingProperty?: string } | undefined;
    const named = params?.additionalProperty ?? params?.missingProperty;
    const pointer = first?.instancePath || (named ? `/${named}` : undefined);
    return { status: 400, detail, code: 'input.invalid', ...(pointer && fastifyError.validationContext === 'body' ? { pointer } : {}) };
  }
  const status = fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500 ? fastifyError.statusCode : 500;
  return { status, detail: status === 500 ? GENERIC_ERROR : error.message };
}

export const titleOf = (status: number) => TITLES[status] ?? 'Error';
