import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { MailConfig, SmtpSettings } from '../config/index.ts';

export interface OutgoingMail {
  id: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  date: Date;
}

export interface Delivery {
  /** The SMTP server's last answer, or where the file went. */
  response: string;
  /** The `.eml` file written, without SMTP. */
  file?: string;
}

export interface MailTransport {
  deliver(mail: OutgoingMail): Promise<Delivery>;
  close(): void;
}

export interface DeliveryFailure {
  /** A permanent failure is not retried (a 5xx answer about the message or its recipient). */
  permanent: boolean;
  /** For the log, the audit trail and the outbox row: codes and the server's answer, never content or credentials. */
  reason: string;
}

// Failures of the connection rather than of the message: the next attempt may find the server
// (or its TLS, or the credentials) fixed, whatever code the server answered.
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EAUTH', 'ENOAUTH']);
const REFUSED_BY_MAILER = new Set(['EENVELOPE', 'EMESSAGE', 'ECONFIG', 'ESTREAM', 'EFILEACCESS', 'EURLACCESS']);

/** Sorts a nodemailer error into temporary (4xx answers, connection, TLS and login failures) or permanent (other 5xx answers). */
export function describeFailure(error: unknown): DeliveryFailure {
  const { code, responseCode, response, message } = error as { code?: string; responseCode?: number; response?: string; message?: string };
  const answer = (response ?? message ?? String(error)).replace(/\s+/g, ' ').trim().slice(0, 300);
  const reason = [code, answer].filter(Boolean).join(': ');
  if (code && CONNECTION_CODES.has(code)) return { permanent: false, reason };
  if (typeof responseCode === 'number') return { permanent: responseCode >= 500, reason };
  // Refused by the mailer itself, before any server saw it: the same message fails the same way.
  return { permanent: code !== undefined && REFUSED_BY_MAILER.has(code), reason };
}

const message = (mail: OutgoingMail) => ({
  from: mail.from,
  to: mail.to,
  subject: mail.subject,
  text: mail.text,
  html: mail.html,
  date: mail.date,
  headers: { 'Auto-Submitted': 'auto-generated' },
});

// The content is ours, but nothing in a message may make the mailer read a file or fetch a URL.
const SAFE = { disableFileAccess: true, disableUrlAccess: true } as const;

function smtpTransport(smtp: SmtpSettings): MailTransport {
  const transport = nodemailer.createTransport({
    ...SAFE,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTls,
    auth: smtp.user === undefined ? undefined : { user: smtp.user, pass: smtp.password ?? '' },
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
    logger: false,
  });
  return {
    async deliver(mail) {
      const info = await transport.sendMail(message(mail));
      return { response: info.response };
    },
    close: () => transport.close(),
  };
}

/** Development without SMTP_URL: each mail as an `.eml` file, readable only by the owner like the rest of DATA_DIR. */
function fileTransport(directory: string): MailTransport {
  const transport = nodemailer.createTransport({ ...SAFE, streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async deliver(mail) {
      const info = await transport.sendMail(message(mail));
      await mkdir(directory, { recursive: true, mode: 0o700 });
      if ((await stat(directory)).mode & 0o077) await chmod(directory, 0o700);
      const file = join(directory, `${mail.date.toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
      await writeFile(file, info.message, { mode: 0o600, flag: 'wx' });
      return { response: `written to ${file}`, file };
    },
    close: () => transport.close(),
  };
}

export function createTransport(config: MailConfig): MailTransport | undefined {
  if (config.transport === 'smtp') return smtpTransport(config.smtp);
  if (config.transport === 'files') return fileTransport(config.directory);
  return undefined;
}
