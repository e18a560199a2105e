import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Config } from '../config/index.ts';
import { emailKey } from '../users/index.ts';
import type { SharedCounters } from './shared-counters.ts';

export interface RateLimitHooks {
  tokenPerIp: preHandlerHookHandler;
  tokenPerClient: preHandlerHookHandler;
  authorizePerIp: preHandlerHookHandler;
  loginPerIp: preHandlerHookHandler;
  loginPerAccount: preHandlerHookHandler;
  devicePerIp: preHandlerHookHandler;
  passwordResetPerIp: preHandlerHookHandler;
  passwordResetPerAccount: preHandlerHookHandler;
  signupPerIp: preHandlerHookHandler;
  signupPerAccount: preHandlerHookHandler;
  registrationPerIp: preHandlerHookHandler;
  adminPerKey: preHandlerHookHandler;
}

/** The client id of HTTP Basic client authentication, if any (form-encoded per RFC 6749 2.3.1). */
function basicClientId(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header?.toLowerCase().startsWith('basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Look-alike addresses share one counter; an invalid one still gets a bounded key of its own. */
const accountKey = (email: string) => emailKey(email) ?? email.trim().slice(0, 320).toLowerCase();

/** The form's `email` field, by its look-alike key; the IP address when there is none. */
function accountOf(request: FastifyRequest): string {
  const email = (request.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? accountKey(email) : request.ip;
}

const TOO_MANY = 'Too many requests. Try again later.';

class TooManyRequests extends Error {
  readonly statusCode = 429;
}

/**
 * @fastify/rate-limit counters for the endpoints an attacker would hammer, each with its own
 * key. They live in Redis when REDIS_URL is set (shared by every instance; in this process
 * while Redis is unavailable), else in this process. Several limits may guard one route (the
 * plugin's own hook runs only the first), so each is a limiter checked by a small hook, the
 * provider's routes included.
 */
export async function registerRateLimits(app: FastifyInstance, config: Config, counters?: SharedCounters): Promise<RateLimitHooks> {
  const { rateLimits } = config;
  await counters?.connected();
  await app.register(rateLimit, { global: false, ...(counters ? { store: counters.store } : {}) });
  const timeWindow = rateLimits.windowSeconds * 1000;

  const limit = (name: string, max: number, key: (request: FastifyRequest) => string = (request) => request.ip): preHandlerHookHandler => {
    const check = app.createRateLimit({ max, timeWindow, keyGenerator: (request) => `${name}:${key(request)}` });
    return async (request, reply) => {
      const result = await check(request);
      if (result.isAllowed || !result.isExceeded) return;
      reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)));
      throw new TooManyRequests(TOO_MANY);
    };
  };

  return {
    tokenPerIp: limit('token-ip', rateLimits.tokenPerIp),
    // Clients authenticating in the body (client_secret_post, public clients) are limited by IP.
    tokenPerClient: limit('token-client', rateLimits.tokenPerClient, (request) => basicClientId(request) ?? request.ip),
    authorizePerIp: limit('authorize-ip', rateLimits.authorizePerIp),
    loginPerIp: limit('login-ip', rateLimits.loginPerIp),
    loginPerAccount: limit('login-account', rateLimits.loginPerAccount, accountOf),
    // User codes are short: posting guesses at /device is what this limit stops.
    devicePerIp: limit('device-ip', rateLimits.devicePerIp),
    // Each request may mail someone: limited per sender and per address mailed.
    passwordResetPerIp: limit('reset-ip', rateLimits.passwordResetPerIp),
    passwordResetPerAccount: limit('reset-account', rateLimits.passwordResetPerAccount, accountOf),
    signupPerIp: limit('signup-ip', rateLimits.signupPerIp),
    signupPerAccount: limit('signup-account', rateLimits.signupPerAccount, accountOf),
    // Dynamic client registration: each registration writes a client.
    registrationPerIp: limit('registration-ip', rateLimits.registrationPerIp),
    // Runs after API key authentication, which sets request.apiKeyId.
    adminPerKey: limit('admin-key', rateLimits.adminPerKey, (request) => (request as { apiKeyId?: string }).apiKeyId ?? request.ip),
  };
}
