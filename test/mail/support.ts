import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { loadConfig } from '../../src/config/index.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { TestDatabase } from '../support/databases.ts';

/** An answer the test server gives instead of accepting: `451` (try later), `550` (refused). */
export interface Refusal {
  code: number;
  message: string;
}

export interface SmtpOptions {
  /** Decides, per attempt to deliver to this recipient (1, 2, ...), whether to refuse after the data. */
  afterData?: (recipient: string, attempt: number) => Refusal | undefined;
  /** Refuses these recipients at RCPT TO. */
  refuseRecipient?: (recipient: string) => Refusal | undefined;
  /** The login it requires, when set. */
  login?: { user: string; password: string };
}

export interface CapturedMail {
  envelope: { from: string; to: string[] };
  parsed: ParsedMail;
}

/** A real SMTP server on a free loopback port (no STARTTLS), keeping every message it accepted. */
export interface TestSmtp {
  port: number;
  /** `smtp://127.0.0.1:port`, with the login when the server requires one, and `query`. */
  url(query?: string): string;
  accepted: CapturedMail[];
  /** Delivery attempts (DATA commands) per recipient, accepted or not. */
  attempts: Map<string, number>;
  /** Holds every DATA answer until `release()`; `held` resolves when one is waiting. */
  hold(): { held: Promise<void>; release(): void };
  to(recipient: string): CapturedMail[];
  close(): Promise<void>;
}

const refusal = ({ code, message }: Refusal) => Object.assign(new Error(message), { responseCode: code });
const addressOf = (a: SMTPServerAddress) => a.address;

export async function startSmtp(options: SmtpOptions = {}): Promise<TestSmtp> {
  const accepted: CapturedMail[] = [];
  const attempts = new Map<string, number>();
  let gate: { reached: () => void; open: Promise<void> } | undefined;

  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: !options.login,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const ok = options.login && auth.username === options.login.user && auth.password === options.login.password;
      callback(ok ? null : refusal({ code: 535, message: 'authentication failed' }), ok ? { user: auth.username } : undefined);
    },
    onRcptTo(address, _session, callback) {
      const refused = options.refuseRecipient?.(address.address);
      callback(refused ? refusal(refused) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        void (async () => {
          const to = session.envelope.rcptTo.map(addressOf);
          const attempt = (attempts.get(to[0]!) ?? 0) + 1;
          attempts.set(to[0]!, attempt);
          if (gate) {
            gate.reached();
            await gate.open;
          }
          const refused = options.afterData?.(to[0]!, attempt);
          if (refused) return callback(refusal(refused));
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          accepted.push({ envelope: { from, to }, parsed: await simpleParser(Buffer.concat(chunks)) });
          callback(null, 'queued as test');
        })();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port));
  });
  const login = options.login ? `${encodeURIComponent(options.login.user)}:${encodeURIComponent(options.login.password)}@` : '';

  return {
    port,
    url: (query) => `smtp://${login}127.0.0.1:${port}${query ? `?${query}` : ''}`,
    accepted,
    attempts,
    hold() {
      let reached!: () => void;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (reached = resolve));
      gate = { reached, open: new Promise<void>((resolve) => (release = resolve)) };
      return {
        held,
        release: () => {
          gate = undefined;
          release();
        },
      };
    },
    to: (recipient) => accepted.filter((m) => m.envelope.to.includes(recipient)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A clock the test moves forward: retries become due without waiting for them. */
export function testClock() {
  let offsetMs = 0;
  return {
    now: () => new Date(Date.now() + offsetMs),
    advance(seconds: number) {
      offsetMs += seconds * 1000;
    },
  };
}

const quiet = { info: () => {}, warn: () => {} };

/** The services on `database`, as the server builds them, configured by `env`; no background job runs. */
export async function mailServices(database: TestDatabase, env: Record<string, string>, clock?: () => Date): Promise<Services> {
  const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env });
  return createServices(config, quiet, { migrate: true, clock });
}

/** Polls until `check` holds (a message arrives, a row changes), failing after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
