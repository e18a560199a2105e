import { timingSafeEqual, createHash } from 'node:crypto';
import { unescape } from 'node:querystring';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { Services } from '../services.ts';
import type { Metrics } from './metrics.ts';

/**
 * Parameters whose values are credentials, bearer tokens or personal data; their values never
 * reach a log. `state` and `nonce` are left readable: they are not credentials (the client
 * checks them against its own session, and they travel in redirect URLs anyway) and they tie
 * log lines to a flow.
 */
export const SECRET_PARAMS = [
  'access_token', 'actor_token', 'api_key', 'assertion', 'client_assertion', 'client_secret', 'code', 'code_verifier', 'csrf',
  'current_password', 'device_code', 'dpop', 'id_token', 'id_token_hint', 'login_hint', 'logout_hint', 'logout_token',
  'new_password', 'password', 'refresh_token', 'request', 'request_uri', 'subject_token', 'token', 'user_code',
];
/** Request and response headers that carry credentials. */
export const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'dpop'];
const REDACTED = '[redacted]';
const SECRET_NAMES = new Set(SECRET_PARAMS);

/** Compared as the provider parses it (percent-decoded), and also regardless of case. */
const isSecretName = (raw: string) => SECRET_NAMES.has(unescape(raw.replace(/\+/g, ' ')).trim().toLowerCase());

/** The URL with the value of every secret parameter (each repetition) replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const pairs = url.slice(query + 1).split('&').map((pair) => {
    const name = pair.split('=', 1)[0]!;
    return isSecretName(name) ? `${name}=${REDACTED}` : pair;
  });
  return `${url.slice(0, query)}?${pairs.join('&')}`;
}

// In a JSON line: `?name=value` or `&name=value`, the value running to `&`, blank or the string's end (JSON escapes included).
const QUERY_PARAM = /([?&])([^=&?#\s"\\]{1,200})=((?:\\.|[^&\s"\\])*)/g;
// A scheme and its credentials; a short plain word after it ("Basic authentication failed") is prose.
const CREDENTIAL = /\b(bearer|basic|dpop)(\s+)(?![a-z]{1,15}(?![\w.~+/=-]))[\w.~+/-]+=*/gi;
const API_KEY = /\bosk_[A-Za-z0-9_-]+/g;

/**
 * The last pass over every log line, whatever logged it: a URL quoted in a message, an error
 * or an event detail loses its secret parameters there too.
 */
export function redactLine(line: string): string {
  return line
    .replace(QUERY_PARAM, (match, sep: string, name: string) => (isSecretName(name) ? `${sep}${name}=${REDACTED}` : match))
    .replace(CREDENTIAL, `$1$2${REDACTED}`)
    .replace(API_KEY, REDACTED);
}

const headerPaths = SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`]);

/** Log options: JSON lines at LOG_LEVEL, URLs and headers without secrets. */
export function loggerOptions(config: Config) {
  return {
    level: config.logLevel,
    // rawPacket: the bytes of a request Node could not parse (logged at trace), headers and all.
    redact: { paths: [...headerPaths, 'err.rawPacket'], censor: REDACTED },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; socket?: { remotePort?: number } }) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
    },
    hooks: { streamWrite: redactLine },
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

