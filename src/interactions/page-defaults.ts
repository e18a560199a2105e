import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { pageErrorHandler } from '../http/index.ts';
import { PAGE_CSP } from '../security/index.ts';

/** What every page route shares: small form bodies, our error page, no caching, no referrer, the page CSP. */
export async function registerPageDefaults(app: FastifyInstance): Promise<void> {
  await app.register(formbody, { bodyLimit: 16 * 1024 });
  app.setErrorHandler(pageErrorHandler);
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').header('content-security-policy', PAGE_CSP);
  });
}
