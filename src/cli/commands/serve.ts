import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import type { Config } from '../../config/index.ts';
import { redactedUrl } from '../../db/index.ts';
import { logDestination, loggerOptions } from '../../observability/index.ts';
import { buildServer } from '../../server.ts';
import { SYSTEM_ACTOR } from '../../audit/index.ts';
import { loadConfigFile } from '../../config-file/index.ts';
import { createServices } from '../../services.ts';

type Log = FastifyBaseLogger;

/**
 * V8 heap settings `npm start` and the Docker image run the server with (they must be given on
 * the command line; workers inherit them). V8's defaults on a large machine let the young
 * generation and then the old one grow to several hundred megabytes of garbage under load; these
 * keep a busy process flat at about 250-300 MB of RSS for up to 5% of token throughput
 * (bench/README.md).
 */
export const HEAP_FLAGS = ['--max-semi-space-size=8', '--max-old-space-size=1024'];

/** Where mail goes, in one line (never the SMTP credentials). */
export function mailLine(mail: Config['mail']): string {
  if (mail.transport === 'files') return `not sent: written as .eml files to ${mail.directory} (SMTP_URL is not set)`;
  if (mail.transport === 'off') return 'off (SMTP_URL is not set)';
  const { host, port, secure, requireTls } = mail.smtp;
  return `SMTP ${host.includes(':') ? `[${host}]` : host}:${port} (${secure ? 'TLS' : requireTls ? 'STARTTLS required' : 'STARTTLS when offered'}), from ${mail.from}`;
}

function banner(config: Config, address: string, provider: string, workers: number): string {
  const database = provider === 'sqlite' ? `SQLite (${redactedUrl(config.databaseUrl)})` : `PostgreSQL (${redactedUrl(config.databaseUrl)})`;
  return `
  Ostiary is listening on ${address}${workers > 1 ? ` (${workers} worker processes)` : ''}
  issuer:    ${config.issuer}
  discovery: ${config.issuer}/.well-known/openid-configuration
  database:  ${database}
  mail:      ${mailLine(config.mail)}

  Create a first user and client:
    echo 'a-long-password' | npm run ostiary -- users create --email you@example.com --password-stdin
    npm run ostiary -- clients create --name web --grant authorization_code --grant refresh_token --redirect-uri https://app.example.com/cb
`;
}

const services = (config: Config, log: Log, migrate: boolean) =>
  createServices(config, { info: (m) => log.info(m), warn: (m) => log.warn(m) }, { migrate, log });

/** CONFIG_FILE: applied once before anything serves; deletes only when the file says `prune: true`. */
async function applyConfigFile(prepared: Awaited<ReturnType<typeof services>>, path: string, log: Log) {
  const loaded = loadConfigFile(path);
  const { changes } = await prepared.configFiles.apply(loaded, { prune: loaded.file.prune, unattended: true }, SYSTEM_ACTOR);
  log.info({ file: path, changes: changes.map((c) => `${c.action} ${c.kind} ${c.id}`) }, changes.length ? `applied ${path}: ${changes.length} changes` : `${path}: nothing to do`);
}

/** Migrations and the first signing key, done once before anything serves. */
async function prepare(config: Config, log: Log) {
  const prepared = await services(config, log, true);
  try {
    const created = await prepared.signingKeys.ensureCurrent();
    if (created) log.info({ kid: created.kid }, 'generated the first signing key');
    if (config.configFile) await applyConfigFile(prepared, config.configFile, log);
    return prepared.database.target.provider;
  } finally {
    await prepared.close();
  }
}

/** One process serving the port; with `jobs`, it also runs the background jobs. */
async function runServer(config: Config, log: Log, options: { jobs: boolean; banner?: (address: string) => string }) {
  // Migrations were applied by prepare(), once, before any process serves.
  const running = await services(config, log, false);
  let app: Awaited<ReturnType<typeof buildServer>>;
  let address: string;
  try {
    app = await buildServer(running, { logger: log, jobs: options.jobs });
    address = await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await running.close();
    throw error;
  }
  if (options.banner) process.stderr.write(options.banner(address));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    // In-flight requests get the bound; past it the process ends anyway, with a non-zero code.
    setTimeout(() => {
      log.error('shutdown took longer than SHUTDOWN_TIMEOUT_SECONDS; exiting');
      process.exit(1);
    }, config.shutdownTimeout * 1000).unref();
    await app.close();
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/** The primary of `--workers N`: prepares once, forks, restarts crashed workers, stops them on a signal. */
async function runPrimary(config: Config, log: Log, count: number) {
  const provider = await prepare(config, log);
  let stopping = false;
  const fork = (index: number) => {
    const worker = cluster.fork({ OSTIARY_WORKER_INDEX: String(index) });
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      log.error({ index, code, signal }, 'worker exited; starting another');
      setTimeout(() => fork(index), 1000).unref();
    });
  };
  for (let index = 0; index < count; index += 1) fork(index);
  process.stderr.write(banner(config, `http://${config.host}:${config.port}`, provider, count));

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), (config.shutdownTimeout + 5) * 1000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * `ostiary serve [--workers N|auto]`: one process, or a primary and N workers sharing the port.
 * Background jobs (key transitions, cleanup, sending mail) run in worker 0 only.
 */
export async function serve(config: Config, workersFlag?: string): Promise<void> {
  // Logs go to stderr, as for every command; pino's default-level logger is Fastify's base logger.
  const log = pino(loggerOptions(config), logDestination(config)) as unknown as Log;
  const setting = workersFlag ?? config.workers;
  const count = setting === 'auto' ? availableParallelism() : Number(setting);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--workers takes a number of processes or auto, not ${setting}`);
  if (cluster.isPrimary && count > 1) return runPrimary(config, log, count);
  if (cluster.isWorker) return runServer(config, log, { jobs: process.env.OSTIARY_WORKER_INDEX === '0' });
  const provider = await prepare(config, log);
  return runServer(config, log, { jobs: true, banner: (address) => banner(config, address, provider, 1) });
}
