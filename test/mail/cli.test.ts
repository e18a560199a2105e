import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcess } from '../support/cli.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';
import { startSmtp, type TestSmtp } from './support.ts';

describe.each(DATABASES)('ostiary mail test (%s)', (kind) => {
  let database: TestDatabase;
  let smtp: TestSmtp;
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    smtp = await startSmtp({ refuseRecipient: (to) => (to.startsWith('unknown') ? { code: 550, message: '5.1.1 no such mailbox' } : undefined) });
    env = { DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    await smtp?.close();
    await database?.drop();
  });

  it('without SMTP_URL in development, writes the mail as an .eml file under DATA_DIR/mail/', async () => {
    const run = await inProcess(['mail', 'test', '--to', 'dev@example.com', '--json'], { ...env, NODE_ENV: 'development' });
    expect(run.stderr).not.toContain('error');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { status: string; file: string; to: string };
    expect(result).toMatchObject({ status: 'sent', to: 'dev@example.com' });

    const directory = join(database.dataDir, 'mail');
    const files = await readdir(directory);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\.eml$/);
    expect(result.file).toBe(join(directory, files[0]!));
    expect((await stat(result.file)).mode & 0o777).toBe(0o600);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    const parsed = await simpleParser(await readFile(result.file));
    expect(parsed.subject).toBe('Test message from Ostiary');
    expect(parsed.from?.value[0]?.address).toBe('no-reply@localhost');
    expect(parsed.text).toContain('If you can read it');
    expect(parsed.html).toContain('<html lang="en">');
  });

  it('through SMTP_URL, sends at once and prints the server\'s answer, in the language asked for', async () => {
    const run = await inProcess(['mail', 'test', '--to', 'ops@example.com', '--locale', 'de'], { ...env, SMTP_URL: smtp.url() });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^sent to ops@example\.com: 250 .*queued as test/);
    expect(smtp.to('ops@example.com').map((m) => m.parsed.subject)).toEqual(['Testnachricht von Ostiary']);
  });

  it('reports a refusal with the server\'s answer and exits 1; the test mail is not retried', async () => {
    const run = await inProcess(['mail', 'test', '--to', 'unknown@example.com', '--json'], { ...env, SMTP_URL: smtp.url() });
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout) as { status: string; reason: string; attempts: number };
    expect(result).toMatchObject({ status: 'failed', attempts: 1 });
    expect(result.reason).toMatch(/^permanent: .*550 5\.1\.1 no such mailbox/);
    expect(run.stderr).toContain('error: the test message was not sent');
  });

  it('refuses in production without SMTP_URL, naming the variable', async () => {
    const run = await inProcess(['mail', 'test', '--to', 'ops@example.com'], { ...env, NODE_ENV: 'production' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/configuration error: mail test sends mail: set SMTP_URL/);
  });

  it('refuses a bad address and a missing --to', async () => {
    const bad = await inProcess(['mail', 'test', '--to', 'not an address'], { ...env, SMTP_URL: smtp.url() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the recipient is not a single email address');
    const missing = await inProcess(['mail', 'test'], { ...env, SMTP_URL: smtp.url() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--to is required');
  });
});
