import type { FastifyBaseLogger } from 'fastify';
import type { Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';

export interface CleanupResult {
  expiredRows: number;
  auditEvents: number;
}

/**
 * Deletes what the provider no longer needs: rows past their expiry (codes, tokens, sessions,
 * interactions, grants; consumed ones included, as reuse is detected only until expiry), and audit
 * events past the retention. In batches, so no statement locks a large table for long.
 */
export function createCleanup(db: Database, audit: Audit, options: { batchSize: number; auditRetentionDays: number }) {
  async function expiredRows(): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = await db.oidcPayload.findMany({ where: { expiresAt: { lt: new Date() } }, select: { type: true, id: true }, take: options.batchSize });
      if (batch.length === 0) return total;
      total += (await db.oidcPayload.deleteMany({ where: { OR: batch } })).count;
      if (batch.length < options.batchSize) return total;
    }
  }

  return {
    async run(): Promise<CleanupResult> {
      return { expiredRows: await expiredRows(), auditEvents: await audit.prune(options.auditRetentionDays, options.batchSize) };
    },
  };
}

/** Runs the cleanup every `intervalSeconds` (first run after one interval). */
export function startCleanup(cleanup: ReturnType<typeof createCleanup>, intervalSeconds: number, log: FastifyBaseLogger) {
  const timer = setInterval(() => {
    cleanup
      .run()
      .then((result) => (result.expiredRows || result.auditEvents) && log.info(result, 'cleanup removed rows'))
      .catch((err) => log.error({ err }, 'cleanup failed'));
  }, intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
