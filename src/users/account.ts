import type { Actor, Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import type { Grants, GrantView, SessionView } from '../grants/index.ts';
import type { Locale } from '../i18n/index.ts';
import { normalizeEmail } from './email.ts';
import { linkRefused, type Links } from './links.ts';
import type { Mfa, TotpSetup } from '../mfa/index.ts';
import type { UserMail } from './user-mail.ts';

const PURPOSE = 'email_change';

/** What this needs of the users service (src/users/index.ts), which builds on this file. */
export interface AccountUsers {
  findById(id: string): Promise<{ id: string; email: string; name: string | null; emailVerified: boolean; disabled: boolean } | null>;
  authenticate(email: string, password: string): Promise<{ ok: boolean; reason?: string; lockedUntil?: Date }>;
  update(id: string, patch: { name?: string | null }, actor: Actor): Promise<unknown>;
  setPassword(id: string, password: string, actor: Actor): Promise<{ email: string }>;
  revokeGrants(id: string, clientId: string | undefined, actor: Actor): Promise<{ revoked: number }>;
  contactOf(id: string, fallback: Locale): Promise<{ email: string; locale: Locale } | null>;
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
  mfa: Mfa;
  /** MFA=required: nobody turns two-step sign-in off on their own. */
  mfaRequired: boolean;
}

export interface AccountOverview {
  user: { id: string; email: string; name: string | null; emailVerified: boolean };
  apps: GrantView[];
}

const hours = (seconds: number) => String(Math.max(1, Math.round(seconds / 3600)));

/**
 * What a signed-in person does to their own account on the account page. Each change that a
 * stolen session could abuse asks for the current password first; each is audited as the person.
 */
export function createAccounts({ db, users, links, mail, grants, audit, issuer, emailChangeTtl, deletion, mfa, mfaRequired }: AccountDeps) {
  async function person(userId: string) {
    const user = await users.findById(userId);
    if (!user || user.disabled) throw fail('user.not_found', `no user ${userId}`);
    return user;
  }

  /**
   * The person, if `password` is theirs. A wrong one counts towards the lockout like a sign-in,
   * and is audited as one.
   */
  async function confirmed(userId: string, password: string, actor: Actor) {
    const user = await person(userId);
    const result = await users.authenticate(user.email, password);
    // Unverified is said only after the right password.
    if (result.ok || result.reason === 'unverified') return user;
    await audit.refused(actor, { type: 'login.failure', subject: userId, details: { reason: result.reason ?? 'wrong_password', page: 'account' } });
    if (result.lockedUntil) await audit.refused(actor, { type: 'login.lockout', subject: userId, details: { lockedUntil: result.lockedUntil.toISOString() } });
    throw fail('user.password_wrong', 'the current password is not right', { field: 'current_password' });
  }

  /** Queues a notice where mail is on; without mail there is nobody to tell. */
  async function notify(template: Parameters<UserMail['queue']>[0], to: string, params: Record<string, string>, userId: string, fallback: Locale, actor: Actor) {
    if (mail.transport === 'off') return;
    // In the person's own language where they have one: `to` may be an address they no longer have.
    const locale = (await users.contactOf(userId, fallback))?.locale ?? fallback;
    await mail.queue(template, to, params, locale, actor);
  }

  /** A usable address change link of `userId` (the person signed in), with the person. */
  async function changeLink(token: string, userId: string) {
    const row = await links.usable(PURPOSE, token);
    const user = row.userId === userId ? await users.findById(userId) : null;
    if (!user || user.disabled) throw linkRefused(PURPOSE, 'invalid');
    return { row, user };
  }

  return {
    deletion,
    mfaRequired,
    /** Address changes need mail (the new address confirms itself by a link). */
    emailChanges: mail.transport !== 'off',

    /** The person and the apps they let in (all but `except`). */
    async overview(userId: string, except: string): Promise<AccountOverview> {
      const { id, email, name, emailVerified } = await person(userId);
      const apps = await grants.listForUser(userId);
      return { user: { id, email, name, emailVerified }, apps: apps.filter((app) => app.clientId !== except) };
    },

    /** The person's live sessions with the provider. */
    sessions: (userId: string): Promise<SessionView[]> => grants.sessionsOf(userId),

    /** Checks the current password of a change that another service makes (unlinking an upstream). */
    async confirmPassword(userId: string, password: string, actor: Actor): Promise<void> {
      await confirmed(userId, password, actor);
    },

    /** Whether sign-ins ask for a code, and how many recovery codes are left. */
    secondFactor: (userId: string) => mfa.status(userId),

    /** Starts setting up an authenticator app, with the current password (a stolen session cannot lock the owner out). */
    async beginTotp(userId: string, password: string, actor: Actor): Promise<TotpSetup> {
      const user = await confirmed(userId, password, actor);
      return mfa.beginTotp(userId, user.email);
    },

    async pendingTotp(userId: string): Promise<TotpSetup> {
      const user = await person(userId);
      return mfa.pendingTotp(userId, user.email);
    },

    /** Takes the app into use with a code of it; returns the recovery codes, shown once. */
    confirmTotp: (userId: string, code: string, actor: Actor): Promise<string[]> => mfa.confirmTotp(userId, code, actor),

    async newRecoveryCodes(userId: string, password: string, actor: Actor): Promise<string[]> {
      await confirmed(userId, password, actor);
      return mfa.regenerateRecoveryCodes(userId, actor);
    },

    /** Turns the second step off, with the current password; the password stays the way in. */
    async removeTotp(userId: string, password: string, actor: Actor): Promise<void> {
      if (mfaRequired) throw fail('mfa.required', 'two-step sign-in is required here (MFA=required) and stays on');
      await confirmed(userId, password, actor);
      await mfa.remove(userId, actor);
    },

    /** Whether passkeys work for this issuer (a host name, not an IP address). */
    passkeys: mfa.passkeys.available,

    /** A challenge for the browser to create a passkey of this person with. */
    async passkeyOptions(userId: string) {
      return mfa.passkeys.registrationOptions(await person(userId));
    },

    /** Keeps the passkey the browser created, with the current password (a stolen session cannot add its own way in). */
    async addPasskey(userId: string, password: string, name: string, response: unknown, actor: Actor) {
      await confirmed(userId, password, actor);
      return mfa.passkeys.register(userId, name, response, actor);
    },

    /** Removes one of the person's passkeys, with the current password; the password stays a way in. With MFA=required the last second factor stays. */
    async removePasskey(userId: string, password: string, passkeyId: string, actor: Actor): Promise<void> {
      await confirmed(userId, password, actor);
      if (mfaRequired && !(await mfa.enrolled(userId)) && (await mfa.passkeys.count(userId)) <= 1) {
        throw fail('mfa.required', 'two-step sign-in is required here (MFA=required): the last second factor stays');
      }
      if (!(await mfa.passkeys.remove(userId, passkeyId, actor))) throw fail('mfa.passkey_not_found', 'no such passkey');
    },

    async rename(userId: string, name: string, actor: Actor): Promise<void> {
      await person(userId);
      await users.update(userId, { name: name.trim() ? name : null }, actor);
    },

    /**
     * A new password, with the current one; signs out every other session, stops address change
     * links asked for before, and mails a notice.
     */
    async changePassword(userId: string, current: string, next: string, keepSessionUid: string, actor: Actor, locale: Locale): Promise<void> {
      await confirmed(userId, current, actor);
      const user = await users.setPassword(userId, next, actor);
      await grants.endSessions(userId, keepSessionUid);
      await links.revokeFor(userId, [PURPOSE]);
      await notify('password-changed', user.email, { changed_by: 'account', apps_signed_out: 'others' }, userId, locale, actor);
    },

    /**
     * What is wrong with an address change itself, said at once: the current password, the
     * address's form, the address the account has already. Returns the new address, normalized.
     */
    async checkEmailChange(userId: string, address: string, password: string, actor: Actor): Promise<{ email: string }> {
      if (mail.transport === 'off') throw fail('mail.off', 'mail is off: set SMTP_URL to change addresses');
      const email = normalizeEmail(address);
      const user = await confirmed(userId, password, actor);
      if (email === user.email) throw fail('user.email_unchanged', 'the new address is the one the account has', { field: 'email' });
      return { email };
    },

    /**
     * Mails a link to the new address (the account keeps its address until the link is used) and
     * tells the current address. A taken address gets no link; the caller answers before this
     * runs, so neither the page nor its timing says which addresses have accounts.
     */
    async mailEmailChange(userId: string, email: string, actor: Actor, locale: Locale): Promise<void> {
      const user = await person(userId);
      const taken = await db.user.findUnique({ where: { email }, select: { id: true } });
      await audit.change(actor, { type: 'user.email_change_requested', subject: userId, details: { outcome: taken ? 'address_taken' : 'mailed' } });
      await notify('email-change-requested', user.email, { email, link: `${issuer}/account` }, userId, locale, actor);
      if (taken) return;
      const { token } = await links.issue({ purpose: PURPOSE, userId, email, ttlSeconds: emailChangeTtl });
      await mail.queue('email-change', email, { link: `${issuer}/account/email/${token}`, hours: hours(emailChangeTtl) }, locale, actor);
    },

    /** Refuses a link that is not a usable address change link, before anyone signs in for it. */
    async checkEmailChangeLink(token: string): Promise<void> {
      await links.usable(PURPOSE, token);
    },

    /** The change a usable link confirms, for the person it was mailed for (anyone else is refused). */
    async emailChange(token: string, userId: string): Promise<{ email: string; current: string }> {
      const { row, user } = await changeLink(token, userId);
      return { email: row.email, current: user.email };
    },

    /** Uses the link once: the account takes the new, verified address; the old one gets a notice. */
    async confirmEmailChange(token: string, userId: string, actor: Actor, locale: Locale): Promise<{ email: string }> {
      const { row, user } = await changeLink(token, userId);
      try {
        await db.$transaction(async (tx) => {
          await links.consume(row, PURPOSE, tx);
          await tx.user.update({ where: { id: user.id }, data: { email: row.email, emailVerified: true } });
          // Links mailed to the old address stop working with it.
          await links.revokeFor(user.id, ['password_reset', 'email_verification'], tx);
          await audit.change(actor, { type: 'user.email_changed', subject: user.id }, tx);
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw fail('user.email_taken', 'another account took this address since the link was mailed', { field: 'email' });
        throw error;
      }
      await notify('email-changed', user.email, { email: row.email }, user.id, locale, actor);
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
      // An address change asked for from a session that is now gone must not go through.
      await links.revokeFor(userId, [PURPOSE]);
      await audit.change(actor, { type: 'user.sessions_ended', subject: userId });
    },

    /**
     * Deletes the person, with the current password: their grants, tokens, sessions, links and
     * mails go too. Their audit events stay, by id only: no address, name, IP or user agent.
     */
    async deleteAccount(userId: string, password: string, actor: Actor): Promise<void> {
      if (!deletion) throw fail('user.deletion_off', 'people cannot delete their own accounts here (ACCOUNT_DELETION is off)');
      const user = await confirmed(userId, password, actor);
      const addresses = [...new Set([user.email, ...(await links.addressesOf(userId))])];
      await grants.endEverything(userId);
      await db.$transaction(async (tx) => {
        await links.deleteFor(userId, tx);
        await tx.user.delete({ where: { id: userId } });
        await audit.change(actor, { type: 'user.deleted', subject: userId }, tx);
      });
      await mail.forget(addresses);
      await audit.forgetPerson(userId, addresses);
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
