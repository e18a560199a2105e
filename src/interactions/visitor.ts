import type { FastifyRequest } from 'fastify';
import type { Actor } from '../audit/index.ts';

/** Someone not signed in, acting through a page: known by address, browser and request. */
export const visitorOf = (request: FastifyRequest): Actor => ({ id: 'anonymous', ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id });
