import type { FastifyBaseLogger } from 'fastify';
import type { Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { describeFailure, type DeliveryFailure, type MailTransport } from './transport.ts';

export interface RetryPolicy {
  /** Seconds before the second attempt; each further wait doubles... */
  firstDelaySeconds: number;
  /** ...up to this long. */
  maxDelaySeconds: number;
  /** Attempts in all before a temporarily failing message is given up. */
  maxAttempts: number;
}

/** About four hours of retrying (1, 2, 4, ... minutes, then hourly): longer than greylisting or a mail server's restart. */
export const DEFAULT_RETRY: RetryPolicy = { firstDelaySeconds: 60, maxDelaySeconds: 3600, maxAttempts: 10 };
/** Longer than an attempt can take (the transport's timeouts), so no lease runs out during a send. */
const LEASE_SECONDS = 300;
const BATCH = 20;

export interface MailOutcome {
  id: string;
  template: string;
  status: 'sent' | 'retrying' | 'failed';
  attempts: number;
  /** Sent: the server's answer (or where the file went). Else why not. */
  response?: string;
  file?: string;
  reason?: string;
  nextAttemptAt?: Date;
}

interface Content {
  subject: string;
  text: string;
  html: string;
}

/** What seals a message's content: bound to its row, so a copied envelope opens nowhere else. */
export const contentContext = (id: string) => `mail-message:${id}`;

interface Row {
  id: string;
  template: string;
  recipient: string;
  contentEncrypted: string | null;
  attempts: number;
  createdAt: Date;
}

export interface SenderDeps {
  db: Database;
  secrets: Secrets;
  audit: Audit;
  transport: MailTransport;
  from: string;
  clock: () => Date;
  retry: RetryPolicy;
}

/**
 * Sends what the outbox holds. Each message is first claimed with a lease (a conditional
 * update only one instance can win), so several instances on one database send it once; a
 * lease left by a crashed instance runs out and the message is sent by another.
 */
export function createMailSender({ db, secrets, audit, transport, from, clock, retry }: SenderDeps) {
  const due = (now: Date) => ({
    sentAt: null,
    failedAt: null,
    nextAttemptAt: { lte: now },
    OR: [{ claimedUntil: null }, { claimedUntil: { lt: now } }],
  });

  async function claim(now: Date, only?: string): Promise<{ rows: Row[]; lease: Date }> {
    const lease = new Date(now.getTime() + LEASE_SECONDS * 1000);
    const candidates = await db.mailMessage.findMany({
      where: { ...due(now), ...(only ? { id: only } : {}) },
      orderBy: { nextAttemptAt: 'asc' },
      take: BATCH,
      select: { id: true },
    });
    const won: string[] = [];
    for (const { id } of candidates) {
      const { count } = await db.mailMessage.updateMany({ where: { id, ...due(now) }, data: { claimedUntil: lease } });
      if (count === 1) won.push(id);
    }
    const rows = won.length ? await db.mailMessage.findMany({ where: { id: { in: won } }, orderBy: { nextAttemptAt: 'asc' } }) : [];
    return { rows, lease };
  }

  const delaySeconds = (attempts: number) => Math.min(retry.firstDelaySeconds * 2 ** (attempts - 1), retry.maxDelaySeconds);

  function record(type: 'mail.sent' | 'mail.deferred' | 'mail.failed', row: Row, details: Record<string, string | number>) {
    void audit.record({
      type,
      outcome: type === 'mail.sent' ? 'success' : 'failure',
      actor: 'system',
      details: { message: row.id, template: row.template, recipient: row.recipient, ...details },
    });
  }

  async function sent(row: Row, lease: Date, response: string, file?: string): Promise<MailOutcome> {
    const attempts = row.attempts + 1;
    await db.mailMessage.updateMany({
      where: { id: row.id, claimedUntil: lease },
      data: { sentAt: clock(), contentEncrypted: null, claimedUntil: null, attempts, lastError: null },
    });
    record('mail.sent', row, { attempts });
    return { id: row.id, template: row.template, status: 'sent', attempts, response, ...(file ? { file } : {}) };
  }

  async function failed(row: Row, lease: Date, failure: DeliveryFailure, lastChance: boolean): Promise<MailOutcome> {
    const attempts = row.attempts + 1;
    const now = clock();
    const giveUp = failure.permanent || lastChance || attempts >= retry.maxAttempts;
    const nextAttemptAt = new Date(now.getTime() + delaySeconds(attempts) * 1000);
    await db.mailMessage.updateMany({
      where: { id: row.id, claimedUntil: lease },
      data: giveUp
        ? { failedAt: now, contentEncrypted: null, claimedUntil: null, attempts, lastError: failure.reason }
        : { nextAttemptAt, claimedUntil: null, attempts, lastError: failure.reason },
    });
    const kind = failure.permanent ? 'permanent' : 'temporary';
    record(giveUp ? 'mail.failed' : 'mail.deferred', row, { attempts, failure: kind, reason: failure.reason });
    const outcome = { id: row.id, template: row.template, attempts, reason: `${kind}: ${failure.reason}` };
    return giveUp ? { ...outcome, status: 'failed' } : { ...outcome, status: 'retrying', nextAttemptAt };
  }

  function open(row: Row): Content {
    if (!row.contentEncrypted) throw new Error('the message has no content');
    return JSON.parse(secrets.open(row.contentEncrypted, contentContext(row.id))) as Content;
  }

  async function attempt(row: Row, lease: Date, lastChance = false): Promise<MailOutcome> {
    let content: Content;
    try {
      content = open(row);
    } catch (error) {
      return failed(row, lease, { permanent: true, reason: `cannot read the stored message: ${(error as Error).message}` }, true);
    }
    try {
      const delivery = await transport.deliver({ id: row.id, from, to: row.recipient, date: row.createdAt, ...content });
      return await sent(row, lease, delivery.response, delivery.file);
    } catch (error) {
      return failed(row, lease, describeFailure(error), lastChance);
    }
  }

  return {
    batchSize: BATCH,
    /** Sends the messages that are due now (at most one batch), one after another. */
    async runOnce(): Promise<MailOutcome[]> {
      const { rows, lease } = await claim(clock());
      const outcomes: MailOutcome[] = [];
      for (const row of rows) outcomes.push(await attempt(row, lease));
      return outcomes;
    },
    /**
     * One attempt at this message now, its last: a failure of any kind fails it (`mail test`).
     * Undefined when another sender holds it or it is not waiting to be sent.
     */
    async sendNow(id: string): Promise<MailOutcome | undefined> {
      const { rows, lease } = await claim(clock(), id);
      return rows[0] && attempt(rows[0], lease, true);
    },
  };
}

export type MailSender = ReturnType<typeof createMailSender>;

/**
 * Runs the sender every `intervalSeconds`, and at once when a message is queued in this
 * process. One run at a time; a message queued during a run gets another run right after.
 */
export function startMailSender(
  sender: MailSender,
  onQueued: (listener: () => void) => () => void,
  intervalSeconds: number,
  log: FastifyBaseLogger,
) {
  let running: Promise<void> | undefined;
  let again = false;

  const report = (o: MailOutcome) => {
    const fields = { mail: o.id, template: o.template, attempts: o.attempts };
    if (o.status === 'sent') log.info(fields, 'mail sent');
    else if (o.status === 'retrying') log.warn({ ...fields, reason: o.reason, nextAttemptAt: o.nextAttemptAt }, 'mail not sent; will retry');
    else log.error({ ...fields, reason: o.reason }, 'mail not sent; given up');
  };

  async function drain(): Promise<void> {
    let outcomes: MailOutcome[];
    do {
      again = false;
      outcomes = await sender.runOnce();
      outcomes.forEach(report);
    } while (again || outcomes.length === sender.batchSize);
  }

  const run = () => {
    if (running) {
      again = true;
      return running;
    }
    running = drain()
      .catch((err) => log.error({ err }, 'mail sender failed'))
      .finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(run, intervalSeconds * 1000);
  timer.unref();
  const unsubscribe = onQueued(() => void run());
  return {
    run,
    async stop() {
      clearInterval(timer);
      unsubscribe();
      await running;
    },
  };
}
