import type { SignupConfig } from '../config/index.ts';
import type { Actor, Audit } from '../audit/index.ts';
import type { Database, Transaction } from '../db/index.ts';
import { fail, OstiaryError } from '../errors.ts';
import { isLocale, type Locale } from '../i18n/index.ts';
import { emailKey, normalizeEmail } from './email.ts';
import { linkRefused, type LinkRow, type Links } from './links.ts';
import { checkPassword, type PasswordPolicy } from './passwords.ts';
import type { UserMail } from './user-mail.ts';
import { cleanName } from './names.ts';

export interface SignupDeps {
  db: Database;
  users: SignupUsers;
  links: Links;
  mail: UserMail;
  audit: Audit;
  issuer: string;
  config: SignupConfig;
  passwordPolicy: PasswordPolicy;
  defaultLocale: Locale;
}

/** What this needs of the users service (src/users/index.ts), which builds on this file. */
export interface SignupUsers {
  create(input: { email: string; password: string; name?: string; emailVerified: boolean; locale: string }, actor: Actor, alsoIn?: (tx: Transaction) => Promise<void>): Promise<{ id: string; email: string }>;
  resolve(idOrEmail: string): Promise<{ id: string; email: string; emailVerified: boolean }>;
}

export interface SignupForm {
  email: string;
  name: string;
  password: string;
}

/** A usable verification link: whose address, and the sign-in request to continue, if any. */
export interface VerificationLink {
  userId: string;
  email: string;
  returnTo: string | null;
}

const hours = (seconds: number) => String(Math.max(1, Math.round(seconds / 3600)));
const days = (seconds: number) => String(Math.max(1, Math.round(seconds / 86_400)));

/**
 * Sign-up, email verification and invitations. Sign-up answers the same whether the address is
 * new or taken: `check` refuses what is wrong with the form itself (and says so), `signUp` then
 * does the work the caller must not wait for.
 */
