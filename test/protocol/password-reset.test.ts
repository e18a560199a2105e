import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { codeFlow, REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { CONSENT_FORM, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';
import { eventually, startSmtp, testClock, type TestSmtp } from '../mail/support.ts';

const NEW_PASSWORD = 'a brand new passphrase';
const BOB = { email: 'bob@example.com', password: 'bobs original passphrase' };
const RESET_FORM = /<form method="post" action="(\/account\/password\/reset[^"]*)"/;

describe.each(DATABASES)('password reset by a mailed link (%s)', (kind) => {
  let smtp: TestSmtp;
  let server: TestServer;
  let web: Credentials;
  const clock = testClock();

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer(kind, { SMTP_URL: smtp.url(), RATE_LIMIT_PASSWORD_RESET_PER_IP: '10', RATE_LIMIT_PASSWORD_RESET_PER_ACCOUNT: '3' }, { clock: clock.now });
    await server.services.users.create(ADA, TEST_ACTOR);
    await server.services.users.create(BOB, TEST_ACTOR);
    web = await createWebClient(server);
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  const resetUrl = (path = '') => `${server.issuer}/account/password/reset${path}`;

  /** Opens the reset page in `agent` and asks for a link for `email`. */
  async function requestReset(agent: UserAgent, email: string) {
    const page = await agent.follow(resetUrl(), REDIRECT);
    expect(page.response!.status).toBe(200);
    return agent.submit(page.url, page.body!, RESET_FORM, { email }, REDIRECT);
  }

  /** The `n`th mail to `email` (0-based) once it arrives, and the first link under the issuer in its text part. */
  async function mailTo(email: string, n = 0) {
    const mail = await eventually(() => smtp.to(email)[n], `mail ${n} to ${email}`);
    const link = mail.parsed.text?.match(/https?:\/\/\S+/g)?.find((url) => url.startsWith(`${server.issuer}/`));
    return { mail, link };
  }

  /** Signs in at the login form of a new authorization request; returns the status the form answered. */
  async function loginStatus(agent: UserAgent, password: string) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const page = await agent.follow((await startFlow(rp)).url, REDIRECT);
    expect(page.body).toMatch(LOGIN_FORM);
    const answer = await agent.submit(page.url, page.body!, LOGIN_FORM, { email: ADA.email, password }, REDIRECT);
    return { status: answer.response?.status ?? 303, body: answer.body ?? '' };
  }

  it('mails a link that sets a new password once; the old password, sessions and refresh tokens stop working', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const signedIn = new UserAgent();
    const { tokens } = await codeFlow(rp, ADA, { agent: signedIn });
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const loginPage = await signedIn.follow((await startFlow(rp, { prompt: 'login' })).url, REDIRECT);
    expect(loginPage.body).toContain('<a href="/account/password/reset">Forgot your password?</a>');

    const browser = new UserAgent();
    const sent = await requestReset(browser, ADA.email);
    expect(sent.response!.status).toBe(200);
    expect(sent.body).toContain('Check your mail');

    const { mail, link } = await mailTo(ADA.email);
    expect(mail.parsed.subject).toBe('Reset your Ostiary password');
    expect(link).toMatch(new RegExp(`^${server.issuer}/account/password/reset/[A-Za-z0-9_-]{43}$`));
    expect(mail.parsed.html).toContain(`href="${link}"`);

    const form = await browser.follow(link!, REDIRECT);
    expect(form.response!.status).toBe(200);
    expect(form.body).toContain('name="password"');
    const done = await browser.submit(form.url, form.body!, RESET_FORM, { password: NEW_PASSWORD }, REDIRECT);
    expect(done.response!.status).toBe(200);
    expect(done.body).toContain('Your password was changed');
    expect(done.body).toContain('You were signed out everywhere.');

    const notice = await mailTo(ADA.email, 1);
    expect(notice.mail.parsed.subject).toBe('Your Ostiary password was changed');

    // The old refresh token is refused, and the old session is gone: the login form comes back.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const old = await loginStatus(signedIn, ADA.password);
    expect(old.status).toBe(401);
    expect(old.body).toContain('Invalid email or password.');
    // The new one is taken: the next step, consent (the grant went with the reset), is shown.
    const accepted = await loginStatus(new UserAgent(), NEW_PASSWORD);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatch(CONSENT_FORM);
    const fresh = await codeFlow(rp, { email: ADA.email, password: NEW_PASSWORD });
    expect(fresh.tokens.access_token).toEqual(expect.any(String));

    const [reset] = await server.services.audit.list({ type: 'user.password_reset' });
    expect(reset).toMatchObject({ subject: expect.any(String), actor: 'anonymous' });

    // The link again: a page that says so, and nothing changes.
    const again = await browser.follow(link!, REDIRECT);
    expect(again.response!.status).toBe(410);
    expect(again.body).toContain('was used already');
    expect(again.body).not.toContain('name="password"');
    const csrf = form.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const reused = await browser.request(link!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, password: 'yet another passphrase' }),
    });
    expect(reused.status).toBe(410);
    expect(await reused.text()).toContain('was used already');
    expect((await server.services.users.authenticate(ADA.email, NEW_PASSWORD)).ok).toBe(true);
  });

  it('answers an unknown address exactly as a known one, and mails nothing', async () => {
    const unknown = 'nobody-here@example.com';
    const answers = [];
    for (const email of [unknown, BOB.email]) {
      const answer = await requestReset(new UserAgent(), email);
      answers.push({ status: answer.response!.status, body: answer.body });
    }
    expect(answers[0]).toEqual(answers[1]);
    await mailTo(BOB.email);
    expect(smtp.to(unknown)).toEqual([]);
    expect(await server.services.db.mailMessage.count({ where: { recipient: unknown } })).toBe(0);
    const events = await server.services.audit.list({ type: 'user.password_reset_requested' });
    expect(events.map((e) => (e.details as { outcome: string }).outcome)).toEqual(expect.arrayContaining(['unknown_email', 'mailed']));
  });

  it('refuses forms without their CSRF token, changing nothing', async () => {
    const browser = new UserAgent();
    const page = await browser.follow(resetUrl(), REDIRECT);
    const before = await server.services.db.oneTimeToken.count();
    const post = (url: string, fields: Record<string, string>, agent = browser) =>
      agent.request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
    expect((await post(resetUrl(), { email: BOB.email })).status).toBe(403);
    // A token from another browser's page does not fit this browser's cookie.
    const csrf = page.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    expect((await post(resetUrl(), { email: BOB.email, csrf }, new UserAgent())).status).toBe(403);
    expect(await server.services.db.oneTimeToken.count()).toBe(before);

    const { link } = await mailTo(BOB.email);
    expect((await post(link!, { password: 'a password nobody asked for' })).status).toBe(403);
    expect((await server.services.users.authenticate(BOB.email, BOB.password)).ok).toBe(true);
    const form = await browser.follow(link!, REDIRECT);
    expect(form.response!.status).toBe(200);
  });

  it('limits requests per address, look-alikes counted together', async () => {
    const browser = new UserAgent();
    const statuses = [];
    for (const email of ['limit@example.com', 'LIMIT@example.com', 'limit@EXAMPLE.com', 'Limit@example.com']) {
      statuses.push((await requestReset(browser, email)).response!.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('lets only one of two concurrent uses of a link set the password', async () => {
    const carol = { email: 'carol@example.com', password: 'carols original passphrase' };
    await server.services.users.create(carol, TEST_ACTOR);
    const browser = new UserAgent();
    await requestReset(browser, carol.email);
    const { link } = await mailTo(carol.email);
    const form = await browser.follow(link!, REDIRECT);
    const csrf = form.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const use = (password: string) =>
      browser.request(link!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, password }) });
    const statuses = (await Promise.all([use('first concurrent passphrase'), use('second concurrent passphrase')])).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 410]);
    const first = await server.services.users.authenticate(carol.email, 'first concurrent passphrase');
    const second = await server.services.users.authenticate(carol.email, 'second concurrent passphrase');
    expect([first.ok, second.ok].filter(Boolean)).toHaveLength(1);
  });

  it('refuses an expired link with a page that says so, changing nothing', async () => {
    const { link } = await mailTo(BOB.email);
    clock.advance(1801);
    const browser = new UserAgent();
    const page = await browser.follow(link!, REDIRECT);
    expect(page.response!.status).toBe(410);
    expect(page.body).toContain('has expired');
    expect(page.body).not.toContain('name="password"');
    const start = await browser.follow(resetUrl(), REDIRECT);
    const csrf = start.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const posted = await browser.request(link!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, password: 'a password too late' }),
    });
    expect(posted.status).toBe(410);
    expect((await server.services.users.authenticate(BOB.email, BOB.password)).ok).toBe(true);
    expect((await server.services.users.authenticate(BOB.email, 'a password too late')).ok).toBe(false);
  });
});

