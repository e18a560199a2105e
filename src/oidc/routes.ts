import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import { PROVIDER_CSP } from '../security/headers.ts';
import type { RateLimitHooks } from '../security/rate-limits.ts';
import type { LiveProvider } from './live-provider.ts';

/**
 * The provider's endpoints (with the default `routes` of oidc-provider). Only these paths reach
 * it, so Fastify keeps its own 404 and routes; each is a Fastify route, so every Fastify hook
 * (request ids, logging, future rate limits and metrics) runs in front of the protocol too.
 */
export const PROVIDER_PATHS = [
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/auth',
  '/auth/*',
  '/token',
  '/token/*',
  '/jwks',
  '/me',
  '/request',
  '/session/end',
  '/session/end/*',
];

/** Longest query string accepted; an authorization request is far shorter. */
const MAX_QUERY_LENGTH = 8 * 1024;

function limitsFor(url: string, limits: RateLimitHooks): preHandlerHookHandler[] {
  if (url === '/token') return [limits.tokenPerIp, limits.tokenPerClient];
  if (url === '/auth' || url === '/request') return [limits.authorizePerIp];
  return [];
}

export async function providerRoutes(app: FastifyInstance, { live, limits }: { live: LiveProvider; limits: RateLimitHooks }): Promise<void> {
  // The provider reads and limits request bodies itself; Fastify must leave the stream alone.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  app.addHook('onRequest', async (request, reply) => {
    const query = request.url.indexOf('?');
    if (query !== -1 && request.url.length - query > MAX_QUERY_LENGTH) {
      return reply.code(414).send({ error: 'invalid_request', error_description: 'The request URI is too long.' });
    }
  });
  // Fastify forgets a request once it is handed over; closing waits for the provider to finish
  // them too (even those whose client went away), so the database is not closed under them.
  const inFlight = new Set<Promise<unknown>>();
  app.addHook('onClose', async () => {
    await Promise.allSettled([...inFlight]);
  });
  for (const url of PROVIDER_PATHS) {
    app.all(url, { preHandler: limitsFor(url, limits) }, (request, reply) => {
      // Headers Fastify's hooks set (request id, security headers) go out with the provider's answer.
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      reply.raw.setHeader('content-security-policy', PROVIDER_CSP);
      reply.hijack();
      const handled = Promise.resolve(live.callback(request.raw, reply.raw));
      inFlight.add(handled);
      void handled.finally(() => inFlight.delete(handled));
    });
  }
}
