import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hasScope, type ApiKeys, type ApiKeyScope, type ApiKeyView } from '../api-keys/index.ts';
import type { Audit } from '../audit/index.ts';
import { sendProblem } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyView;
    apiKeyId?: string;
  }
  interface FastifyContextConfig {
    /** The API key scope a route needs; every admin route declares one. */
    scope?: ApiKeyScope;
  }
}

const CHALLENGE = 'Bearer realm="ostiary-admin"';

function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/**
 * API-key authentication for every admin route: 401 with the same body whatever was wrong
 * with a key (unknown, wrong, expired, revoked, wrong address), 403 naming a missing scope.
 * Every use and every refusal is audited.
 */
export interface AdminRoute {
  method: string;
  url: string;
  scope: ApiKeyScope;
}

const routeOf = (request: FastifyRequest) => `${request.method} ${request.routeOptions.url}`;

/** Audits a request the key was authenticated for but not allowed to make. */
export function recordRefusal(audit: Audit, request: FastifyRequest, details: Record<string, string>) {
  return audit.record({
    type: 'api_key.refused',
    outcome: 'failure',
    actor: `api-key:${request.apiKey.id}`,
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    requestId: request.id,
    details: { route: routeOf(request), ...details },
  });
}

export function apiKeyAuth(app: FastifyInstance, apiKeys: ApiKeys, audit: Audit, routes: AdminRoute[]) {
  app.decorateRequest('apiKey', null as unknown as ApiKeyView);
  app.addHook('onRoute', (route) => {
    if (route.url.endsWith('/openapi.json')) return;
    if (!route.config?.scope) throw new Error(`admin route ${route.method} ${route.url} declares no scope`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, scope: route.config.scope });
  });

  app.addHook('onRequest', async (request, reply) => {
    const scope = request.routeOptions.config.scope;
    if (!scope) return;
    const where = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
    const presented = presentedKey(request);
    if (!presented) {
      reply.header('www-authenticate', CHALLENGE);
      return sendProblem(reply, 401, 'Unauthorized', 'An API key is required: send it as "Authorization: Bearer osk_..." or "X-API-Key".');
    }
    const result = await apiKeys.verify(presented, request.ip);
    if (!result.ok) {
      await audit.record({ type: 'api_key.refused', outcome: 'failure', actor: result.keyId ? `api-key:${result.keyId}` : null, ...where, details: { reason: result.reason } });
      reply.header('www-authenticate', `${CHALLENGE}, error="invalid_token"`);
      return sendProblem(reply, 401, 'Unauthorized', 'The API key is not valid.');
    }
    request.apiKey = result.key;
    request.apiKeyId = result.key.id;
    const allowed = hasScope(result.key, scope);
    if (allowed) await audit.record({ type: 'api_key.used', outcome: 'success', actor: `api-key:${result.key.id}`, ...where, details: { route: routeOf(request) } });
    else await recordRefusal(audit, request, { reason: 'missing_scope', scope });
    if (!allowed) return sendProblem(reply, 403, 'Forbidden', `This API key lacks the scope ${scope}.`);
  });
}
