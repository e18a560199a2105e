import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Csrf } from '../security/index.ts';
import { readCookie, setCookie } from './cookies.ts';
import { pageText } from './page-defaults.ts';

// The browser's key to the CSRF tokens of the /account pages' forms: these pages belong to no
// sign-in request to bind them to.
const CSRF_COOKIE = 'ostiary.account-csrf';
const CSRF_COOKIE_FORM = /^[A-Za-z0-9_-]{43}$/;

const cookieOf = (request: FastifyRequest) => readCookie(request, CSRF_COOKIE, CSRF_COOKIE_FORM);

/**
 * CSRF for forms outside a sign-in request, bound to a random HttpOnly cookie. SameSite=Lax, not
 * Strict: a page opened from a mailed link must find the key its other tabs' forms were given
 * (the token itself is what protects the forms).
 */
export function accountCsrf(csrf: Csrf, secure: boolean) {
  /** Whether a posted form's token belongs to this browser. */
  function verify(request: FastifyRequest): boolean {
    const key = cookieOf(request);
    return key !== undefined && csrf.verify(`account:${key}`, (request.body as { csrf?: unknown } | undefined)?.csrf);
  }

  return {
    verify,

    /** Refuses, on our error page, every form post of these routes whose token is not this browser's. */
    guard(app: FastifyInstance): void {
      app.addHook('preHandler', async (request, reply) => {
        if (request.method === 'POST' && !verify(request)) return reply.code(403).view('error', { message: pageText(reply)('errors:page.forged') });
      });
    },

    /** The token for this browser's forms, setting its cookie when it has none yet. */
    token(request: FastifyRequest, reply: FastifyReply): string {
      let key = cookieOf(request);
      if (!key) {
        key = randomBytes(32).toString('base64url');
        setCookie(reply, CSRF_COOKIE, key, { path: '/account', sameSite: 'Lax', secure });
      }
      return csrf.tokenFor(`account:${key}`);
    },
  };
}

export type AccountCsrf = ReturnType<typeof accountCsrf>;
