import type { FastifyBaseLogger } from 'fastify';
import { createApiKeys } from './api-keys/index.ts';
import { createApis } from './apis/index.ts';
import { createAudit } from './audit/index.ts';
import { createGrants } from './grants/index.ts';
import { createRoles } from './roles/index.ts';
import { createClients, createClientStore } from './clients/index.ts';
import type { Config } from './config/index.ts';
import { openDatabase, type DatabaseHandle } from './db/index.ts';
import { createSigningKeys, keyPolicy } from './keys/index.ts';
import { createSecrets, loadKeyEncryptionKeys } from './secrets/index.ts';
import { createUsers } from './users/index.ts';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * Everything behind the HTTP server and the CLI, built once from the config: the database
 * (migrated when asked), the secrets envelope, and one service per concern.
 */
export interface ServiceOptions {
  /** Apply pending migrations first (the server and the CLI do). */
  migrate?: boolean;
  /** The time key transitions are scheduled by; tests pass a controllable one. */
  clock?: () => Date;
  /** Where audit events are also written as log lines. */
  log?: FastifyBaseLogger;
}

export async function createServices(config: Config, logger: Logger, options: ServiceOptions = {}) {
  const database = await openDatabase(config.databaseUrl, options);
  try {
    if (database.applied.length) logger.info(`applied migrations: ${database.applied.join(', ')}`);
    const secrets = createSecrets(await loadKeyEncryptionKeys(config, (m) => logger.warn(m)));
    const { db } = database;
    const apis = createApis(db);
    const roles = createRoles(db);
    const grants = createGrants(db);
    return {
      config,
      database,
      db,
      secrets,
      apis,
      roles,
      grants,
      apiKeys: createApiKeys(db),
      audit: createAudit(db, options.log),
      users: createUsers(db, roles, config.lockout),
      clients: createClients(db, apis, roles, grants),
      clientStore: createClientStore(db),
      signingKeys: createSigningKeys(db, secrets, keyPolicy(config), options.clock),
      close: () => database.close(),
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

export type Services = Awaited<ReturnType<typeof createServices>>;
export type { DatabaseHandle };
