import view from '@fastify/view';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config/index.ts';
import { auditProviderEvents } from './audit/index.ts';
import { interactionRoutes } from './interactions/routes.ts';
import { createViews, VIEWS_DIR } from './interactions/views.ts';
import { startKeyScheduler, type KeyScheduler } from './keys/scheduler.ts';
import { createLiveProvider, type LiveProvider } from './oidc/live-provider.ts';
import { providerRoutes } from './oidc/routes.ts';
import type { Services } from './services.ts';

declare module 'fastify' {
  interface FastifyInstance {
    ostiary: { live: LiveProvider; keys: KeyScheduler };
  }
}

const GENERIC_ERROR = 'The server could not handle this request.';

export function loggerOptions(config: Config) {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
  };
}

/** Assembles the HTTP server: the provider's endpoints, the interaction pages, error handling. */
export async function buildServer(services: Services, logger?: FastifyBaseLogger): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: loggerOptions(config) }),
    trustProxy: config.trustProxy,
    bodyLimit: 64 * 1024,
  });
  const views = createViews();
  const live = await createLiveProvider({ ...services, clients: services.clientStore, views }, (provider) => {
    provider.on('server_error', (_ctx, error) => app.log.error({ err: error }, 'provider server_error'));
    auditProviderEvents(provider as never, services.audit);
  });
  const keys = startKeyScheduler({ signingKeys: services.signingKeys, reload: live.refresh, reloadSeconds: config.keys.reload, log: app.log });
  app.decorate('ostiary', { live, keys });
  app.addHook('onClose', async () => keys.stop());

  await app.register(view, { engine: { eta: views.eta }, root: VIEWS_DIR, viewExt: 'eta' });

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    const message = status === 500 ? GENERIC_ERROR : error.message;
    return reply.code(status).header('cache-control', 'no-store').send({ error: status === 500 ? 'server_error' : 'invalid_request', error_description: message });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found', error_description: 'No such endpoint.' }));

  await app.register(providerRoutes, { live });
  await app.register(interactionRoutes, { live, users: services.users, audit: services.audit });
  return app;
}
