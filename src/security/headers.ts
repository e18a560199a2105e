import { randomUUID } from 'node:crypto';
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';

/**
 * Our pages load stylesheets and images from us, and images from the origins given (a brand
 * logo's), nothing else: no script, no inline style, no framing.
 */
export function pageCsp(imageOrigins: readonly string[] = []): string {
  return `default-src 'none'; style-src 'self'; img-src ${["'self'", ...imageOrigins].join(' ')}; base-uri 'none'; frame-ancestors 'none'`;
}

/**
 * A page with passkey buttons (login, second step, account) also runs our two scripts, which
 * talk to us alone: `script-src 'self'` and `connect-src 'self'`, still no inline script or eval.
 */
export const withPasskeyScripts = (csp: string): string => csp.replace("default-src 'none'; ", "default-src 'none'; script-src 'self'; connect-src 'self'; ");
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
 * Security headers on every response (helmet) and the request id echoed as `X-Request-Id`.
 * HSTS only when the issuer is https. (The stylesheet our pages use: interactions/assets.ts.)
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
}
