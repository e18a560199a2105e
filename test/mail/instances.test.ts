import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';
import { mailServices, startSmtp, type TestSmtp } from './support.ts';

const MESSAGES = 12;

describe.skipIf(!DATABASES.includes('postgresql'))('two senders on one PostgreSQL database', () => {
  let database: TestDatabase;
  let smtp: TestSmtp;
  let a: Services;
  let b: Services;
  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    smtp = await startSmtp();
    a = await mailServices(database, { SMTP_URL: smtp.url() });
    b = await mailServices(database, { SMTP_URL: smtp.url() });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await smtp?.close();
    await database?.drop();
  });

  it('send each message once when both run at the same time', async () => {
    const recipients = Array.from({ length: MESSAGES }, (_, i) => `reader-${i}@example.com`);
    for (const [i, to] of recipients.entries()) await (i % 2 ? a : b).mail.queue('test', to, {}, 'en');

    // Both look for due messages at once, several times over, while the other is sending.
    const rounds = await Promise.all([a, b, a, b].map((s) => s.mail.sender!.runOnce()));
    const outcomes = rounds.flat();

    expect(outcomes.filter((o) => o.status === 'sent')).toHaveLength(MESSAGES);
    expect(new Set(outcomes.map((o) => o.id)).size).toBe(MESSAGES);
    for (const to of recipients) expect(smtp.to(to), to).toHaveLength(1);
    expect(smtp.accepted).toHaveLength(MESSAGES);
    expect(await a.db.mailMessage.count({ where: { sentAt: null } })).toBe(0);
  });
});
