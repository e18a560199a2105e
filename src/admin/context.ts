import type { FastifyRequest } from 'fastify';
import { hasScope } from '../api-keys/index.ts';
import type { AuditEventInput } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { forbidden } from '../errors.ts';
import type { Services } from '../services.ts';

export interface AdminDeps {
  services: Services;
  config: Config;
}

/** Records a change made through the admin API, by the key that made it. */
export function recordChange(services: Services, request: FastifyRequest, event: Omit<AuditEventInput, 'outcome' | 'actor' | 'ip' | 'userAgent' | 'requestId'>) {
  return services.audit.record({
    ...event,
    outcome: 'success',
    actor: `api-key:${request.apiKey.id}`,
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    requestId: request.id,
  });
}

export const pageJson = <T, J>(page: { items: T[]; nextCursor: string | null }, toJson: (item: T) => J) => ({
  items: page.items.map(toJson),
  next_cursor: page.nextCursor,
});

/** Roles are set through `roles:write` alone, whichever route carries them (user and client bodies too). */
export function assertMaySetRoles(request: FastifyRequest, roles: readonly string[] | undefined) {
  if (roles !== undefined && !hasScope(request.apiKey, 'roles:write')) throw forbidden('This API key lacks the scope roles:write, needed to set roles.');
}
