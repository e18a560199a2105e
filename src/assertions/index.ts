import { createHash } from 'node:crypto';
import { type Database, deleteInBatches } from '../db/index.ts';
import { isUniqueViolation } from '../errors.ts';

/**
 * The `jti` of every JWT bearer assertion (RFC 7523) taken, kept until the assertion expires, in
 * the database: an assertion is good once, on whichever instance it is presented first.
 */
export function createAssertionJtis(db: Database, clock: () => Date = () => new Date()) {
  return {
    /**
     * Records `jti` of `issuer` as used until `expiresAt`; false when it was used already. One
     * insert on a unique key, so of two requests running alongside exactly one succeeds.
     */
    async take(issuer: string, jti: string, expiresAt: Date): Promise<boolean> {
      const id = createHash('sha256').update(JSON.stringify([issuer, jti])).digest('hex');
      try {
        await db.assertionJti.create({ data: { id, expiresAt } });
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },

    /** Deletes the jtis of expired assertions (they cannot be presented again), a batch at a time. */
    deleteExpired: (batchSize: number): Promise<number> =>
      deleteInBatches(
        batchSize,
        (limit) => db.assertionJti.findMany({ where: { expiresAt: { lte: clock() } }, select: { id: true }, take: limit }),
        async (batch) => (await db.assertionJti.deleteMany({ where: { id: { in: batch.map((row) => row.id) } } })).count,
      ),
  };
}

export type AssertionJtis = ReturnType<typeof createAssertionJtis>;
