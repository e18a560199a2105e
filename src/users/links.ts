import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { deleteInBatches, type Database, type Transaction } from '../db/index.ts';
import { fail, type ErrorCode } from '../errors.ts';

/** What a mailed link is for; each refuses a bad use with its own codes. */
export type LinkPurpose = 'password_reset' | 'email_verification' | 'invitation' | 'email_change';

const REFUSALS: Record<LinkPurpose, { invalid: ErrorCode; used: ErrorCode; expired: ErrorCode; name: string }> = {
  password_reset: { invalid: 'user.reset_link_invalid', used: 'user.reset_link_used', expired: 'user.reset_link_expired', name: 'password reset link' },
  email_verification: { invalid: 'user.verification_link_invalid', used: 'user.verification_link_used', expired: 'user.verification_link_expired', name: 'verification link' },
  invitation: { invalid: 'user.invitation_invalid', used: 'user.invitation_used', expired: 'user.invitation_expired', name: 'invitation' },
  email_change: { invalid: 'user.email_change_link_invalid', used: 'user.email_change_link_used', expired: 'user.email_change_link_expired', name: 'address change link' },
};

/** What a link carries: 32 random bytes, base64url. Anything else is refused unseen. */
const TOKEN_FORM = /^[A-Za-z0-9_-]{43}$/;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export interface LinkRow {
  id: string;
  purpose: string;
  userId: string | null;
  email: string;
  returnTo: string | null;
  expiresAt: Date;
}

export interface NewLink {
  purpose: LinkPurpose;
  userId: string | null;
  email: string;
  returnTo?: string | null;
  ttlSeconds: number;
}

export const linkRefused = (purpose: LinkPurpose, kind: 'invalid' | 'used' | 'expired') => {
  const refusal = REFUSALS[purpose];
  const says = { invalid: 'is not valid', used: 'was used already', expired: 'has expired' }[kind];
  return fail(refusal[kind], `the ${refusal.name} ${says}`, { field: 'token' });
};

/**
 * Single-use links mailed to people (`OneTimeToken`): only a link's SHA-256 is stored, so a
 * database leak hands out no working link. This module owns the table.
 */
export function createLinks(db: Database, clock: () => Date = () => new Date()) {
  return {
    /** Stores a new link and returns its token (the secret part of the URL) and when it expires. */
    async issue(link: NewLink, tx: Transaction | Database = db): Promise<{ token: string; expiresAt: Date }> {
      const token = randomBytes(32).toString('base64url');
      const now = clock();
      const expiresAt = new Date(now.getTime() + link.ttlSeconds * 1000);
      await tx.oneTimeToken.create({
        data: {
          id: randomUUID(),
          purpose: link.purpose,
          tokenHash: hashOf(token),
          userId: link.userId,
          email: link.email,
          returnTo: link.returnTo ?? null,
          expiresAt,
          createdAt: now,
        },
      });
      return { token, expiresAt };
    },

    /** The unconsumed, unexpired link `token` is for `purpose`, or the purpose's typed refusal. */
    async usable(purpose: LinkPurpose, token: string): Promise<LinkRow> {
      const row = TOKEN_FORM.test(token) ? await db.oneTimeToken.findUnique({ where: { tokenHash: hashOf(token) } }) : null;
      if (!row || row.purpose !== purpose) throw linkRefused(purpose, 'invalid');
      if (row.consumedAt) throw linkRefused(purpose, 'used');
      if (row.expiresAt <= clock()) throw linkRefused(purpose, 'expired');
      return row;
    },

    /**
     * Uses the link once, inside `tx`: a conditional update, so of two concurrent uses only one
     * succeeds. Every other unused link of the same purpose for the same person or address stops
     * working too.
     */
    async consume(row: LinkRow, purpose: LinkPurpose, tx: Transaction): Promise<void> {
      const now = clock();
      const consumed = await tx.oneTimeToken.updateMany({ where: { id: row.id, consumedAt: null, expiresAt: { gt: now } }, data: { consumedAt: now } });
      if (consumed.count !== 1) throw linkRefused(purpose, 'used');
      const others = row.userId ? { userId: row.userId } : { email: row.email };
      await tx.oneTimeToken.updateMany({ where: { ...others, purpose, consumedAt: null }, data: { consumedAt: now } });
    },

    /** Makes a person's unused links of these purposes stop working (inside `tx` when given). */
    async revokeFor(userId: string, purposes: readonly LinkPurpose[], tx: Transaction | Database = db): Promise<void> {
      await tx.oneTimeToken.updateMany({ where: { userId, purpose: { in: [...purposes] }, consumedAt: null }, data: { consumedAt: clock() } });
    },

    /** The addresses a person's links were mailed to (an address change's new one among them). */
    async addressesOf(userId: string): Promise<string[]> {
      const rows = await db.oneTimeToken.findMany({ where: { userId }, select: { email: true }, distinct: ['email'] });
      return rows.map((row) => row.email);
    },

    /** Deletes every link of a person (their account is being deleted), inside `tx`. */
    async deleteFor(userId: string, tx: Transaction): Promise<void> {
      await tx.oneTimeToken.deleteMany({ where: { userId } });
    },

    /** Deletes links past their expiry, used or not, `batchSize` at a time (the cleanup job). */
    async deleteExpired(batchSize: number): Promise<number> {
      return deleteInBatches(
        batchSize,
        (take) => db.oneTimeToken.findMany({ where: { expiresAt: { lt: clock() } }, select: { id: true }, take }),
        async (batch) => (await db.oneTimeToken.deleteMany({ where: { id: { in: batch.map((row) => row.id) } } })).count,
      );
    },
  };
}

export type Links = ReturnType<typeof createLinks>;
