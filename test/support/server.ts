import { createServer } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/index.ts';
import { buildServer } from '../../src/server.ts';
import { createServices, type ServiceOptions, type Services } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './databases.ts';

const quiet = { info: () => {}, warn: () => {} };

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `count` different free loopback ports: held open together, so the system cannot hand out one twice. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export interface TestServer {
  issuer: string;
  /** Where it listens (the issuer too, unless ISSUER was given). */
  url: string;
  database: TestDatabase;
  services: Services;
  app: FastifyInstance;
  /** Stops and starts the server on the same port and database, as a process restart would. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Share this database (and data directory) instead of creating one; `stop` then leaves it. */
  database?: TestDatabase;
  /** The clock key transitions follow. */
  clock?: () => Date;
  /** Where the server logs, instead of the LOG_LEVEL-configured default. */
  logger?: FastifyBaseLogger;
  /** The issuer's host name instead of 127.0.0.1 (passkeys need a name: `localhost`); it still listens on loopback. */
  issuerHost?: string;
  /** How the server's outbound fetches resolve names and which extra CAs they trust. */
  outbound?: ServiceOptions['outbound'];
}

/** A real server on a loopback port with a database of its own, built as `ostiary serve` builds it. */
export async function startTestServer(
  kind: TestDatabaseKind,
  env: Record<string, string> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase(kind));
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    ISSUER: env.ISSUER ?? `http://${options.issuerHost ?? '127.0.0.1'}:${port}`,
    DATA_DIR: database.dataDir,
    DATABASE_URL: database.url,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });

  async function boot() {
    const services = await createServices(config, quiet, { migrate: true, clock: options.clock, outbound: options.outbound });
    await services.signingKeys.ensureCurrent();
    const app = await buildServer(services, { logger: options.logger });
    await app.listen({ port, host: '127.0.0.1' });
    return { services, app };
  }

  let running = await boot();
  const server: TestServer = {
    issuer: config.issuer,
    url: `http://127.0.0.1:${port}`,
    database,
    services: running.services,
    app: running.app,
    async restart() {
      await running.app.close();
      await running.services.close();
      running = await boot();
      server.services = running.services;
      server.app = running.app;
    },
    async stop() {
      await running.app.close();
      await running.services.close();
      if (!options.database) await database.drop();
    },
  };
  return server;
}

/** Several instances on one fresh PostgreSQL database, as behind a load balancer; `stop` ends them all. */
export async function startInstances(count: number, env: Record<string, string> = {}) {
  const database = await createTestDatabase('postgresql');
  const instances: TestServer[] = [];
  for (let i = 0; i < count; i += 1) instances.push(await startTestServer('postgresql', env, { database }));
  return {
    instances,
    async stop() {
      for (const instance of instances) await instance.stop();
      await database.drop();
    },
  };
}
