import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';

export interface RateLimitHooks {
  tokenPerIp: preHandlerHookHandler;
  tokenPerClient: preHandlerHookHandler;
  authorizePerIp: preHandlerHookHandler;
  loginPerIp: preHandlerHookHandler;
  loginPerAccount: preHandlerHookHandler;
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

const TOO_MANY = 'Too many requests. Try again later.';

/**
 * @fastify/rate-limit hooks for the endpoints an attacker would hammer. Counters live in Redis
 * when REDIS_URL is set (shared by every instance), else in this process. Each hook is attached
 * to its routes, the provider's included (they are Fastify routes too).
 */
export async function registerRateLimits(app: FastifyInstance, config: Config, redis?: Redis): Promise<RateLimitHooks> {
  const { rateLimits } = config;
  await app.register(rateLimit, {
    global: false,
    ...(redis ? { redis, nameSpace: 'ostiary-rl-' } : {}),
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, error: 'Too Many Requests', message: TOO_MANY, retryAfter: context.after }),
  });
  const timeWindow = rateLimits.windowSeconds * 1000;
  const limit = (groupId: string, max: number, keyGenerator?: (request: FastifyRequest) => string) =>
    app.rateLimit({ max, timeWindow, groupId, hook: 'preHandler', ...(keyGenerator ? { keyGenerator } : {}) }) as preHandlerHookHandler;

  return {
    tokenPerIp: limit('token-ip', rateLimits.tokenPerIp),
    // Clients authenticating in the body (client_secret_post, public clients) are limited by IP.
    tokenPerClient: limit('token-client', rateLimits.tokenPerClient, (request) => `client:${basicClientId(request) ?? request.ip}`),
    authorizePerIp: limit('authorize-ip', rateLimits.authorizePerIp),
    loginPerIp: limit('login-ip', rateLimits.loginPerIp),
    loginPerAccount: limit('login-account', rateLimits.loginPerAccount, (request) => {
      const email = (request.body as { email?: unknown } | undefined)?.email;
      return `account:${typeof email === 'string' ? email.trim().toLowerCase() : request.ip}`;
    }),
  };
}
