import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { type Database, deleteInBatches, pageOf, pageQuery, type PageRequest, Prisma } from '../db/index.ts';

/** Audit event types; a type is never renamed or reused once published. */
export const AUDIT_EVENTS = [
  'login.success',
  'login.failure',
  'login.lockout',
  'token.issued',
  'token.revoked',
  'logout',
  'client.created',
  'client.deleted',
  'user.created',
  'user.password_changed',
  'user.grants_revoked',
  'role.created',
  'role.deleted',
  'role.granted',
  'role.revoked',
  'api.created',
  'api.deleted',
  'signing_key.rotated',
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'api_key.used',
  'api_key.refused',
  'client.updated',
  'client.secret_rotated',
  'user.updated',
  'consent.granted',
  'consent.denied',
  'refresh_token.reuse_detected',
  'authorization_code.reuse_detected',
  'grant.revoked',
  'signing_key.revoked',
  'backup.restored',
  'api.updated',
  'role.updated',
  'api_key.updated',
  'mail.queued',
  'mail.sent',
  'mail.deferred',
  'mail.failed',
  'user.password_reset_requested',
  'user.password_reset',
  'user.signed_up',
  'user.verification_sent',
  'user.email_verified',
  'user.invited',
  'user.email_change_requested',
  'user.email_changed',
  'user.sessions_ended',
  'user.deleted',
  'user.mfa_enrolled',
  'user.mfa_removed',
  'user.recovery_codes_generated',
  'user.recovery_code_used',
  'user.passkey_added',
  'user.passkey_removed',
  'logout.backchannel_sent',
  'logout.backchannel_failed',
  'client.metadata_document_fetched',
  'client.metadata_document_refused',
  'client.metadata_document_blocked',
  'client.metadata_document_unblocked',
  'client.registered',
  'client.registration_updated',
  'client.registration_deleted',
  'registration_token.created',
  'registration_token.revoked',
  'jwt_bearer.refused',
  'upstream.created',
  'upstream.updated',
  'upstream.deleted',
  'upstream.linked',
  'upstream.unlinked',
  'upstream.refused',
] as const;
export type AuditEventType = (typeof AUDIT_EVENTS)[number];

export interface AuditEventInput {
  type: AuditEventType;
  outcome: 'success' | 'failure';
  actor?: string | null;
  subject?: string | null;
  clientId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  /** Never secrets, passwords or tokens. */
  details?: Prisma.InputJsonValue;
}

