import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Actor, Audit } from '../audit/index.ts';
import { deleteInBatches, type Database } from '../db/index.ts';
import { fail } from '../errors.ts';
import type { Grants } from '../grants/index.ts';
import { isLocale, type Locale } from '../i18n/index.ts';
import { emailKey } from './email.ts';
import { checkPassword, hashPassword, type PasswordPolicy } from './passwords.ts';

const PURPOSE = 'password_reset';

/** What a reset link carries: 32 random bytes, base64url. Anything else is refused unseen. */
const RESET_TOKEN_FORM = /^[A-Za-z0-9_-]{43}$/;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * The part of the outbox (src/mail) this uses, declared here: the mail service reaches the pages'
 * views, which reach the security front, which reaches this folder, so importing it would close a loop.
 */
export interface ResetMail {
  queue(template: 'password-reset' | 'password-changed', recipient: string, params: Readonly<Record<string, string>>, locale: Locale, actor: Actor): Promise<unknown>;
}

export interface PasswordResetDeps {
  db: Database;
  mail: ResetMail;
  grants: Grants;
  audit: Audit;
  issuer: string;
  ttlSeconds: number;
  passwordPolicy: PasswordPolicy;
  defaultLocale: Locale;
  clock?: () => Date;
}

/** A valid link's person, for the form that sets the new password. */
export interface ResetLink {
  userId: string;
  email: string;
}

/**
 * Password reset by a mailed single-use link (`OneTimeToken`, purpose `password_reset`): only the
 * link's SHA-256 is stored, so a database leak hands out no working link.
 */
export function createPasswordResets({ db, mail, grants, audit, issuer, ttlSeconds, passwordPolicy, defaultLocale, clock = () => new Date() }: PasswordResetDeps) {
  const linkFor = (token: string) => `${issuer}/account/password/reset/${token}`;

  /** The unconsumed, unexpired token row for `token`, or the typed refusal. */
  async function usable(token: string) {
    const row = RESET_TOKEN_FORM.test(token) ? await db.oneTimeToken.findUnique({ where: { tokenHash: hashOf(token) } }) : null;
    if (!row || row.purpose !== PURPOSE || !row.userId) throw fail('user.reset_link_invalid', 'the password reset link is not valid', { field: 'token' });
    if (row.consumedAt) throw fail('user.reset_link_used', 'the password reset link was used already', { field: 'token' });
    if (row.expiresAt <= clock()) throw fail('user.reset_link_expired', 'the password reset link has expired', { field: 'token' });
    // Disabled since the link was mailed: it no longer opens anything.
    const user = await db.user.findUnique({ where: { id: row.userId }, select: { disabled: true } });
    if (!user || user.disabled) throw fail('user.reset_link_invalid', 'the password reset link is not valid', { field: 'token' });
    return row as typeof row & { userId: string };
  }

  return {
    /**
     * Mails a reset link to `email` when it belongs to an active person; for an unknown or
     * disabled address nothing is mailed. The caller learns nothing either way (the page
     * answers without waiting for this), and the token is made and hashed in both cases.
     */
    async requestPasswordReset(email: string, actor: Actor, locale: Locale): Promise<void> {
      const token = randomBytes(32).toString('base64url');
      const tokenHash = hashOf(token);
      const key = emailKey(email);
      const user = key ? await db.user.findUnique({ where: { email: key }, select: { id: true, email: true, disabled: true, locale: true } }) : null;
      const outcome = !user ? 'unknown_email' : user.disabled ? 'disabled' : 'mailed';
      await audit.change(actor, { type: 'user.password_reset_requested', subject: user?.id ?? null, details: { outcome } });
      if (!user || user.disabled) return;
      const now = clock();
      await db.oneTimeToken.create({
        data: { id: randomUUID(), purpose: PURPOSE, tokenHash, userId: user.id, email: user.email, expiresAt: new Date(now.getTime() + ttlSeconds * 1000), createdAt: now },
      });
      const minutes = String(Math.round(ttlSeconds / 60));
      await mail.queue('password-reset', user.email, { link: linkFor(token), minutes }, isLocale(user.locale) ? user.locale : locale, actor);
    },

    /** Deletes links past their expiry, used or not, `batchSize` at a time (the cleanup job). */
    async deleteExpired(batchSize: number): Promise<number> {
      return deleteInBatches(
        batchSize,
        (take) => db.oneTimeToken.findMany({ where: { expiresAt: { lt: clock() } }, select: { id: true }, take }),
        async (batch) => (await db.oneTimeToken.deleteMany({ where: { id: { in: batch.map((row) => row.id) } } })).count,
      );
    },

    /** Whose link `token` is, if it may still be used; else the typed refusal. */
    async resetLink(token: string): Promise<ResetLink> {
      const row = await usable(token);
      return { userId: row.userId, email: row.email };
    },

    /**
     * Sets the new password with the link, once: the token is consumed by a conditional update,
     * so of two concurrent uses only one succeeds. Clears a lockout and ends everything the person
     * holds with the provider (sessions, grants, refresh tokens).
     */
    async resetPassword(token: string, newPassword: string, actor: Actor): Promise<ResetLink> {
      const row = await usable(token);
      const person = await db.user.findUnique({ where: { id: row.userId }, select: { name: true } });
      checkPassword(newPassword, passwordPolicy, [row.email, person?.name ?? '']);
      const passwordHash = await hashPassword(newPassword);
      const now = clock();
      const user = await db.$transaction(async (tx) => {
        const consumed = await tx.oneTimeToken.updateMany({ where: { id: row.id, consumedAt: null, expiresAt: { gt: now } }, data: { consumedAt: now } });
        if (consumed.count !== 1) throw fail('user.reset_link_used', 'the password reset link was used already', { field: 'token' });
        // Any other link mailed before this one stops working too.
        await tx.oneTimeToken.updateMany({ where: { userId: row.userId, purpose: PURPOSE, consumedAt: null }, data: { consumedAt: now } });
        const updated = await tx.user.update({ where: { id: row.userId }, data: { passwordHash, failedLogins: 0, lockedUntil: null }, select: { id: true, email: true, locale: true } });
        await audit.change(actor, { type: 'user.password_reset', subject: row.userId }, tx);
        return updated;
      });
      await grants.endEverything(user.id);
      await mail.queue('password-changed', user.email, {}, isLocale(user.locale) ? user.locale : defaultLocale, actor);
      return { userId: user.id, email: user.email };
    },
  };
}

export type PasswordResets = ReturnType<typeof createPasswordResets>;
