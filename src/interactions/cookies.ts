import type { FastifyReply, FastifyRequest } from 'fastify';

/** The value of the cookie `name` this request carries, when it has the form `pattern` allows. */
export function readCookie(request: FastifyRequest, name: string, pattern: RegExp): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index === -1 || part.slice(0, index).trim() !== name) continue;
    const value = part.slice(index + 1).trim();
    if (pattern.test(value)) return value;
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  sameSite: 'Strict' | 'Lax';
  secure: boolean;
  /** Seconds; without it the cookie lasts until the browser closes. */
  maxAge?: number;
}

/** Adds a Set-Cookie header (HttpOnly always); an empty value with `maxAge: 0` deletes the cookie. */
export function setCookie(reply: FastifyReply, name: string, value: string, { path, sameSite, secure, maxAge }: CookieOptions): void {
  const attributes = [`${name}=${value}`, `Path=${path}`, 'HttpOnly', `SameSite=${sameSite}`];
  if (secure) attributes.push('Secure');
  if (maxAge !== undefined) attributes.push(`Max-Age=${maxAge}`);
  const current = reply.getHeader('set-cookie');
  const lines = current === undefined ? [] : Array.isArray(current) ? current : [String(current)];
  reply.header('set-cookie', [...lines, attributes.join('; ')]);
}
