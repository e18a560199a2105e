import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.ts';
import { DEFAULT_RETRY } from '../../src/mail/index.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually, mailServices, startSmtp, testClock, type TestSmtp } from './support.ts';

const FROM = 'Ostiary Test <id@example.com>';

/** The audit events of one message, oldest first. */
async function eventsOf(services: Services, id: string) {
  const events = await services.audit.list({ limit: 1000 });
  return events
    .filter((e) => (e.details as { message?: string } | null)?.message === id)
    .reverse()
    .map((e) => ({ type: e.type, outcome: e.outcome, actor: e.actor, details: e.details as Record<string, unknown> }));
}

const rowOf = async (services: Services, id: string) =>
  (await services.db.$queryRawUnsafe<Record<string, unknown>[]>(`SELECT * FROM "MailMessage" WHERE id = '${id}'`))[0]!;

describe.each(DATABASES)('mail through a running server (%s)', (kind) => {
  let smtp: TestSmtp;
  let server: TestServer;
  beforeAll(async () => {
    // A login with characters that must be percent-encoded in SMTP_URL.
    smtp = await startSmtp({ login: { user: 'mailer', password: 'p@ss:w/rd%' } });
    server = await startTestServer(kind, { SMTP_URL: smtp.url(), MAIL_FROM: FROM });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  it.each([
    ['en', 'Test message from Ostiary', 'If you can read it, Ostiary can send mail', 'Replies to it are not read.'],
    ['de', 'Testnachricht von Ostiary', 'Wenn Sie sie lesen können, kann Ostiary', 'Antworten darauf werden nicht gelesen.'],
  ] as const)('delivers a queued mail in %s with a text and an HTML part, from MAIL_FROM to the recipient', async (locale, subject, body, footer) => {
    const recipient = `reader-${locale}@example.com`;
    const { id } = await server.services.mail.queue('test', recipient, {}, locale, TEST_ACTOR);
    const [mail] = await eventually(() => (smtp.to(recipient).length ? smtp.to(recipient) : undefined), `the mail to ${recipient}`);

    expect(smtp.to(recipient)).toHaveLength(1);
    expect(mail!.envelope).toEqual({ from: 'id@example.com', to: [recipient] });
    const { parsed } = mail!;
    expect(parsed.from?.value).toEqual([{ address: 'id@example.com', name: 'Ostiary Test' }]);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value : undefined).toEqual([{ address: recipient, name: '' }]);
    expect(parsed.subject).toBe(subject);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
    expect(parsed.text).toContain(body);
    expect(parsed.text).toContain(footer);
    expect(parsed.text).not.toMatch(/<[a-z]/i);
    expect(parsed.html).toContain(`<html lang="${locale}">`);
    expect(parsed.html).toContain(body);
    expect(parsed.html).toContain(`<title>${subject}</title>`);

    const status = await eventually(async () => {
      const s = await server.services.mail.status(id);
      return s?.status === 'sent' ? s : undefined;
    }, 'the message marked sent');
    expect(status).toMatchObject({ attempts: 1, lastError: null, recipient, template: 'test' });
    expect((await eventsOf(server.services, id)).map((e) => [e.type, e.actor])).toEqual([
      ['mail.queued', TEST_ACTOR.id],
      ['mail.sent', 'system'],
    ]);
  });

  it('queues without waiting for the mail server, keeps the content sealed at rest, and deletes it once sent', async () => {
    const gate = smtp.hold();
    const recipient = 'sealed@example.com';
    // Were `queue` to wait for the delivery, it would wait on the held server and this test would time out.
    const { id } = await server.services.mail.queue('test', recipient, {}, 'en');
    await gate.held;

    const waiting = await rowOf(server.services, id);
    expect(waiting.recipient).toBe(recipient);
    expect(String(waiting.contentEncrypted)).toMatch(/^v1\./);
    const stored = JSON.stringify(waiting);
    for (const text of ['If you can read it', 'Test message from', 'Replies to it', '<html', 'Ostiary']) expect(stored).not.toContain(text);
    expect((await server.services.mail.status(id))?.status).toBe('queued');

    gate.release();
    await eventually(async () => ((await server.services.mail.status(id))?.status === 'sent' ? true : undefined), 'the message marked sent');
    const sent = await rowOf(server.services, id);
    expect(sent.contentEncrypted).toBeNull();
    expect(sent.sentAt).not.toBeNull();
    expect(smtp.to(recipient)).toHaveLength(1);
  });

  it('refuses a recipient that is not one plain address, storing nothing', async () => {
    const before = await server.services.db.mailMessage.count();
    for (const bad of ['two@example.com, three@example.com', 'Name <x@example.com>', 'x@example.com\r\nBcc: y@example.com', 'no-at-sign', `${'a'.repeat(250)}@example.com`]) {
      await expect(server.services.mail.queue('test', bad, {}, 'en')).rejects.toMatchObject({ code: 'mail.recipient_invalid' });
    }
    expect(await server.services.db.mailMessage.count()).toBe(before);
  });
});

describe.each(DATABASES)('the outbox: retries and failures (%s)', (kind) => {
  let database: TestDatabase;
  let smtp: TestSmtp;
  let services: Services;
  const clock = testClock();

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    smtp = await startSmtp({
      afterData: (to, attempt) => (to.startsWith('greylisted') && attempt <= 2 ? { code: 451, message: '4.7.1 greylisted, try again later' } : undefined),
      refuseRecipient: (to) => (to.startsWith('unknown') ? { code: 550, message: '5.1.1 no such mailbox' } : undefined),
    });
    services = await mailServices(database, { SMTP_URL: smtp.url(), MAIL_FROM: FROM }, clock.now);
  });
  afterAll(async () => {
    await services?.close();
    await smtp?.close();
    await database?.drop();
  });

  it('retries a 451 answer with a doubling delay, then delivers', async () => {
    const sender = services.mail.sender!;
    const { id } = await services.mail.queue('test', 'greylisted@example.com', {}, 'en');

    const [first] = await sender.runOnce();
    expect(first).toMatchObject({ id, status: 'retrying', attempts: 1 });
    expect(first!.reason).toMatch(/^temporary: .*451/);
    expect(first!.nextAttemptAt!.getTime() - clock.now().getTime()).toBeGreaterThan(55_000);
    expect(await sender.runOnce()).toEqual([]); // not due yet

    clock.advance(DEFAULT_RETRY.firstDelaySeconds + 1);
    expect(await sender.runOnce()).toMatchObject([{ id, status: 'retrying', attempts: 2 }]);
    clock.advance(DEFAULT_RETRY.firstDelaySeconds + 1);
    expect(await sender.runOnce()).toEqual([]); // the second wait is twice as long
    clock.advance(DEFAULT_RETRY.firstDelaySeconds);
    expect(await sender.runOnce()).toMatchObject([{ id, status: 'sent', attempts: 3 }]);

    expect(smtp.attempts.get('greylisted@example.com')).toBe(3);
    expect(smtp.to('greylisted@example.com')).toHaveLength(1);
    expect((await services.mail.status(id))?.status).toBe('sent');
    const events = await eventsOf(services, id);
    expect(events.map((e) => e.type)).toEqual(['mail.queued', 'mail.deferred', 'mail.deferred', 'mail.sent']);
    expect(events[1]!.details).toMatchObject({ attempts: 1, failure: 'temporary', recipient: 'greylisted@example.com' });
    expect(String(events[1]!.details.reason)).toContain('451');
  });

  it('fails a 550 answer at once, audits it, and never retries it', async () => {
    const { id } = await services.mail.queue('test', 'unknown@example.com', {}, 'en');
    expect(await services.mail.sender!.runOnce()).toMatchObject([{ id, status: 'failed', attempts: 1 }]);

    const row = await rowOf(services, id);
    expect(row.contentEncrypted).toBeNull();
    expect(row.failedAt).not.toBeNull();
    expect(String(row.lastError)).toContain('550');
    const failed = (await eventsOf(services, id)).find((e) => e.type === 'mail.failed');
    expect(failed).toMatchObject({ outcome: 'failure', actor: 'system', details: { failure: 'permanent', attempts: 1, recipient: 'unknown@example.com' } });
    expect(JSON.stringify(failed)).not.toContain('If you can read it');

    clock.advance(DEFAULT_RETRY.maxDelaySeconds * 2);
    expect(await services.mail.sender!.runOnce()).toEqual([]);
    expect(smtp.to('unknown@example.com')).toHaveLength(0);
  });

  it('with ?tls=required, sends nothing to a server without STARTTLS: retried as temporary, then given up', async () => {
    const strict = await mailServices(database, { SMTP_URL: smtp.url('tls=required'), MAIL_FROM: FROM }, clock.now);
    try {
      const { id } = await strict.mail.queue('test', 'tls@example.com', {}, 'en');
      const [first] = await strict.mail.sender!.runOnce();
      expect(first).toMatchObject({ id, status: 'retrying', attempts: 1 });
      expect(first!.reason).toMatch(/^temporary: ETLS/);

      let last = first!;
      while (last.status === 'retrying') {
        clock.advance(DEFAULT_RETRY.maxDelaySeconds + 1);
        const [next] = await strict.mail.sender!.runOnce();
        expect(next).toBeDefined();
        last = next!;
      }
      expect(last).toMatchObject({ id, status: 'failed', attempts: DEFAULT_RETRY.maxAttempts });
      // The message never reached the server's DATA stage, so no byte of it went out in plaintext.
      expect(smtp.attempts.has('tls@example.com')).toBe(false);
      expect(smtp.to('tls@example.com')).toHaveLength(0);
      const events = await eventsOf(strict, id);
      expect(events.filter((e) => e.type === 'mail.deferred')).toHaveLength(DEFAULT_RETRY.maxAttempts - 1);
      expect(events.at(-1)).toMatchObject({ type: 'mail.failed', details: { failure: 'temporary', attempts: DEFAULT_RETRY.maxAttempts } });
      expect((await rowOf(strict, id)).contentEncrypted).toBeNull();
    } finally {
      await strict.close();
    }
  });
});
