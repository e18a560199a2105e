import type { FastifyRequest } from 'fastify';
import { hasScope } from '../api-keys/index.ts';
import type { Actor } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { fail } from '../errors.ts';
import type { Services } from '../services.ts';

export interface AdminDeps {
  services: Services;
  config: Config;
}

/** The key that makes a request, and from where: who the services record a change as made by. */
export const actorOf = (request: FastifyRequest): Actor => ({
  id: `api-key:${request.apiKey.id}`,
  ip: request.ip,
  userAgent: request.headers['user-agent'] ?? null,
  requestId: request.id,
});

export const pageJson = <T, J>(page: { items: T[]; nextCursor: string | null }, toJson: (item: T) => J) => ({
  items: page.items.map(toJson),
  next_cursor: page.nextCursor,
});

/** Roles are set through `roles:write` alone, whichever route carries them (user and client bodies too). */
export function assertMaySetRoles(request: FastifyRequest, roles: readonly string[] | undefined) {
  if (roles !== undefined && !hasScope(request.apiKey, 'roles:write')) throw fail('api_key.scope_missing', 'This API key lacks the scope roles:write, needed to set roles.', { field: 'roles' });
}
