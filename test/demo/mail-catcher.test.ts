import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { ADA } from '../support/fixtures.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { UserAgent } from '../support/user-agent.ts';
import { eventually } from '../mail/support.ts';

const CATCHER = new URL('../../src/demo/mail-catcher.ts', import.meta.url).pathname;

// The README's sign-up walkthrough sends mail to `npm run mail-catcher`: a real mail gets there.
describe('npm run mail-catcher', () => {
  let catcher: ChildProcess;
  let server: TestServer;
  let output = '';

  beforeAll(async () => {
    const port = await freePort();
    catcher = spawn(process.execPath, [CATCHER], { env: { PATH: process.env.PATH ?? '', MAIL_CATCHER_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    catcher.stdout!.on('data', (d) => (output += d));
    catcher.stderr!.on('data', (d) => (output += d));
    await eventually(() => output.includes('mail catcher listening') || undefined, 'the mail catcher to listen');
    server = await startTestServer('sqlite', { SMTP_URL: `smtp://127.0.0.1:${port}` });
    await server.services.users.create(ADA, TEST_ACTOR);
  });
  afterAll(async () => {
    await server?.stop();
    catcher?.kill('SIGTERM');
  });

  it('prints a mail Ostiary sends through it, with its link', async () => {
    const agent = new UserAgent();
    const url = `${server.issuer}/account/password/reset`;
    const page = await agent.follow(url, 'about:none');
    await agent.submit(url, page.body!, /<form method="post" action="([^"]+)"/, { email: ADA.email }, 'about:none');
    await eventually(() => output.includes('Reset your Ostiary password') || undefined, 'the mail in the catcher’s output');
    expect(output).toContain(`--- mail to ${ADA.email}: Reset your Ostiary password`);
    expect(output).toMatch(new RegExp(`${server.issuer}/account/password/reset/[A-Za-z0-9_-]{43}`));
  });
});
