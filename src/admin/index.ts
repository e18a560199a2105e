import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { UNAVAILABLE_MESSAGE } from '../db/index.ts';
import { prepareErrorReply } from '../http/index.ts';
import type { RateLimitHooks } from '../security/index.ts';
import { fail, OstiaryError } from '../errors.ts';
import { apiKeyAuth, recordRefusal, type AdminRoute } from './auth.ts';

export type { AdminRoute } from './auth.ts';
export { sendProblem, titleOf } from './problem.ts';
import type { AdminDeps } from './context.ts';
import { problemFor, sendProblem, titleOf } from './problem.ts';
import { accessRoutes } from './routes/access.ts';
import { auditRoutes } from './routes/audit.ts';
import { clientRoutes } from './routes/clients.ts';
import { keyRoutes } from './routes/keys.ts';
import { upstreamRoutes } from './routes/upstreams.ts';
import { userRoutes } from './routes/users.ts';

export const ADMIN_PREFIX = '/admin/api/v1';

/**
 * The top-level field of `value` holding a string with NUL in it (PostgreSQL text cannot hold
 * one, so the query would fail), '' when `value` itself is such a string.
 */
function nulField(value: unknown, field = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? field : undefined;
  if (!value || typeof value !== 'object') return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const found = nulField(inner, field || key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The admin REST API (registered with prefix /admin/api/v1): JSON in and out, API-key auth
 * with a scope per route, problem+json errors, an OpenAPI document generated from the schemas.
 */
export async function adminApi(app: FastifyInstance, deps: AdminDeps & { limits: RateLimitHooks; routes: AdminRoute[] }) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Ostiary admin API', version: '1' },
      servers: [{ url: `${deps.config.issuer}${ADMIN_PREFIX}` }],
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'osk_... API key' } } },
      security: [{ apiKey: [] }],
    },
    transform: ({ schema, url }) => ({ schema, url: url.startsWith(ADMIN_PREFIX) ? url.slice(ADMIN_PREFIX.length) || '/' : url }),
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });
  app.addHook('preValidation', async (request) => {
    const field = nulField(request.body) ?? nulField(request.query);
    if (field !== undefined) throw fail('input.invalid', `${field || 'the body'} must not contain a NUL character`, { field: field || undefined });
  });
  apiKeyAuth(app, deps.services.apiKeys, deps.services.audit, deps.routes);
  app.addHook('preHandler', deps.limits.adminPerKey);

  app.setErrorHandler(async (error: Error & { statusCode?: number }, request, reply) => {
    if (prepareErrorReply(error, request, reply).kind === 'unavailable') return sendProblem(reply, 503, 'Service Unavailable', UNAVAILABLE_MESSAGE);
    const { status, detail, ...extra } = problemFor(error, request.body !== undefined && request.body !== null);
    // A key asking for more than it holds (a stronger key, roles without roles:write).
    if (error instanceof OstiaryError && error.status === 403 && request.apiKey) await recordRefusal(deps.services.audit, request, { reason: 'exceeds_authority', detail });
    return sendProblem(reply, status, titleOf(status), detail, extra);
  });
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, 404, 'Not Found', 'No such admin endpoint.'));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const routeDeps: AdminDeps = { services: deps.services, config: deps.config };
  for (const routes of [clientRoutes, userRoutes, accessRoutes, keyRoutes, auditRoutes, upstreamRoutes]) await app.register(routes, routeDeps);
}
