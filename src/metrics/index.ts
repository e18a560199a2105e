import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per server (tests run several in a process), with the default process metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ostiary_' });
  const tokensIssued = new Counter({ name: 'ostiary_tokens_issued_total', help: 'Token responses by grant type and client', labelNames: ['grant_type', 'client_id'], registers: [registry] });
  const tokenErrors = new Counter({ name: 'ostiary_token_errors_total', help: 'Token endpoint errors by OAuth error code', labelNames: ['error'], registers: [registry] });
  const reuse = new Counter({ name: 'ostiary_refresh_token_reuse_total', help: 'Reuses of a rotated refresh token (each revoked its grant)', registers: [registry] });
  const logins = new Counter({ name: 'ostiary_logins_total', help: 'Sign-in attempts by outcome', labelNames: ['outcome'], registers: [registry] });
  const lockouts = new Counter({ name: 'ostiary_lockouts_total', help: 'Accounts locked after repeated failures', registers: [registry] });
  const http = new Histogram({
    name: 'ostiary_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const db = new Histogram({
    name: 'ostiary_db_query_duration_seconds',
    help: 'Database query latency',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const signingKeys = new Gauge({ name: 'ostiary_signing_keys', help: 'Signing keys by state', labelNames: ['state'], registers: [registry] });

  return {
    registry,
    signingKeys,
    observeHttp: (method: string, route: string, status: number, seconds: number) => http.observe({ method, route, status_code: String(status) }, seconds),
    observeQuery: (milliseconds: number) => db.observe(milliseconds / 1000),
    tokenError: (error: string) => tokenErrors.inc({ error }),
    /** Counts what the audit trail records, so the two never disagree. */
    observeAudit(event: AuditedEvent) {
      if (event.type === 'token.issued') {
        tokensIssued.inc({ grant_type: String((event.details as { grantType?: string })?.grantType ?? ''), client_id: event.clientId ?? '' });
      } else if (event.type === 'login.success' || event.type === 'login.failure') logins.inc({ outcome: event.outcome });
      else if (event.type === 'login.lockout') lockouts.inc();
      else if (event.type === 'refresh_token.reuse_detected') reuse.inc();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** What the metrics read of an audit event. */
interface AuditedEvent {
  type: string;
  outcome: string;
  clientId?: string | null;
  details?: unknown;
}
