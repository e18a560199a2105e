import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Database, Prisma } from '../db/index.ts';

/** Audit event types; a type is never renamed or reused once published. */
export const AUDIT_EVENTS = [
  'login.success',
  'login.failure',
  'consent.granted',
  'consent.denied',
  'refresh_token.reuse_detected',
  'authorization_code.reuse_detected',
  'grant.revoked',
  'signing_key.revoked',
] as const;
export type AuditEventType = (typeof AUDIT_EVENTS)[number];

export interface AuditEventInput {
  type: AuditEventType;
  outcome: 'success' | 'failure';
  subject?: string | null;
  clientId?: string | null;
  ip?: string | null;
  requestId?: string | null;
  /** Never secrets, passwords or tokens. */
  details?: Prisma.InputJsonValue;
}

/** What oidc-provider says (only in `error_detail`) when a consumed code or refresh token comes back. */
const REUSE_DETAILS: Record<string, AuditEventType> = {
  'refresh token already used': 'refresh_token.reuse_detected',
  'authorization code already consumed': 'authorization_code.reuse_detected',
};

type ProviderEvents = {
  on(event: 'grant.error', listener: (ctx: ProviderContext, error: { error_detail?: string }) => void): unknown;
  on(event: 'grant.revoked', listener: (ctx: ProviderContext, grantId: string) => void): unknown;
};
type ProviderContext = { ip?: string; oidc?: { client?: { clientId?: string } }; get?(header: string): string };

/** Audits what the provider does on its own: reuse detection and the grant revocations it causes. */
export function auditProviderEvents(provider: ProviderEvents, audit: Audit): void {
  const where = (ctx: ProviderContext) => ({ clientId: ctx.oidc?.client?.clientId ?? null, ip: ctx.ip ?? null, requestId: ctx.get?.('x-request-id') || null });
  provider.on('grant.error', (ctx, error) => {
    const type = REUSE_DETAILS[error.error_detail ?? ''];
    if (type) void audit.record({ type, outcome: 'failure', ...where(ctx), details: { reason: error.error_detail! } });
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    void audit.record({ type: 'grant.revoked', outcome: 'success', ...where(ctx), details: { grantId } });
  });
}

/** Records an event in the database and as a structured log line. Recording never fails a request. */
export function createAudit(db: Database, log?: FastifyBaseLogger) {
  return {
    async record(event: AuditEventInput): Promise<void> {
      const row = { id: randomUUID(), ...event, subject: event.subject ?? null, clientId: event.clientId ?? null };
      log?.info({ audit: row }, `audit ${event.type}`);
      try {
        await db.auditEvent.create({ data: row });
      } catch (err) {
        log?.error({ err, audit: event.type }, 'audit event not stored');
      }
    },

    async list(filter: { type?: string; since?: Date; limit?: number } = {}) {
      return db.auditEvent.findMany({
        where: { ...(filter.type ? { type: filter.type } : {}), ...(filter.since ? { at: { gte: filter.since } } : {}) },
        orderBy: { at: 'desc' },
        take: filter.limit ?? 100,
      });
    },
  };
}

export type Audit = ReturnType<typeof createAudit>;
