import type { Actor, Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import type { Grants } from '../grants/index.ts';
import { isLocale, type Locale } from '../i18n/index.ts';
import { emailKey } from './email.ts';
import { linkRefused, type Links } from './links.ts';
import { checkPassword, hashPassword, type PasswordPolicy } from './passwords.ts';
import type { UserMail } from './user-mail.ts';

const PURPOSE = 'password_reset';

export interface PasswordResetDeps {
  db: Database;
  links: Links;
  mail: UserMail;
  grants: Grants;
  audit: Audit;
  issuer: string;
  ttlSeconds: number;
  /** Grants and refresh tokens go too; else only the sessions end. */
  revokesGrants: boolean;
  passwordPolicy: PasswordPolicy;
  defaultLocale: Locale;
}

/** A valid link's person, for the form that sets the new password. */
export interface ResetLink {
  userId: string;
  email: string;
}

/** Password reset by a mailed single-use link (`OneTimeToken`, purpose `password_reset`). */
export function createPasswordResets({ db, links, mail, grants, audit, issuer, ttlSeconds, revokesGrants, passwordPolicy, defaultLocale }: PasswordResetDeps) {
  const linkFor = (token: string) => `${issuer}/account/password/reset/${token}`;

  /** The usable link for `token`, whose person is still active; else the typed refusal. */
  async function usable(token: string) {
    const row = await links.usable(PURPOSE, token);
    // Disabled since the link was mailed: it no longer opens anything.
    const user = row.userId ? await db.user.findUnique({ where: { id: row.userId }, select: { disabled: true, name: true } }) : null;
    if (!user || user.disabled) throw linkRefused(PURPOSE, 'invalid');
    return { row, userId: row.userId!, name: user.name };
  }

  return {
    /**
     * Mails a reset link to `email` when it belongs to an active person; for an unknown or
     * disabled address nothing is mailed. The caller learns nothing either way (the page
     * answers without waiting for this).
     */
    async requestPasswordReset(email: string, actor: Actor, locale: Locale): Promise<void> {
      const key = emailKey(email);
      const user = key ? await db.user.findUnique({ where: { email: key }, select: { id: true, email: true, disabled: true, locale: true } }) : null;
      const outcome = !user ? 'unknown_email' : user.disabled ? 'disabled' : 'mailed';
      await audit.change(actor, { type: 'user.password_reset_requested', subject: user?.id ?? null, details: { outcome } });
      if (!user || user.disabled) return;
      const { token } = await links.issue({ purpose: PURPOSE, userId: user.id, email: user.email, ttlSeconds });
      const minutes = String(Math.round(ttlSeconds / 60));
      await mail.queue('password-reset', user.email, { link: linkFor(token), minutes }, isLocale(user.locale) ? user.locale : locale, actor);
    },

    /** Whose link `token` is, if it may still be used; else the typed refusal. */
    async resetLink(token: string): Promise<ResetLink> {
      const { row, userId } = await usable(token);
      return { userId, email: row.email };
    },

    /**
     * Sets the new password with the link, once. Clears a lockout and ends the person's sessions,
     * and unless configured otherwise their grants and refresh tokens.
     */
    async resetPassword(token: string, newPassword: string, actor: Actor): Promise<ResetLink & { appsSignedOut: boolean }> {
      const { row, userId, name } = await usable(token);
      checkPassword(newPassword, passwordPolicy, [row.email, name ?? '']);
      const passwordHash = await hashPassword(newPassword);
      const user = await db.$transaction(async (tx) => {
        await links.consume(row, PURPOSE, tx);
        // An address change asked for with the old password must not survive the new one.
        await links.revokeFor(userId, ['email_change'], tx);
        const updated = await tx.user.update({ where: { id: userId }, data: { passwordHash, hasPassword: true, failedLogins: 0, lockedUntil: null }, select: { id: true, email: true, locale: true } });
        await audit.change(actor, { type: 'user.password_reset', subject: userId }, tx);
        return updated;
      });
      if (revokesGrants) await grants.endEverything(user.id);
      else await grants.endSessions(user.id);
      await mail.queue('password-changed', user.email, { apps_signed_out: revokesGrants ? 'yes' : 'no' }, isLocale(user.locale) ? user.locale : defaultLocale, actor);
      return { userId: user.id, email: user.email, appsSignedOut: revokesGrants };
    },
  };
}

export type PasswordResets = ReturnType<typeof createPasswordResets>;
