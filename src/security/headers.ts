import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { VIEWS_DIR } from '../interactions/views.ts';

/** Our pages load one stylesheet from us and nothing else: no script at all, no framing. */
export const PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";
/**
 * The provider's own HTML (error and logout pages, and the form_post response mode, whose page
 * submits itself with an inline script) may not be framed either.
 */
export const PROVIDER_CSP = "base-uri 'none'; frame-ancestors 'none'";

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const HSTS = { maxAge: 31_536_000, includeSubDomains: true };

/**
 * The headers that mean something on a public JSON document (discovery, the JWKS), fixed once:
 * helmet's other headers are for HTML pages, and these two documents are served so often that
 * every header counts.
 */
export function documentHeaders(config: Config): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'cross-origin',
    ...(config.issuer.startsWith('https:') ? { 'strict-transport-security': `max-age=${HSTS.maxAge}; includeSubDomains` } : {}),
  };
}

/** A request id from the proxy in front when it looks like one, else a new one. */
export function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Security headers on every response (helmet), the request id echoed as `X-Request-Id`, and the
 * stylesheet our pages use. HSTS only when the issuer is https.
 */
export async function registerSecurityHeaders(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: false,
    crossOriginEmbedderPolicy: false,
    // Discovery and the JWKS are read by browsers of other origins.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    hsts: config.issuer.startsWith('https:') ? HSTS : false,
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    reply.header('x-request-id', request.id);
  });

  const css = await readFile(`${VIEWS_DIR}ostiary.css`, 'utf8');
  app.get('/assets/ostiary.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').header('content-security-policy', PAGE_CSP).send(css),
  );
}
