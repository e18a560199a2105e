import type { Actor } from '../audit/index.ts';
import type { Locale } from '../i18n/index.ts';

/** The mails this folder sends; each has its templates in views/mail/ and texts under `mail:`. */
export type UserMailTemplate = 'password-reset' | 'password-changed' | 'verify-email' | 'signup-existing' | 'invitation' | 'email-change' | 'email-change-requested' | 'email-changed';

/**
 * The part of the outbox (src/mail) this folder uses, declared here: the mail service reaches the
 * pages' views, which reach the security front, which reaches this folder, so importing it would
 * close a loop.
 */
export interface UserMail {
  /** `off` in production without SMTP_URL. */
  readonly transport: 'smtp' | 'files' | 'off';
  queue(template: UserMailTemplate, recipient: string, params: Readonly<Record<string, string>>, locale: Locale, actor: Actor): Promise<unknown>;
  /** Deletes every message to these addresses, sent or not. */
  forget(recipients: readonly string[]): Promise<void>;
}
