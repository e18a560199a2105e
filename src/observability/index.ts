import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { Services } from '../services.ts';
import type { Metrics } from './metrics.ts';

/** Query parameters whose values are bearer secrets or personal tokens; their values never reach a log. */
const SECRET_PARAMS = ['code', 'id_token_hint', 'token', 'refresh_token', 'access_token', 'client_secret', 'password', 'client_assertion', 'request', 'code_verifier'];

export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const params = new URLSearchParams(url.slice(query + 1));
  for (const name of SECRET_PARAMS) if (params.has(name)) params.set(name, '[redacted]');
  return `${url.slice(0, query)}?${params}`;
}

/** Log options: JSON lines at LOG_LEVEL, URLs and headers without secrets. */
export function loggerOptions(config: Config) {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; socket?: { remotePort?: number } }) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
    },
  };
}

/** What a request is told while the database cannot be reached (with 503 and Retry-After). */
export const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable. Try again shortly.';

/** Errors that mean the database cannot be reached (as opposed to a bad query). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const text = `${(error as { code?: string })?.code ?? ''} ${(error as Error)?.message ?? ''} ${(error as { cause?: { message?: string } })?.cause?.message ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|P1001|P1017|P2024|DatabaseNotReachable|ConnectionClosed|Connection terminated|terminating connection|the database system is (shutting down|starting up)|connect ETIMEDOUT|Can't reach database|SQLITE_BUSY|database is locked/i.test(text);
}

const sameSecret = (a: string, b: string) => {
  const [x, y] = [createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest()];
  return timingSafeEqual(x, y);
};

/** Latency of every request, by route; call on the root instance so it reaches every route. */
export function measureRequests(app: FastifyInstance, metrics: Metrics) {
  app.addHook('onRequest', async (request, reply) => {
    const started = process.hrtime.bigint();
    // On 'finish', so routes handed to the provider (hijacked) are measured too.
    reply.raw.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeHttp(request.method, request.routeOptions.url ?? 'unmatched', reply.raw.statusCode, seconds);
    });
  });
}

/** Health, readiness and Prometheus metrics. */
export async function observability(app: FastifyInstance, { services, live }: { services: Services; live: LiveProvider }) {
  const { metrics, config } = services;

  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }));

  app.get('/readyz', { logLevel: 'silent' }, async (_request, reply) => {
    const checks: Record<string, string> = {};
    try {
      await services.db.$queryRawUnsafe('SELECT 1');
      checks.database = 'ok';
      const pending = await services.migrationsPending();
      checks.migrations = pending.length ? `pending: ${pending.join(', ')}` : 'ok';
    } catch {
      checks.database = 'unreachable';
      checks.migrations = 'unknown';
    }
    checks.signing_keys = live.provider ? 'ok' : 'not loaded';
    const ready = Object.values(checks).every((v) => v === 'ok');
    if (!ready) reply.header('retry-after', '5');
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', { logLevel: 'silent' }, async (request, reply) => {
    if (config.metricsToken) {
      const presented = request.headers.authorization?.replace(/^Bearer\s+/i, '') ?? '';
      if (!sameSecret(presented, config.metricsToken)) return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'unauthorized' });
    }
    try {
      const keys = await services.signingKeys.list();
      metrics.signingKeys.reset();
      for (const state of ['next', 'current', 'retired', 'removed']) metrics.signingKeys.set({ state }, keys.filter((k) => k.state === state).length);
    } catch {
      // The database may be down: the other metrics still say so.
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

