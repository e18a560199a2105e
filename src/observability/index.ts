import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics/index.ts';
import type { LiveProvider } from '../oidc/index.ts';
import type { Services } from '../services.ts';

export { logDestination, loggerOptions, prettyLogs, redactLine, redactUrl, SECRET_HEADERS, SECRET_PARAMS } from './logging.ts';
export { registerTracing } from './tracing.ts';

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

/** A dependency whose loss degrades the service without stopping it (Redis: shared counters). */
export interface DegradableCheck {
  readiness(): string;
}

/** Ready while every check is ok; degraded (still 200, kept in the balancer) while some only degrade. */
function readiness(checks: Record<string, string>) {
  const values = Object.values(checks);
  if (values.some((v) => v !== 'ok' && !v.startsWith('degraded'))) return 'not ready';
  return values.every((v) => v === 'ok') ? 'ready' : 'degraded';
}

/** Health, readiness and Prometheus metrics. */
export async function observability(app: FastifyInstance, { services, live, redis }: { services: Services; live: LiveProvider; redis?: DegradableCheck }) {
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
    if (redis) checks.redis = redis.readiness();
    const status = readiness(checks);
    if (status === 'not ready') reply.header('retry-after', '5');
    return reply.code(status === 'not ready' ? 503 : 200).header('cache-control', 'no-store').send({ status, checks });
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

