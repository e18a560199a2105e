import { randomUUID } from 'node:crypto';
import { SYSTEM_ACTOR, type Actor, type Audit } from '../audit/index.ts';
import { requireMail, type MailConfig } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { fail } from '../errors.ts';
import type { I18n, Locale } from '../i18n/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { createMailRenderer, type MailParams, type MailTemplate } from './render.ts';
import { contentContext, createMailSender, DEFAULT_RETRY, type RetryPolicy } from './sender.ts';
import { createTransport } from './transport.ts';

export { MAIL_TEMPLATES, isMailTemplate, type MailParams, type MailTemplate, type RenderedMail } from './render.ts';
export { DEFAULT_RETRY, startMailSender, type MailOutcome, type MailSender, type RetryPolicy } from './sender.ts';
export { describeFailure } from './transport.ts';

/** How often the sender looks for due messages (retries, and mail queued by other instances). */
export const MAIL_POLL_SECONDS = 10;

// One address, no display name: nothing that could add a recipient or a header line.
const RECIPIENT = /^[^\s@<>,;:"()[\]\\]+@[^\s@<>,;:"()[\]\\]+$/u;

export interface MailDeps {
  db: Database;
  secrets: Secrets;
  audit: Audit;
  i18n: I18n;
  config: MailConfig;
  clock?: () => Date;
  retry?: RetryPolicy;
}

export interface MailStatus {
  id: string;
  template: string;
  recipient: string;
  status: 'queued' | 'sent' | 'failed';
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  sentAt: Date | null;
  failedAt: Date | null;
}

/**
 * The outbox (`MailMessage`): `queue` renders a mail and stores it sealed under the
 * key-encryption keys, and returns; the sender (a background job) delivers it.
 */
export function createMail({ db, secrets, audit, i18n, config, clock = () => new Date(), retry = DEFAULT_RETRY }: MailDeps) {
  const render = createMailRenderer(i18n);
  const transport = createTransport(config);
  const listeners = new Set<() => void>();
  const sender = transport && createMailSender({ db, secrets, audit, transport, from: config.from, clock, retry });

  return {
    /** `smtp`, `files` (development without SMTP_URL) or `off`. */
    transport: config.transport,
    sender,

    /**
     * Renders `template` in `locale` for `recipient` and stores it for the sender; never waits
     * for a mail server. Mail must be on (see `requireMail`).
     */
    async queue(template: MailTemplate, recipient: string, params: MailParams, locale: Locale, actor: Actor = SYSTEM_ACTOR): Promise<{ id: string }> {
      requireMail({ mail: config }, 'sending mail');
      if (recipient.length > 254 || !RECIPIENT.test(recipient) || /\p{C}/u.test(recipient)) {
        throw fail('mail.recipient_invalid', 'the recipient is not a single email address', { field: 'recipient' });
      }
      const id = randomUUID();
      const content = await render(template, params, locale);
      const now = clock();
      await db.$transaction(async (tx) => {
        await tx.mailMessage.create({
          data: { id, template, recipient, contentEncrypted: secrets.seal(JSON.stringify(content), contentContext(id)), nextAttemptAt: now, createdAt: now },
        });
        await audit.change(actor, { type: 'mail.queued', details: { message: id, template, recipient, locale } }, tx);
      });
      for (const listener of listeners) listener();
      return { id };
    },

    /** Where a message stands; undefined for an unknown id. */
    async status(id: string): Promise<MailStatus | undefined> {
      const row = await db.mailMessage.findUnique({ where: { id } });
      if (!row) return undefined;
      const status = row.sentAt ? 'sent' : row.failedAt ? 'failed' : 'queued';
      const { template, recipient, attempts, lastError, nextAttemptAt, sentAt, failedAt } = row;
      return { id, template, recipient, status, attempts, lastError, nextAttemptAt, sentAt, failedAt };
    },

    /** Deletes every message to these addresses, sent or not (their person was deleted). */
    async forget(recipients: readonly string[]): Promise<void> {
      await db.mailMessage.deleteMany({ where: { recipient: { in: [...recipients] } } });
    },

    /** Called after each `queue` in this process (the sender starts at once instead of at its next poll). */
    onQueued(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    close: () => transport?.close(),
  };
}

export type Mail = ReturnType<typeof createMail>;