/** Who makes a change, and from where; every change a service makes is recorded with it. */
export interface Actor {
  /** `cli`, `system`, `api-key:<id>` or `user:<id>`, as the audit trail shows it. */
  id: string;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

/**
 * The fields a change was given, by their public (snake_case) names, for its audit event:
 * `publicNames` where a field's JSON name is not its own.
 */
export const changedFields = (patch: object, publicNames: Record<string, string> = {}) =>
  Object.entries(patch)
    .filter(([, value]) => value !== undefined)
    .map(([field]) => publicNames[field] ?? field)
    .join(' ');

/** An operator at the console. */
export const CLI_ACTOR: Actor = { id: 'cli' };

/** Ostiary itself: what no person or key asked for (benchmark seeding, jobs). */
export const SYSTEM_ACTOR: Actor = { id: 'system' };

/** What a service says about a change it made; who made it comes from the actor. */
export type Change = Omit<AuditEventInput, 'outcome' | 'actor' | 'ip' | 'userAgent' | 'requestId'>;

/** Where an event can be written at once: the database or a transaction on it. */
type Writer = Pick<Database, '$executeRaw'>;

/** What oidc-provider says (only in `error_detail`) when a consumed code or refresh token comes back. */
const REUSE_DETAILS: Record<string, AuditEventType> = {
  'refresh token already used': 'refresh_token.reuse_detected',
  'authorization code already consumed': 'authorization_code.reuse_detected',
};

type ProviderContext = {
  ip?: string;
  status?: number;
  get?(header: string): string;
  response?: { get(header: string): string };
  oidc?: {
    route?: string;
    client?: { clientId?: string };
    params?: { grant_type?: unknown };
    entities?: Record<string, { accountId?: string; resourceServer?: { audience?: string } } | undefined>;
    session?: { accountId?: string };
  };
};
type ProviderEvents = {
  on(event: 'grant.error', listener: (ctx: ProviderContext, error: { error_detail?: string }) => void): unknown;
  on(event: 'grant.revoked', listener: (ctx: ProviderContext, grantId: string) => void): unknown;
  on(event: 'grant.success' | 'end_session.success', listener: (ctx: ProviderContext) => void): unknown;
  use(middleware: (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>): unknown;
};

/** Audits what happens inside the provider: tokens issued and revoked, reuse detected, logouts. */
export function auditProviderEvents(provider: ProviderEvents, audit: Audit): void {
  const where = (ctx: ProviderContext) => ({
    clientId: ctx.oidc?.client?.clientId ?? null,
    ip: ctx.ip ?? null,
    userAgent: ctx.get?.('user-agent') || null,
    requestId: ctx.response?.get('x-request-id') || null,
  });
  provider.on('grant.error', (ctx, error) => {
    const type = REUSE_DETAILS[error.error_detail ?? ''];
    if (type) void audit.record({ type, outcome: 'failure', ...where(ctx), details: { reason: error.error_detail! } });
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    void audit.record({ type: 'grant.revoked', outcome: 'success', actor: 'system', ...where(ctx), details: { grantId } });
  });
  provider.on('grant.success', (ctx) => {
    const entities = ctx.oidc?.entities ?? {};
    const token = entities.AccessToken ?? entities.ClientCredentials;
    const subject = entities.Account?.accountId ?? token?.accountId ?? null;
    const clientId = ctx.oidc?.client?.clientId;
    void audit.record({
      type: 'token.issued',
      outcome: 'success',
      actor: clientId ? `client:${clientId}` : null,
      subject,
      ...where(ctx),
      details: { grantType: String(ctx.oidc?.params?.grant_type ?? ''), api: token?.resourceServer?.audience ?? null },
    });
  });
  provider.on('end_session.success', (ctx) => {
    const subject = ctx.oidc?.session?.accountId ?? null;
    void audit.record({ type: 'logout', outcome: 'success', actor: subject ? `user:${subject}` : null, subject, ...where(ctx) });
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'revocation' && ctx.status === 200) {
      const clientId = ctx.oidc.client?.clientId;
      void audit.record({ type: 'token.revoked', outcome: 'success', actor: clientId ? `client:${clientId}` : null, ...where(ctx) });
    }
  });
}

type PendingEvent = AuditEventInput & { id: string; at: Date };

/** Rows per INSERT: far below the bound-parameter limits of SQLite (32,766) and PostgreSQL (65,535). */
const ROWS_PER_INSERT = 500;

/**
 * One multi-row INSERT per ROWS_PER_INSERT events, written out: Prisma's createMany allocates
 * tens of kilobytes per row to plan the statement, which on the token endpoint (an event per
 * token) was a third of all allocation. The rows are exactly what createMany stores.
 */
async function insert(db: Writer, events: PendingEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += ROWS_PER_INSERT) {
    const rows = events.slice(i, i + ROWS_PER_INSERT).map(
      (e) =>
        Prisma.sql`(${e.id}, ${e.type}, ${e.at}, ${e.outcome}, ${e.actor ?? null}, ${e.subject ?? null}, ${e.clientId ?? null}, ${e.ip ?? null}, ${e.userAgent ?? null}, ${e.requestId ?? null}, ${e.details === undefined ? null : JSON.stringify(e.details)})`,
    );
    await db.$executeRaw`INSERT INTO "AuditEvent" ("id", "type", "at", "outcome", "actor", "subject", "clientId", "ip", "userAgent", "requestId", "details") VALUES ${Prisma.join(rows)}`;
  }
}

/** Events wait at most this long to be written, in one statement with the others that came meanwhile. */
const FLUSH_MS = 50;

/**
 * Records events in the database and as structured log lines. Recording never fails a request:
 * rows are written in batches shortly after (every read flushes first), so a token request does
 * not wait for its audit row. A crash loses at most the last FLUSH_MS of rows; the log lines are
 * written at once.
 */
