import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pageErrorHandler } from '../http/index.ts';
import { withPasskeyScripts } from '../security/index.ts';
import type { I18n, Locale, PageLocals, Translate } from '../i18n/index.ts';

declare module 'fastify' {
  interface FastifyReply {
    /** Data every template of this reply gets (@fastify/view merges it under the route's own). */
    locals: Record<string, unknown>;
  }
}

/**
 * What every page route shares: small form bodies, our error page, no caching, no referrer, the
 * page CSP (`csp`, from the views: it admits the brand's logo), and the page's language: every template gets `it.t`, `it.tHtml` and `it.locale`
 * (through `reply.locals`), from `Accept-Language` or else the default locale.
 */
export async function registerPageDefaults(app: FastifyInstance, i18n: I18n, csp: string): Promise<void> {
  await app.register(formbody, { bodyLimit: 16 * 1024 });
  app.setErrorHandler(pageErrorHandler);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').header('content-security-policy', csp);
    setPageLocale(request, reply, i18n);
  });
}

/** The page's language from these hints (a sign-in request's `ui_locales` first), then `Accept-Language`, then the default. */
export function setPageLocale(request: FastifyRequest, reply: FastifyReply, i18n: I18n, uiLocales?: unknown): void {
  reply.locals = Object.assign(reply.locals ?? {}, i18n.localsFor({ uiLocales, acceptLanguage: request.headers['accept-language'] }));
}

/** The translator of this reply's page, for words a route hands to its template. */
export const pageText = (reply: FastifyReply): Translate => (reply.locals as unknown as PageLocals).t;

/** The language of this reply's page, as negotiated for it. */
export const pageLocale = (reply: FastifyReply): Locale => (reply.locals as unknown as PageLocals).locale;

/** This page has passkey buttons: its CSP admits our scripts (and their requests to us). */
export function allowPasskeyScripts(reply: FastifyReply): void {
  reply.header('content-security-policy', withPasskeyScripts(String(reply.getHeader('content-security-policy') ?? '')));
}

/** A form field as text, at most `max` characters (anything but a string is empty). */
export const formText = (value: unknown, max = 1024): string => (typeof value === 'string' ? value.slice(0, max) : '');
