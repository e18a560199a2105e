import type { Database } from './types.ts';
import { isUniqueViolation } from '../errors.ts';

export type Transaction = Parameters<Parameters<Database['$transaction']>[0]>[0];

// Waiting for another instance's critical section counts against these.
const TRANSACTION_LIMITS = { maxWait: 10_000, timeout: 15_000 };

/**
 * Runs `work` in a transaction that first takes the named lock, so across every instance on
 * the database only one runs it at a time. Keep the work short: no slow computation inside.
 */
export async function withLock<T>(db: Database, name: string, work: (tx: Transaction) => Promise<T>, limits = TRANSACTION_LIMITS): Promise<T> {
  await db.lock.create({ data: { name } }).catch((error: unknown) => {
    if (!isUniqueViolation(error)) throw error;
  });
  return db.$transaction(async (tx) => {
    await tx.lock.update({ where: { name }, data: { updatedAt: new Date() } });
    return work(tx);
  }, limits);
}
