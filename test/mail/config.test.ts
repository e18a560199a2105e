import { readdir, readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { mailLine } from '../../src/cli/commands/serve.ts';
import { ConfigError, loadConfig, requireMail } from '../../src/config/index.ts';
import { LOCALES, loadCatalogues } from '../../src/i18n/index.ts';
import { describeFailure, MAIL_TEMPLATES } from '../../src/mail/index.ts';
import { loggerOptions } from '../../src/observability/index.ts';

const PASSWORD = 's3cret-Pa55';

describe('SMTP_URL and MAIL_FROM', () => {
  it('reads smtp:// with STARTTLS when offered, port 587, and a percent-encoded login', () => {
    const { mail } = loadConfig({ SMTP_URL: `smtp://mailer%40example.com:${PASSWORD}%2F%3A@mail.example.com` });
    expect(mail).toMatchObject({ transport: 'smtp', smtp: { host: 'mail.example.com', port: 587, secure: false, requireTls: false, user: 'mailer@example.com', password: `${PASSWORD}/:` } });
  });

  it('reads ?tls=required, smtps:// (port 465), an explicit port and an IPv6 host', () => {
    expect(loadConfig({ SMTP_URL: 'smtp://mail.example.com:2525?tls=required' }).mail).toMatchObject({ smtp: { port: 2525, requireTls: true, secure: false, user: undefined } });
    expect(loadConfig({ SMTP_URL: 'smtps://u:p@mail.example.com' }).mail).toMatchObject({ smtp: { port: 465, secure: true } });
    expect(loadConfig({ SMTP_URL: 'smtp://[::1]:25' }).mail).toMatchObject({ smtp: { host: '::1', port: 25 } });
  });

  it.each([
    ['http://mail.example.com', /SMTP_URL: must start with smtp/],
    [`smtp://u:${PASSWORD}@mail.example.com?tls=maybe`, /SMTP_URL takes only the parameter tls=required/],
    [`smtp://u:${PASSWORD}@mail.example.com?starttls=true`, /SMTP_URL takes only/],
    [`smtp://u:${PASSWORD}@mail.example.com/inbox`, /SMTP_URL must not have a path/],
    [`smtp://u:${PASSWORD}@`, /SMTP_URL/],
  ])('refuses %s, naming the variable and not the password', (url, message) => {
    expect(() => loadConfig({ SMTP_URL: url })).toThrow(ConfigError);
    expect(() => loadConfig({ SMTP_URL: url })).toThrow(message);
    try {
      loadConfig({ SMTP_URL: url });
    } catch (error) {
      expect((error as Error).message).not.toContain(PASSWORD);
    }
  });

  it('sends from MAIL_FROM, by default from no-reply at the issuer host; refuses a malformed one', () => {
    expect(loadConfig({ ISSUER: 'https://id.example.com' }).mail.from).toBe('Ostiary <no-reply@id.example.com>');
    expect(loadConfig({ MAIL_FROM: 'Example ID <id@example.com>' }).mail.from).toBe('Example ID <id@example.com>');
    expect(loadConfig({ MAIL_FROM: 'id@example.com' }).mail.from).toBe('id@example.com');
    for (const bad of ['not an address', 'a@example.com, b@example.com', 'Name <a@example.com>\r\nBcc: b@example.com']) {
      expect(() => loadConfig({ MAIL_FROM: bad })).toThrow(/MAIL_FROM/);
    }
  });

  it('without SMTP_URL writes files outside production, and is off in production', () => {
    const development = loadConfig({ DATA_DIR: '/tmp/ostiary-x' }).mail;
    expect(development).toEqual({ from: 'Ostiary <no-reply@localhost>', transport: 'files', directory: '/tmp/ostiary-x/mail' });
    expect(loadConfig({ NODE_ENV: 'test' }).mail.transport).toBe('files');
    expect(loadConfig({ NODE_ENV: 'production' }).mail.transport).toBe('off');
    expect(loadConfig({ NODE_ENV: 'production', SMTP_URL: 'smtps://mail.example.com' }).mail.transport).toBe('smtp');
  });

  it('requireMail: a feature that needs mail refuses where mail is off, naming SMTP_URL', () => {
    expect(() => requireMail(loadConfig({ NODE_ENV: 'production' }), 'sign-up')).toThrow(ConfigError);
    expect(() => requireMail(loadConfig({ NODE_ENV: 'production' }), 'sign-up')).toThrow(/^sign-up sends mail: set SMTP_URL/);
    expect(() => requireMail(loadConfig({ NODE_ENV: 'production', SMTP_URL: 'smtps://mail.example.com' }), 'sign-up')).not.toThrow();
    expect(() => requireMail(loadConfig({ NODE_ENV: 'development' }), 'sign-up')).not.toThrow();
  });

  it('the start banner says where mail goes in one line, without the password', () => {
    const files = mailLine(loadConfig({ DATA_DIR: '/tmp/ostiary-x' }).mail);
    expect(files).toBe('not sent: written as .eml files to /tmp/ostiary-x/mail (SMTP_URL is not set)');
    const smtp = mailLine(loadConfig({ SMTP_URL: `smtp://u:${PASSWORD}@mail.example.com?tls=required`, MAIL_FROM: 'id@example.com' }).mail);
    expect(smtp).toBe('SMTP mail.example.com:587 (STARTTLS required), from id@example.com');
    expect(mailLine(loadConfig({ NODE_ENV: 'production' }).mail)).toBe('off (SMTP_URL is not set)');
  });

  it('keeps an SMTP password out of the logs when the URL is logged', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const log = pino(loggerOptions(loadConfig({})), sink);
    const url = `smtp://mailer:${PASSWORD}@mail.example.com:587?tls=required`;
    log.info({ smtpUrl: url }, `connecting to ${url}`);
    log.error({ err: new Error(`cannot reach smtps://mailer:${PASSWORD}@mail.example.com`) }, 'mail failed');
    const output = lines.join('');
    expect(output).toContain('smtp://mailer:[redacted]@mail.example.com:587');
    expect(output).toContain('smtps://mailer:[redacted]@mail.example.com');
    expect(output).not.toContain(PASSWORD);
  });
});

