import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { documentHeaders, PROVIDER_CSP, type RateLimitHooks } from '../security/index.ts';
import type { Config } from '../config/index.ts';
import type { I18n } from '../i18n/index.ts';
import { pageErrorHandler, protocolErrorHandler } from '../http/index.ts';
import { isDevicePage } from './device.ts';
import { DOCUMENT_PATHS, type DocumentPath } from './documents.ts';
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
  '/device',
  '/device/auth',
  '/device/*',
];

/** The registration endpoints (RFC 7591, 7592), served only when DYNAMIC_REGISTRATION is not `off`. */
export const REGISTRATION_PATHS = ['/reg', '/reg/*'];

/** Longest query string accepted; an authorization request is far shorter. */
const MAX_QUERY_LENGTH = 8 * 1024;

/** The hook for form posts only (the pages themselves may be reloaded freely). */
const onPost = (hook: preHandlerHookHandler): preHandlerHookHandler =>
  async function (this: unknown, request, reply) {
    if (request.method === 'POST') return hook.call(this as never, request, reply, () => {});
  };

function limitsFor(url: string, limits: RateLimitHooks): preHandlerHookHandler[] {
  if (url === '/token') return [limits.tokenPerIp, limits.tokenPerClient];
  if (url === '/auth' || url === '/request' || url === '/device/auth') return [limits.authorizePerIp];
  if (url === '/device') return [onPost(limits.devicePerIp)];
  if (REGISTRATION_PATHS.includes(url)) return [limits.registrationPerIp];
  return [];
}

const pathOf = (url: string) => url.split('?', 1)[0]!;

/**
 * The device pages are pages: their errors (a rate limit, a refused body) are our error page too,
 * in the browser's language.
 */
function errorHandlerFor(i18n: I18n, pageCsp: string) {
  return (error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) => {
    if (!isDevicePage(pathOf(request.url))) return protocolErrorHandler(error, request, reply);
    reply.header('content-security-policy', pageCsp);
    reply.locals = { ...reply.locals, ...i18n.localsFor({ acceptLanguage: request.headers['accept-language'] }) };
    return pageErrorHandler(error, request, reply);
  };
}

/** If-None-Match (RFC 9110, 13.1.2): `*`, or a list of entity tags compared weakly. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

/** GET and HEAD of discovery and the JWKS, from the documents the live provider rendered once. */
function serveDocument(live: LiveProvider, path: DocumentPath, headers: Record<string, string>) {
  return (request: FastifyRequest, reply: FastifyReply) => {
    const document = live.documents.get(path)!;
    reply.headers(headers).header('etag', document.etag);
    if (document.cacheControl) reply.header('cache-control', document.cacheControl);
    if (matches(request.headers['if-none-match'], document.etag)) return reply.code(304).send();
    return reply.type(document.contentType).send(document.body);
  };
}

export async function providerRoutes(
  app: FastifyInstance,
  { live, limits, config, i18n, pageCsp }: { live: LiveProvider; limits: RateLimitHooks; config: Config; i18n: I18n; pageCsp: string },
): Promise<void> {
  // Public documents, read by browsers of any origin, never with credentials.
  const headers = { ...documentHeaders(config), 'access-control-allow-origin': '*' };
  // The provider reads and limits request bodies itself; Fastify must leave the stream alone.
  app.setErrorHandler(errorHandlerFor(i18n, pageCsp));
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
  function toProvider(request: FastifyRequest, reply: FastifyReply) {
    // Headers Fastify's hooks set (request id, security headers) go out with the provider's answer.
    const headers = reply.getHeaders();
    for (const name in headers) if (headers[name] !== undefined) reply.raw.setHeader(name, headers[name]!);
    reply.raw.setHeader('content-security-policy', isDevicePage(pathOf(request.url)) ? pageCsp : PROVIDER_CSP);
    reply.hijack();
    const handled = Promise.resolve(live.callback(request.raw, reply.raw));
    inFlight.add(handled);
    void handled.finally(() => inFlight.delete(handled));
  }
  const registration = config.dynamicRegistration === 'off' ? [] : REGISTRATION_PATHS;
  for (const url of [...PROVIDER_PATHS, ...registration]) {
    const document = DOCUMENT_PATHS.find((path) => path === url);
    if (document) {
      app.get(url, { helmet: false }, serveDocument(live, document, headers));
      // CORS preflights and any other method still get the provider's answer.
      app.route({ method: app.supportedMethods.filter((m) => m !== 'GET' && m !== 'HEAD'), url, handler: toProvider });
    } else {
      app.all(url, { preHandler: limitsFor(url, limits) }, toProvider);
    }
  }
}
