import type { FastifyInstance } from 'fastify';
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

export async function providerRoutes(app: FastifyInstance, { live }: { live: LiveProvider }): Promise<void> {
  // The provider reads and limits request bodies itself; Fastify must leave the stream alone.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  for (const url of PROVIDER_PATHS) {
    app.all(url, (request, reply) => {
      reply.hijack();
      void live.callback(request.raw, reply.raw);
    });
  }
}
