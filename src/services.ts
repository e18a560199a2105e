import type { FastifyBaseLogger } from 'fastify';
import { createApiKeys } from './api-keys/index.ts';
import { createApis } from './apis/index.ts';
import { createAssertionJtis } from './assertions/index.ts';
import { createAudit, type Audit } from './audit/index.ts';
import { createBackups } from './backup/index.ts';
import { createChecks } from './check/index.ts';
import { createGrants } from './grants/index.ts';
import { createRoles } from './roles/index.ts';
import type { OutboundOptions } from './outbound/index.ts';
import { createClients, createClientStore, createMetadataDocuments, createRegistrationTokens } from './clients/index.ts';
import { createConfigFiles } from './config-file/index.ts';
import type { Config } from './config/index.ts';
import { loadMigrations, openDatabase, type Database, type DatabaseHandle } from './db/index.ts';
import { createI18n } from './i18n/index.ts';
import { createCleanup } from './jobs/index.ts';
import { createMail } from './mail/index.ts';
import { createMetrics } from './metrics/index.ts';
import { createMfa } from './mfa/index.ts';
import { createSigningKeys, keyPolicy } from './keys/index.ts';
import { createSecrets, loadKeyEncryptionKeys } from './secrets/index.ts';
import { createAccounts, createLinks, createPasswordResets, createSignups, createUsers } from './users/index.ts';
import { createProviderStore } from './provider-store/index.ts';
import { createUpstreams } from './upstreams/index.ts';

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
  /** The time key transitions and mail retries are scheduled by; tests pass a controllable one. */
  clock?: () => Date;
  /** Where audit events are also written as log lines. */
  log?: FastifyBaseLogger;
  /** How outbound fetches resolve names and which extra CAs they trust (tests stand in for DNS and a public CA). */
  outbound?: Pick<OutboundOptions, 'resolve' | 'ca'>;
}

/**
 * For /readyz: the committed migrations the database has not applied. The committed list is
 * read from disk once; only the database is asked on every probe.
 */
function pendingMigrations(db: Database, provider: 'sqlite' | 'postgresql') {
  let committed: Promise<string[]> | undefined;
  return async (): Promise<string[]> => {
    committed ??= loadMigrations(provider).then((list) => list.migrationDirectories.map((m) => m.path));
    const expected = await committed;
    const applied = await db.$queryRawUnsafe<{ migration_name: string }[]>(
      'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const done = new Set(applied.map((m) => m.migration_name));
    return expected.filter((name) => !done.has(name));
  };
}

/**
 * The services that own APIs, roles, clients and API keys, built on a database handle: the
 * database itself, or the open transaction of an apply, so both go through the same rules.
 */
function catalog(db: Database, audit: Audit) {
  const apis = createApis(db, audit);
  const roles = createRoles(db, audit);
  const providerStore = createProviderStore(db);
  const grants = createGrants(db, providerStore);
  const clientStore = createClientStore(db);
  const registrationTokens = createRegistrationTokens(db, audit);
  const clients = createClients(db, apis, roles, grants, clientStore, audit, registrationTokens);
  return { apis, roles, providerStore, grants, clientStore, clients, registrationTokens, apiKeys: createApiKeys(db, audit) };
}

export async function createServices(config: Config, logger: Logger, options: ServiceOptions = {}) {
  const metrics = createMetrics();
  const database = await openDatabase(config.databaseUrl, { migrate: options.migrate, onQuery: metrics.observeQuery, dataDir: config.dataDir });
  try {
    if (database.applied.length) logger.info(`applied migrations: ${database.applied.join(', ')}`);
    const secrets = createSecrets(await loadKeyEncryptionKeys(config, (m) => logger.warn(m)));
    const { db } = database;
    const audit = createAudit(db, options.log, metrics.observeAudit, database.recover);
    const core = catalog(db, audit);
    const { apis, roles, providerStore, grants, clientStore, clients, registrationTokens, apiKeys } = core;
    const signingKeys = createSigningKeys(db, secrets, keyPolicy(config), grants, audit, options.clock);
    const migrationsPending = pendingMigrations(db, database.target.provider);
    const i18n = createI18n(config.defaultLocale, config.brand.name);
    const mail = createMail({ db, secrets, audit, i18n, config: config.mail, clock: options.clock });
    const links = createLinks(db, options.clock);
    const assertionJtis = createAssertionJtis(db, options.clock);
    const users = createUsers(db, roles, { lockout: config.lockout, passwordPolicy: config.passwordPolicy, requireVerifiedEmail: config.signup.requireVerifiedEmail }, grants, audit);
    const passwordResets = createPasswordResets({
      db,
      links,
      mail,
      grants,
      audit,
      issuer: config.issuer,
      ttlSeconds: config.passwordResetTtl,
      revokesGrants: config.passwordResetRevokesGrants,
      passwordPolicy: config.passwordPolicy,
      defaultLocale: i18n.defaultLocale,
    });
    const signups = createSignups({
      db,
      users,
      links,
      mail,
      audit,
      issuer: config.issuer,
      config: config.signup,
      passwordPolicy: config.passwordPolicy,
      defaultLocale: i18n.defaultLocale,
    });
    const mfa = createMfa({
      db,
      secrets,
      audit,
      mail,
      contactOf: (userId) => users.contactOf(userId, i18n.defaultLocale),
      isActive: users.isActive,
      issuerName: config.brand.name,
      issuer: config.issuer,
      lockout: config.mfaLockout,
      clock: options.clock,
    });
    const accounts = createAccounts({
      db,
      users,
      links,
      mail,
      grants,
      audit,
      issuer: config.issuer,
      emailChangeTtl: config.signup.verificationTtl,
      deletion: config.accountDeletion,
      mfa,
      mfaRequired: config.mfaRequired,
    });
    const upstreams = createUpstreams({ db, secrets, audit, roles, users, issuer: config.issuer, production: config.production, passkeyCount: (userId) => mfa.passkeys.count(userId) });
    return {
      config,
      database,
      upstreams,
      db,
      secrets,
      apis,
      roles,
      grants,
      providerStore,
      apiKeys,
      audit,
      backups: createBackups(db, database.target.provider, secrets, audit),
      cleanup: createCleanup(providerStore, audit, { batchSize: config.cleanup.batchSize, auditRetentionDays: config.auditRetentionDays }, links, mfa.passkeys, assertionJtis),
      assertionJtis,
      metrics,
      migrationsPending,
      users,
      passwordResets,
      signups,
      accounts,
      mfa,
      i18n,
      clients,
      clientStore,
      metadataDocuments: createMetadataDocuments({ db, audit, grants, store: clientStore, clock: options.clock }),
      outbound: options.outbound ?? {},
      registrationTokens,
      configFiles: createConfigFiles(db, audit, core, catalog),
      checks: createChecks({ config, db, provider: database.target.provider, signingKeys, clients, migrationsPending }),
      signingKeys,
      mail,
      close: async () => {
        mail.close();
        await audit.flush();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

export type Services = Awaited<ReturnType<typeof createServices>>;
export type { DatabaseHandle };
