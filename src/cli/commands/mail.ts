import { requireMail } from '../../config/index.ts';
import { invalidInput } from '../../errors.ts';
import { isLocale, LOCALES } from '../../i18n/index.ts';
import type { Mail, MailOutcome } from '../../mail/index.ts';
import type { CommandContext } from '../context.ts';
import { parse, required, type Output } from '../io.ts';

/** A running server's sender may take the message first: its attempt is bounded by the transport's timeouts. */
const WAIT_MS = 150_000;

/** The outcome of the attempt another sender made, read from the outbox. */
async function awaitOutcome(mail: Mail, id: string): Promise<MailOutcome | undefined> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const status = await mail.status(id);
    if (!status) return undefined;
    const reason = status.lastError ?? undefined;
    if (status.status === 'sent') return { id, template: status.template, status: 'sent', attempts: status.attempts };
    if (status.status === 'failed') return { id, template: status.template, status: 'failed', attempts: status.attempts, reason };
    if (status.attempts > 0) return { id, template: status.template, status: 'retrying', attempts: status.attempts, reason, nextAttemptAt: status.nextAttemptAt };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

const describe = (o: MailOutcome, to: string) =>
  o.status === 'sent'
    ? o.file
      ? `written to ${o.file} (SMTP_URL is not set)`
      : `sent to ${to}: ${o.response ?? 'accepted'}`
    : o.status === 'retrying'
      ? `not sent yet (${o.reason}); the server retries it at ${o.nextAttemptAt?.toISOString()}`
      : `not sent: ${o.reason}`;

/**
 * `ostiary mail test --to ADDRESS`: queues a test message and makes one attempt at once, so the
 * operator sees the mail server's answer (a failure of any kind ends the test message).
 */
export async function mailCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  if (verb !== 'test') throw invalidInput('usage: ostiary mail test --to ADDRESS [--locale en|de|fr]');
  const { values } = parse(args, { to: { type: 'string' }, locale: { type: 'string' } });
  const to = required(values.to, '--to');
  const locale = values.locale ?? 'en';
  if (!isLocale(locale)) throw invalidInput(`--locale must be one of ${LOCALES.join(', ')}`);
  requireMail(ctx.config, 'mail test');
  const { mail } = await ctx.services();
  const { id } = await mail.queue('test', to, {}, locale, ctx.actor);
  out.log(`queued test message ${id} to ${to}; sending`);
  const outcome = (await mail.sender!.sendNow(id)) ?? (await awaitOutcome(mail, id));
  if (!outcome) throw new Error(`test message ${id} is still waiting to be sent: is the sender of a running server stuck?`);
  const json = {
    id,
    to,
    status: outcome.status,
    attempts: outcome.attempts,
    ...(outcome.response ? { response: outcome.response } : {}),
    ...(outcome.file ? { file: outcome.file } : {}),
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    ...(outcome.nextAttemptAt ? { next_attempt_at: outcome.nextAttemptAt.toISOString() } : {}),
  };
  out.result(json, () => describe(outcome, to));
  if (outcome.status !== 'sent') throw new Error('the test message was not sent');
}