describe('password reset that keeps what apps hold (PASSWORD_RESET_REVOKES_GRANTS=false)', () => {
  let smtp: TestSmtp;
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer('sqlite', { SMTP_URL: smtp.url(), PASSWORD_RESET_REVOKES_GRANTS: 'false' });
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server);
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  it('ends the sessions but keeps grants and offline refresh tokens, and the notice says so', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const signedIn = new UserAgent();
    // A refresh token without offline_access lives only as long as its session, whatever the setting.
    const { tokens } = await codeFlow(rp, ADA, { agent: signedIn, extra: { scope: 'openid email offline_access', prompt: 'consent' } });

    const browser = new UserAgent();
    const page = await browser.follow(`${server.issuer}/account/password/reset`, REDIRECT);
    await browser.submit(page.url, page.body!, RESET_FORM, { email: ADA.email }, REDIRECT);
    const mail = await eventually(() => smtp.to(ADA.email)[0], 'the reset mail');
    const link = mail.parsed.text!.match(/https?:\/\/\S+/g)!.find((url) => url.startsWith(`${server.issuer}/`))!;
    const form = await browser.follow(link, REDIRECT);
    const done = await browser.submit(form.url, form.body!, RESET_FORM, { password: NEW_PASSWORD }, REDIRECT);
    expect(done.response!.status).toBe(200);
    expect(done.body).toContain('applications you use stay signed in');
    expect(done.body).not.toContain('signed out everywhere');

    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).toEqual(expect.any(String));
    const again = await signedIn.follow((await startFlow(rp)).url, REDIRECT);
    expect(again.body).toMatch(LOGIN_FORM);
    const notice = await eventually(() => smtp.to(ADA.email)[1], 'the notice');
    expect(notice.parsed.text).toContain('applications you use stay signed in');
  });
});
