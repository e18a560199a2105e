import type { Actor, Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import type { Grants, GrantView, SessionView } from '../grants/index.ts';
import { isLocale, type Locale } from '../i18n/index.ts';
import { normalizeEmail } from './email.ts';
import { linkRefused, type Links } from './links.ts';
import type { UserMail } from './user-mail.ts';

const PURPOSE = 'email_change';

/** What this needs of the users service (src/users/index.ts), which builds on this file. */
export interface AccountUsers {
  findById(id: string): Promise<{ id: string; email: string; name: string | null; emailVerified: boolean; disabled: boolean } | null>;
  authenticate(email: string, password: string): Promise<{ ok: boolean; reason?: string }>;
  update(id: string, patch: { name?: string | null }, actor: Actor): Promise<unknown>;
  setPassword(id: string, password: string, actor: Actor): Promise<{ email: string }>;
  revokeGrants(id: string, clientId: string | undefined, actor: Actor): Promise<{ revoked: number }>;
}

export interface AccountDeps {
  db: Database;
  users: AccountUsers;
  links: Links;
  mail: UserMail;
  grants: Grants;
  audit: Audit;
  issuer: string;
  /** How long an address change link works (the verification links' lifetime). */
  emailChangeTtl: number;
  /** People may delete their own accounts (ACCOUNT_DELETION). */
  deletion: boolean;
  defaultLocale: Locale;
}

export interface AccountOverview {
  user: { id: string; email: string; name: string | null; emailVerified: boolean };
  apps: GrantView[];
  sessions: SessionView[];
}

const hours = (seconds: number) => String(Math.max(1, Math.round(seconds / 3600)));

/**
 * What a signed-in person does to their own account on the account page. Each change that a
 * stolen session could abuse asks for the current password first; each is audited as the person.
 */
export function createAccounts({ db, users, links, mail, grants, audit, issuer, emailChangeTtl, deletion, defaultLocale }: AccountDeps) {
  async function person(userId: string) {
    const user = await users.findById(userId);
    if (!user || user.disabled) throw fail('user.not_found', `no user ${userId}`);
    return user;
  }

  /** The person, if `password` is theirs; a wrong one counts towards the lockout like a sign-in. */
  async function confirmed(userId: string, password: string) {
    const user = await person(userId);
    const result = await users.authenticate(user.email, password);
    // Unverified is said only after the right password.
    if (!result.ok && result.reason !== 'unverified') throw fail('user.password_wrong', 'the current password is not right', { field: 'current_password' });
    return user;
  }

  async function mailLocale(userId: string, fallback: Locale): Promise<Locale> {
    const row = await db.user.findUnique({ where: { id: userId }, select: { locale: true } });
    return isLocale(row?.locale) ? row.locale : fallback;
  }

  return {
    deletion,
    /** Address changes need mail (the new address confirms itself by a link). */
    emailChanges: mail.transport !== 'off',

    /** The person and what they hold: the apps they let in (all but `except`) and their sessions. */
    async overview(userId: string, except: string): Promise<AccountOverview> {
      const { id, email, name, emailVerified } = await person(userId);
      const [apps, sessions] = await Promise.all([grants.listForUser(userId), grants.sessionsOf(userId)]);
      return { user: { id, email, name, emailVerified }, apps: apps.filter((app) => app.clientId !== except), sessions };
    },

    /** The person's live sessions with the provider. */
    sessions: (userId: string): Promise<SessionView[]> => grants.sessionsOf(userId),

    async rename(userId: string, name: string, actor: Actor): Promise<void> {
      await person(userId);
      await users.update(userId, { name: name.trim() ? name : null }, actor);
    },

    /** A new password, with the current one; signs out every other session and mails a notice. */
    async changePassword(userId: string, current: string, next: string, keepSessionUid: string, actor: Actor): Promise<void> {
      await confirmed(userId, current);
      const user = await users.setPassword(userId, next, actor);
      await grants.endSessions(userId, keepSessionUid);
      await mail.queue('password-changed', user.email, { changed_by: 'account', apps_signed_out: 'others' }, await mailLocale(userId, defaultLocale), actor);
    },

    /**
     * Mails a link to the new address; the account keeps its address until the link is used. A
     * taken address gets no mail, but the answer is the same.
     */
    async requestEmailChange(userId: string, address: string, password: string, actor: Actor, locale: Locale): Promise<{ email: string }> {
      if (mail.transport === 'off') throw fail('mail.off', 'mail is off: set SMTP_URL to change addresses');
      const email = normalizeEmail(address);
      const user = await confirmed(userId, password);
      if (email === user.email) throw fail('user.email_unchanged', 'the new address is the one the account has', { field: 'email' });
      const taken = await db.user.findUnique({ where: { email }, select: { id: true } });
      await audit.change(actor, { type: 'user.email_change_requested', subject: userId, details: { outcome: taken ? 'address_taken' : 'mailed' } });
      if (taken) return { email };
      const { token } = await links.issue({ purpose: PURPOSE, userId, email, ttlSeconds: emailChangeTtl });
      await mail.queue('email-change', email, { link: `${issuer}/account/email/${token}`, hours: hours(emailChangeTtl) }, locale, actor);
      return { email };
    },

    /** The new address a usable link confirms. */
    async emailChange(token: string): Promise<{ email: string }> {
      const row = await links.usable(PURPOSE, token);
      const user = row.userId ? await users.findById(row.userId) : null;
      if (!user || user.disabled) throw linkRefused(PURPOSE, 'invalid');
      return { email: row.email };
    },

    /** Uses the link once: the account takes the new, verified address; the old one gets a notice. */
    async confirmEmailChange(token: string, actor: Actor): Promise<{ email: string }> {
      const row = await links.usable(PURPOSE, token);
      const user = row.userId ? await users.findById(row.userId) : null;
      if (!user || user.disabled) throw linkRefused(PURPOSE, 'invalid');
      try {
        await db.$transaction(async (tx) => {
          await links.consume(row, PURPOSE, tx);
          await tx.user.update({ where: { id: user.id }, data: { email: row.email, emailVerified: true } });
          await audit.change(actor, { type: 'user.email_changed', subject: user.id }, tx);
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw fail('user.email_taken', 'another account took this address since the link was mailed', { field: 'email' });
        throw error;
      }
      await mail.queue('email-changed', user.email, { email: row.email }, await mailLocale(user.id, defaultLocale), actor);
      return { email: row.email };
    },

    async revokeApp(userId: string, clientId: string, actor: Actor): Promise<void> {
      await person(userId);
      await users.revokeGrants(userId, clientId, actor);
    },

    /** Signs the person out of every browser; apps keep what they hold. */
    async endSessions(userId: string, actor: Actor): Promise<void> {
      await person(userId);
      await grants.endSessions(userId);
      await audit.change(actor, { type: 'user.sessions_ended', subject: userId });
    },

    /**
     * Deletes the person, with the current password: their grants, tokens, sessions, links and
     * mails go too. Their audit events stay, by id only: no address, name, IP or user agent.
     */
    async deleteAccount(userId: string, password: string, actor: Actor): Promise<void> {
      if (!deletion) throw fail('user.deletion_off', 'people cannot delete their own accounts here (ACCOUNT_DELETION is off)');
      const user = await confirmed(userId, password);
      await grants.endEverything(userId);
      await db.$transaction(async (tx) => {
        await links.deleteFor(userId, tx);
        await tx.user.delete({ where: { id: userId } });
        await audit.change(actor, { type: 'user.deleted', subject: userId }, tx);
      });
      await mail.forget(user.email);
      await audit.forgetPerson(userId);
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
