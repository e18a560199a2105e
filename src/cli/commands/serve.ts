import pino from 'pino';
import type { Config } from '../../config/index.ts';
import { redactedUrl } from '../../db/index.ts';
import { buildServer, loggerOptions } from '../../server.ts';
import { createServices } from '../../services.ts';

function banner(config: Config, address: string, provider: string): string {
  const database = provider === 'sqlite' ? `SQLite (${redactedUrl(config.databaseUrl)})` : `PostgreSQL (${redactedUrl(config.databaseUrl)})`;
  return `
  Ostiary is listening on ${address}
  issuer:    ${config.issuer}
  discovery: ${config.issuer}/.well-known/openid-configuration
  database:  ${database}

  Create a first user and client:
    echo 'a-long-password' | npm run ostiary -- users create --email you@example.com --password-stdin
    npm run ostiary -- clients create --name web --grant authorization_code --grant refresh_token --redirect-uri https://app.example.com/cb
`;
}

/** Starts the server: migrates, makes a first signing key if none, listens, stops on SIGTERM/SIGINT. */
export async function serve(config: Config): Promise<void> {
  const log = pino(loggerOptions(config), pino.destination(2));
  const services = await createServices(config, { info: (m) => log.info(m), warn: (m) => log.warn(m) }, { migrate: true, log });
  let app: Awaited<ReturnType<typeof buildServer>>;
  let address: string;
  try {
    const created = await services.signingKeys.ensureCurrent();
    if (created) log.info({ kid: created.kid }, 'generated the first signing key');
    app = await buildServer(services, log);
    address = await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await services.close();
    throw error;
  }
  process.stderr.write(banner(config, address, services.database.target.provider));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