describe('delivery failures', () => {
  it.each([
    [{ code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 no such mailbox' }, true],
    [{ code: 'EMESSAGE', responseCode: 552, response: '552 message too large' }, true],
    [{ code: 'EENVELOPE', responseCode: 451, response: '451 4.7.1 greylisted' }, false],
    [{ code: 'EMESSAGE', responseCode: 421, response: '421 shutting down' }, false],
    [{ code: 'ECONNECTION', message: 'connect ECONNREFUSED 127.0.0.1:25' }, false],
    [{ code: 'ETIMEDOUT', message: 'Greeting never received' }, false],
    [{ code: 'ETLS', responseCode: 502, response: '502 5.5.2 command not recognized' }, false],
    [{ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 authentication failed' }, false],
    [{ code: 'EENVELOPE', message: 'No recipients defined' }, true],
  ])('%j is permanent: %s', (error: { code: string; responseCode?: number; response?: string; message?: string }, permanent) => {
    const failure = describeFailure(Object.assign(new Error(error.message ?? 'failed'), error));
    expect(failure.permanent).toBe(permanent);
    expect(failure.reason).toContain(error.code);
  });
});

describe('the mail catalogues', () => {
  const keys = (value: unknown, prefix = ''): string[] =>
    typeof value === 'object' && value !== null ? Object.entries(value).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k)) : [prefix];
  const catalogues = loadCatalogues();

  it('have every key, non-empty, in every locale', () => {
    const english = keys(catalogues.en.mail).sort();
    expect(english.length).toBeGreaterThan(3);
    for (const locale of LOCALES) {
      expect(keys(catalogues[locale].mail).sort(), locale).toEqual(english);
      for (const key of english) {
        const text = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], catalogues[locale].mail);
        expect(typeof text === 'string' && text.trim().length > 0, `${locale} mail:${key}`).toBe(true);
      }
    }
  });

  it('hold every key the mail templates use, and a subject for each template', async () => {
    const directory = new URL('../../views/mail/', import.meta.url);
    const english = new Set(keys(catalogues.en.mail));
    for (const file of await readdir(directory)) {
      const used = [...(await readFile(new URL(file, directory), 'utf8')).matchAll(/t\('mail:([\w.-]+)'/g)].map((m) => m[1]!);
      for (const key of used) expect(english.has(key), `${file}: mail:${key}`).toBe(true);
    }
    for (const template of MAIL_TEMPLATES) {
      expect(english.has(`${template}.subject`), template).toBe(true);
      const files = await readdir(directory);
      expect(files).toEqual(expect.arrayContaining([`${template}.txt.eta`, `${template}.html.eta`]));
    }
  });
});