export function createSignups({ db, users, links, mail, audit, issuer, config, passwordPolicy, defaultLocale }: SignupDeps) {
  const localeOf = (stored: string | null | undefined, fallback: Locale) => (isLocale(stored) ? stored : fallback);

  const mailOn = () => {
    if (mail.transport === 'off') throw fail('mail.off', 'mail is off: set SMTP_URL to send invitations and verification links');
  };

  /** Mails a verification link; inside a sign-in request it continues that request. */
  async function sendVerification(user: { id: string; email: string; locale?: string | null }, returnTo: string | null, actor: Actor, locale: Locale) {
    const { token } = await links.issue({ purpose: 'email_verification', userId: user.id, email: user.email, returnTo, ttlSeconds: config.verificationTtl });
    const link = returnTo ? `${issuer}/interaction/${returnTo}/verify/${token}` : `${issuer}/account/verify/${token}`;
    await audit.change(actor, { type: 'user.verification_sent', subject: user.id });
    await mail.queue('verify-email', user.email, { link, hours: hours(config.verificationTtl) }, localeOf(user.locale, locale), actor);
  }

  /** The usable link whose person still has the address it was mailed to. */
  async function usableVerification(token: string): Promise<LinkRow & { userId: string }> {
    const row = await links.usable('email_verification', token);
    const user = row.userId ? await db.user.findUnique({ where: { id: row.userId }, select: { email: true, disabled: true } }) : null;
    if (!user || user.disabled || user.email !== row.email) throw linkRefused('email_verification', 'invalid');
    return row as LinkRow & { userId: string };
  }

  return {
    /** Sign-up is offered on the sign-in page. */
    open: config.mode === 'open',
    /** For the forms' hint: the shortest password the policy takes. */
    passwordMinLength: passwordPolicy.minLength,

    /** What is wrong with the form itself, said before anything is looked up. */
    check(form: SignupForm): SignupForm {
      const email = normalizeEmail(form.email);
      const domain = email.slice(email.lastIndexOf('@') + 1);
      if (config.allowedDomains.length && !config.allowedDomains.includes(domain)) {
        throw fail('user.signup_domain_refused', `sign-up does not take addresses at ${domain}`, { field: 'email' });
      }
      const name = cleanName(form.name) ?? '';
      checkPassword(form.password, passwordPolicy, [email, name]);
      return { email, name, password: form.password };
    },

    /**
     * Creates the person, unverified, and mails them a verification link; for a taken address
     * mails its owner a notice instead. The caller's page says "check your mail" either way,
     * without waiting for this.
     */
    async signUp(form: SignupForm, returnTo: string | null, actor: Actor, locale: Locale): Promise<void> {
      const key = emailKey(form.email);
      const existing = key ? await db.user.findUnique({ where: { email: key }, select: { id: true, email: true, locale: true } }) : null;
      if (!existing) {
        try {
          const user = await users.create({ ...form, emailVerified: false, locale }, actor);
          await audit.change(actor, { type: 'user.signed_up', subject: user.id, details: { outcome: 'created' } });
          return sendVerification(user, returnTo, actor, locale);
        } catch (error) {
          // Taken between the look-up and the insert: the owner is told, as below.
          if (!(error instanceof OstiaryError && error.code === 'user.email_taken')) throw error;
        }
      }
      const owner = existing ?? (await db.user.findUnique({ where: { email: normalizeEmail(form.email) }, select: { id: true, email: true, locale: true } }));
      if (!owner) return;
      await audit.change(actor, { type: 'user.signed_up', subject: owner.id, details: { outcome: 'existing_address' } });
      await mail.queue('signup-existing', owner.email, { link: `${issuer}/account/password/reset` }, localeOf(owner.locale, locale), actor);
    },

    /** For a sign-in refused as unverified: a fresh link, continuing that sign-in request. */
    async sendVerificationForSignIn(userId: string, returnTo: string, actor: Actor, locale: Locale): Promise<void> {
      const user = await db.user.findUnique({ where: { id: userId }, select: { id: true, email: true, locale: true, emailVerified: true } });
      if (user && !user.emailVerified) await sendVerification(user, returnTo, actor, locale);
    },

    /** An operator's resend: a fresh link to an unverified person. */
    async resendVerification(idOrEmail: string, actor: Actor): Promise<{ email: string }> {
      mailOn();
      const user = await users.resolve(idOrEmail);
      if (user.emailVerified) throw fail('user.already_verified', `${user.email} is verified already`);
      const stored = await db.user.findUnique({ where: { id: user.id }, select: { locale: true } });
      await sendVerification({ ...user, locale: stored?.locale }, null, actor, defaultLocale);
      return { email: user.email };
    },

    async verificationLink(token: string): Promise<VerificationLink> {
      const { userId, email, returnTo } = await usableVerification(token);
      return { userId, email, returnTo };
    },

    /** Uses the link once: the address is verified. */
    async verifyEmail(token: string, actor: Actor): Promise<VerificationLink> {
      const row = await usableVerification(token);
      await db.$transaction(async (tx) => {
        await links.consume(row, 'email_verification', tx);
        await tx.user.update({ where: { id: row.userId }, data: { emailVerified: true } });
        await audit.change(actor, { type: 'user.email_verified', subject: row.userId }, tx);
      });
      return { userId: row.userId, email: row.email, returnTo: row.returnTo };
    },

    /** An operator invites an address: it gets a link to choose a name and a password. */
    async invite(address: string, actor: Actor, locale: Locale = defaultLocale): Promise<{ email: string; expiresAt: Date }> {
      mailOn();
      const email = normalizeEmail(address);
      if (await db.user.findUnique({ where: { email }, select: { id: true } })) {
        throw fail('user.email_taken', `a user with email ${email} already exists`, { field: 'email' });
      }
      const { token, expiresAt } = await links.issue({ purpose: 'invitation', userId: null, email, ttlSeconds: config.invitationTtl });
      await audit.change(actor, { type: 'user.invited', details: { ttl_seconds: config.invitationTtl } });
      await mail.queue('invitation', email, { link: `${issuer}/account/invitation/${token}`, days: days(config.invitationTtl) }, locale, actor);
      return { email, expiresAt };
    },

    /** The invited address, if the invitation may still be used. */
    async invitation(token: string): Promise<{ email: string }> {
      const row = await links.usable('invitation', token);
      return { email: row.email };
    },

    /** Creates the invited person, verified (the invitation reached the address), once. */
    async acceptInvitation(token: string, form: Omit<SignupForm, 'email'>, actor: Actor, locale: Locale): Promise<{ userId: string }> {
      const row = await links.usable('invitation', token);
      const user = await users.create({ email: row.email, name: form.name, password: form.password, emailVerified: true, locale }, actor, (tx) =>
        links.consume(row, 'invitation', tx),
      );
      return { userId: user.id };
    },
  };
}

export type Signups = ReturnType<typeof createSignups>;
