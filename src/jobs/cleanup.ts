import type { FastifyBaseLogger } from 'fastify';
import type { Audit } from '../audit/index.ts';
import type { ProviderStore } from '../provider-store/index.ts';

export interface CleanupResult {
  expiredRows: number;
  auditEvents: number;
  expiredLinks: number;
  expiredChallenges: number;
  expiredAssertions: number;
}

/** Rows of another module that it deletes once expired: mailed links (password reset, ...), passkey challenges, assertion jtis. */
export interface ExpiringRows {
  deleteExpired(batchSize: number): Promise<number>;
}

/**
 * Deletes what the provider no longer needs: rows past their expiry (codes, tokens, sessions,
 * interactions, grants; consumed ones included, as reuse is detected only until expiry), mailed
 * links, passkey challenges and JWT bearer assertion jtis past their expiry, and audit events past the retention. In batches, so no statement
 * locks a large table for long.
 */
export function createCleanup(store: ProviderStore, audit: Audit, options: { batchSize: number; auditRetentionDays: number }, links?: ExpiringRows, challenges?: ExpiringRows, assertions?: ExpiringRows) {
  return {
    async run(): Promise<CleanupResult> {
      return {
        expiredRows: await store.deleteExpired(options.batchSize),
        auditEvents: await audit.prune(options.auditRetentionDays, options.batchSize),
        expiredLinks: (await links?.deleteExpired(options.batchSize)) ?? 0,
        expiredChallenges: (await challenges?.deleteExpired(options.batchSize)) ?? 0,
        expiredAssertions: (await assertions?.deleteExpired(options.batchSize)) ?? 0,
      };
    },
  };
}

/** Runs the cleanup every `intervalSeconds` (first run after one interval). */
export function startCleanup(cleanup: ReturnType<typeof createCleanup>, intervalSeconds: number, log: FastifyBaseLogger) {
  const timer = setInterval(() => {
    cleanup
      .run()
      .then((result) => (result.expiredRows || result.auditEvents || result.expiredLinks || result.expiredChallenges || result.expiredAssertions) && log.info(result, 'cleanup removed rows'))
      .catch((err) => log.error({ err }, 'cleanup failed'));
  }, intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