export function createAudit(
  db: Database,
  log?: FastifyBaseLogger,
  observe: (event: AuditEventInput) => void = () => {},
  /** Told when a batch could not be written (the database may recover from what it was). */
  onWriteError: (error: unknown) => void = () => {},
) {
  let pending: PendingEvent[] = [];
  let writing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    await writing;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    writing = insert(db, batch).catch((err) => {
      log?.error({ err, events: batch.length }, 'audit events not stored');
      onWriteError(err);
    });
    await writing;
  }

  const rowOf = (event: AuditEventInput): PendingEvent => ({ id: randomUUID(), at: new Date(), ...event });
  function announce(row: PendingEvent): PendingEvent {
    observe(row);
    log?.info({ audit: row }, `audit ${row.type}`);
    return row;
  }
  const logged = (event: AuditEventInput) => announce(rowOf(event));
  const eventBy = (actor: Actor, change: Change, outcome: AuditEventInput['outcome']): AuditEventInput => ({ ...change, outcome, actor: actor.id, ip: actor.ip ?? null, userAgent: actor.userAgent ?? null, requestId: actor.requestId ?? null });
  const changeEvent = (actor: Actor, change: Change) => eventBy(actor, change, 'success');

  /** Mail events name their recipient in `details`: scanned in batches, since JSON is queried differently by each database. */
  async function forgetRecipients(addresses: ReadonlySet<string>): Promise<void> {
    if (addresses.size === 0) return;
    let cursor: string | undefined;
    for (;;) {
      const batch = await db.auditEvent.findMany({
        where: { type: { startsWith: 'mail.' } },
        select: { id: true, details: true },
        orderBy: { id: 'asc' },
        take: 1000,
        ...(cursor ? { cursor: { id: cursor }, skip: 1 } : {}),
      });
      for (const event of batch) {
        const details = event.details as Record<string, unknown> | null;
        if (details && typeof details.recipient === 'string' && addresses.has(details.recipient)) {
          await db.auditEvent.update({ where: { id: event.id }, data: { details: { ...details, recipient: null } as Prisma.InputJsonValue } });
        }
      }
      if (batch.length < 1000) return;
      cursor = batch.at(-1)!.id;
    }
  }

  const audit = {
    flush,

    /**
     * A deleted person's events stay, without where they came from or where mail to them went:
     * the IP address and user agent of every event about them or by them are cleared, and the
     * recipient of every mail event to one of `addresses`.
     */
    async forgetPerson(userId: string, addresses: readonly string[]): Promise<void> {
      await flush();
      await db.auditEvent.updateMany({ where: { OR: [{ subject: userId }, { actor: `user:${userId}` }] }, data: { ip: null, userAgent: null } });
      await forgetRecipients(new Set(addresses));
    },

    async record(event: AuditEventInput): Promise<void> {
      pending.push(logged(event));
      timer ??= setTimeout(() => void flush(), FLUSH_MS);
    },

    /**
     * A change made by `actor`. Given the transaction that made it, the event is written in it,
     * so the change and its record stand or fall together; else it is recorded as above.
     */
    async change(actor: Actor, change: Change, tx?: Writer): Promise<void> {
      const event = changeEvent(actor, change);
      if (!tx) return audit.record(event);
      await insert(tx, [logged(event)]);
    },

    /** Something `actor` tried that was refused (a wrong password, a wrong code): a failure event. */
    refused: (actor: Actor, change: Change): Promise<void> => audit.record(eventBy(actor, change, 'failure')),

    /**
     * For changes made inside one outer transaction that may yet roll back: a `change` that
     * writes the row in the transaction it is given but keeps the log line and count for
     * `committed()`, so a rolled-back change is never reported as made.
     */
    held() {
      const later: (() => void)[] = [];
      return {
        async change(actor: Actor, change: Change, tx?: Writer): Promise<void> {
          const event = changeEvent(actor, change);
          if (!tx) return void later.push(() => void audit.record(event));
          const row = rowOf(event);
          await insert(tx, [row]);
          later.push(() => void announce(row));
        },
        committed: () => later.splice(0).forEach((report) => report()),
      };
    },

    /** Deletes events older than the retention, `batchSize` rows per statement; returns how many. */
    async prune(retentionDays: number, batchSize = 1000): Promise<number> {
      await flush();
      const cutoff = new Date(Date.now() - retentionDays * 86_400_000);
      return deleteInBatches(
        batchSize,
        (take) => db.auditEvent.findMany({ where: { at: { lt: cutoff } }, select: { id: true }, take }),
        async (batch) => (await db.auditEvent.deleteMany({ where: { id: { in: batch.map((e) => e.id) } } })).count,
      );
    },

    /** Newest first, filtered, a page at a time. */
    async page(filter: { type?: string; subject?: string; clientId?: string; since?: Date; until?: Date } & PageRequest) {
      await flush();
      const rows = await db.auditEvent.findMany({
        where: {
          ...(filter.type ? { type: filter.type } : {}),
          ...(filter.subject ? { subject: filter.subject } : {}),
          ...(filter.clientId ? { clientId: filter.clientId } : {}),
          ...(filter.since || filter.until ? { at: { ...(filter.since ? { gte: filter.since } : {}), ...(filter.until ? { lt: filter.until } : {}) } } : {}),
        },
        orderBy: [{ at: 'desc' }, { id: 'desc' }],
        ...pageQuery(filter),
      });
      return pageOf(rows, filter, (row) => row);
    },

    async list(filter: { type?: string; since?: Date; limit?: number } = {}) {
      await flush();
      return db.auditEvent.findMany({
        where: { ...(filter.type ? { type: filter.type } : {}), ...(filter.since ? { at: { gte: filter.since } } : {}) },
        orderBy: { at: 'desc' },
        take: filter.limit ?? 100,
      });
    },
  };
  return audit;
}

export type Audit = ReturnType<typeof createAudit>;

/** The snake_case JSON form shared by the CLI and the admin API. */
export const auditEventJson = (e: {
  id: string;
  type: string;
  at: Date;
  outcome: string;
  actor: string | null;
  subject: string | null;
  clientId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: unknown;
}) => ({
  id: e.id,
  type: e.type,
  at: e.at,
  outcome: e.outcome,
  actor: e.actor,
  subject: e.subject,
  client_id: e.clientId,
  ip: e.ip,
  user_agent: e.userAgent,
  request_id: e.requestId,
  details: e.details,
});
