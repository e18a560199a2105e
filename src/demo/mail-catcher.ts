#!/usr/bin/env node
/**
 * `npm run mail-catcher`: a local SMTP server for trying mail out (sign-up, verification,
 * password reset) without a real one. It accepts every message on 127.0.0.1 and prints its
 * recipients, subject and plain-text part (where the links are); nothing is stored or relayed.
 * Point Ostiary at it with SMTP_URL=smtp://127.0.0.1:1025.
 */
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const value = process.env.MAIL_CATCHER_PORT || '1025';
const port = Number(value);
if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) {
  console.error(`MAIL_CATCHER_PORT: must be a port number, not ${value}`);
  process.exit(1);
}

const server = new SMTPServer({
  // Loopback only, so plain SMTP: there is nobody on the wire to hide from.
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 1024 * 1024,
  async onData(stream, session, callback) {
    try {
      const mail = await simpleParser(stream);
      const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
      console.log(`\n--- mail to ${to}: ${mail.subject ?? '(no subject)'}\n${(mail.text ?? '').trim()}\n---`);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  },
});

server.on('error', (error) => console.error(`mail catcher: ${error.message}`));
server.listen(port, '127.0.0.1', () => {
  console.log(`mail catcher listening on smtp://127.0.0.1:${port} (start Ostiary with SMTP_URL=smtp://127.0.0.1:${port}); Ctrl-C stops it`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
