import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Csrf } from '../security/index.ts';

// The browser's key to the CSRF tokens of the /account pages' forms: these pages belong to no
// sign-in request to bind them to.
const CSRF_COOKIE = 'ostiary.account-csrf';
const CSRF_COOKIE_FORM = /^[A-Za-z0-9_-]{43}$/;

function cookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === CSRF_COOKIE && value && CSRF_COOKIE_FORM.test(value)) return value;
  }
  return undefined;
}

/** CSRF for forms outside a sign-in request, bound to a random HttpOnly SameSite=Strict cookie. */
export function accountCsrf(csrf: Csrf, secure: boolean) {
  return {
    /** Whether a posted form's token belongs to this browser. */
    verify(request: FastifyRequest): boolean {
      const key = cookieOf(request);
      return key !== undefined && csrf.verify(`account:${key}`, (request.body as { csrf?: unknown } | undefined)?.csrf);
    },

    /** The token for this browser's forms, setting its cookie when it has none yet. */
    token(request: FastifyRequest, reply: FastifyReply): string {
      let key = cookieOf(request);
      if (!key) {
        key = randomBytes(32).toString('base64url');
        reply.header('set-cookie', `${CSRF_COOKIE}=${key}; Path=/account; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`);
      }
      return csrf.tokenFor(`account:${key}`);
    },
  };
}

export type AccountCsrf = ReturnType<typeof accountCsrf>;
