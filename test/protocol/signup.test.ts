import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { CONSENT_FORM, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';
import { eventually, startSmtp, type TestSmtp } from '../mail/support.ts';

const SIGNUP_LINK = /<a href="(\/interaction\/[^"]+\/signup)">Create an account<\/a>/;
const SIGNUP_FORM = /<form method="post" action="(\/interaction\/[^"]+\/signup)"/;
const VERIFY_FORM = /<form method="post" action="([^"]+\/verify\/[^"]+)"/;
const INVITATION_FORM = /<form method="post" action="(\/account\/invitation\/[^"]+)"/;
const PASSWORD = 'lantern orchard velvet compass';

describe.each(DATABASES)('sign-up, email verification and invitations (%s)', (kind) => {
  let smtp: TestSmtp;
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer(kind, { SMTP_URL: smtp.url(), SIGNUP: 'open', SIGNUP_ALLOWED_DOMAINS: 'example.com,example.org', RATE_LIMIT_SIGNUP_PER_ACCOUNT: '50' });
    await server.services.users.create({ ...ADA, emailVerified: true }, TEST_ACTOR);
    web = await createWebClient(server);
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  /** The `n`th mail to `email` (0-based) once it arrives, and the first link under the issuer in its text part. */
  async function mailTo(email: string, n = 0) {
    const mail = await eventually(() => smtp.to(email)[n], `mail ${n} to ${email}`);
    const link = mail.parsed.text?.match(/https?:\/\/\S+/g)?.find((url) => url.startsWith(`${server.issuer}/`));
    return { mail, link: link! };
  }

  /** A new authorization request in `agent`, opened at its sign-up page. */
  async function openSignup(agent: UserAgent, extra: Record<string, string> = {}) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp, extra);
    const login = await agent.follow(flow.url, REDIRECT);
    const path = login.body!.match(SIGNUP_LINK)?.[1];
    expect(path, 'the login page links to the sign-up page').toBeDefined();
    const page = await agent.follow(new URL(path!, server.issuer), REDIRECT);
    expect(page.response!.status).toBe(200);
    return { rp, flow, page };
  }

  const signUp = (agent: UserAgent, page: { url: string; body?: string }, fields: Record<string, string>) =>
    agent.submit(page.url, page.body!, SIGNUP_FORM, fields, REDIRECT);

  /** A page's text with what differs per request (uid, CSRF token, the address typed) taken out. */
  const shape = (body: string, email: string) =>
    body.replaceAll(/\/interaction\/[A-Za-z0-9_-]+/g, '/interaction/UID').replaceAll(/value="[^"]*"/g, 'value=""').replaceAll(email, 'EMAIL');

  it('signs a person up inside an authorization request, verifies the address by the mailed link and continues to the app', async () => {
    const agent = new UserAgent();
    const { rp, flow, page } = await openSignup(agent);
    expect(page.body).toContain('name="email"');
    expect(page.body).toContain('name="name"');
    expect(page.body).toContain('autocomplete="new-password"');

    const sent = await signUp(agent, page, { email: 'Grace@Example.com', name: 'Grace Hopper', password: PASSWORD });
    expect(sent.response!.status).toBe(200);
    expect(sent.body).toContain('Check your mail');

    const { mail, link } = await mailTo('grace@example.com');
    expect(mail.parsed.subject).toBe('Confirm your Ostiary address');
    // Plain text in paragraphs: the link on a line of its own, a blank line either side.
    expect(mail.parsed.text).toMatch(/^Hello,\n\n.+\n\nhttp\S+\n\n/);
    expect(link).toMatch(new RegExp(`^${server.issuer}/interaction/[^/]+/verify/[A-Za-z0-9_-]{43}$`));
    const user = await server.services.users.resolve('grace@example.com');
    expect(user).toMatchObject({ name: 'Grace Hopper', emailVerified: false });
    // Unverified, the password alone does not sign in.
    expect(await server.services.users.authenticate('grace@example.com', PASSWORD)).toMatchObject({ ok: false, reason: 'unverified' });

    const confirm = await agent.follow(link, REDIRECT);
    expect(confirm.response!.status).toBe(200);
    expect(confirm.body).toContain('grace@example.com');
    let step = await agent.submit(confirm.url, confirm.body!, VERIFY_FORM, {}, REDIRECT);
    expect(step.body).toMatch(CONSENT_FORM);
    step = await agent.submit(step.url, step.body!, CONSENT_FORM, {}, REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(step.url), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: user.id, email: 'grace@example.com', email_verified: true });

    const events = (await server.services.audit.list({ limit: 200 })).filter((e) => e.subject === user.id).map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['user.created', 'user.signed_up', 'user.verification_sent', 'user.email_verified', 'login.success']));

    // The link again: a page that says so, and nothing changes.
    const again = await new UserAgent().follow(link, REDIRECT);
    expect(again.response!.status).toBe(410);
    expect(again.body).toContain('was used already');
  });

  it('answers a taken address exactly as a new one, and mails its owner a notice instead of creating anyone', async () => {
    const fresh = new UserAgent();
    const first = await openSignup(fresh);
    const newAddress = await signUp(fresh, first.page, { email: 'linus@example.com', name: 'Linus', password: PASSWORD });
    const taken = new UserAgent();
    const second = await openSignup(taken);
    const takenAddress = await signUp(taken, second.page, { email: ADA.email, name: 'Linus', password: PASSWORD });

    expect(takenAddress.response!.status).toBe(newAddress.response!.status);
    expect(shape(takenAddress.body!, ADA.email)).toBe(shape(newAddress.body!, 'linus@example.com'));

    const { mail, link } = await mailTo(ADA.email);
    expect(mail.parsed.subject).toBe('Someone tried to sign up at Ostiary with your address');
    expect(link).toBe(`${server.issuer}/account/password/reset`);
    expect((await server.services.users.list()).filter((u) => u.email === ADA.email)).toHaveLength(1);
    expect((await mailTo('linus@example.com')).mail.parsed.subject).toBe('Confirm your Ostiary address');
  });

  it('refuses a bad form with a message, keeps what was typed except the password, and stores nothing', async () => {
    const before = (await server.services.users.list()).length;
    const cases: [Record<string, string>, string][] = [
      [{ email: 'not an address', name: 'X', password: PASSWORD }, 'Enter a valid email address.'],
      [{ email: 'mallory@elsewhere.net', name: 'X', password: PASSWORD }, 'Accounts cannot be created for addresses at this domain.'],
      [{ email: 'mallory@example.com', name: 'X', password: 'k9#Lm' }, 'This password is too short.'],
      [{ email: 'mallory@example.com', name: 'X', password: 'password1234' }, 'This password is too easy to guess.'],
      [{ email: 'mallory@example.com', name: 'M'.repeat(201), password: PASSWORD }, 'Your name must be at most 200 characters long.'],
      [{ email: 'mallory@example.com', name: 'Mal\u0000lory', password: PASSWORD }, 'Your name must be at most 200 characters long.'],
    ];
    for (const [fields, message] of cases) {
      const agent = new UserAgent();
      const { page } = await openSignup(agent);
      const answer = await signUp(agent, page, fields);
      expect(answer.response!.status, message).toBe(400);
      expect(answer.body).toContain(message);
      expect(answer.body).toMatch(SIGNUP_FORM);
      expect(answer.body).not.toContain(fields.password);
    }
    // Without the form's CSRF token: refused before anything is read.
    const agent = new UserAgent();
    const { page } = await openSignup(agent);
    const action = new URL(page.body!.match(SIGNUP_FORM)![1]!, server.issuer);
    const forged = await agent.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: 'mallory@example.com', name: 'M', password: PASSWORD }),
    });
    expect(forged.status).toBe(403);
    expect((await server.services.users.list()).length).toBe(before);
    expect(smtp.to('mallory@example.com')).toEqual([]);
  });

  it('mails an unverified person a fresh link when they sign in; opened in another browser it verifies the address alone', async () => {
    await server.services.users.create({ email: 'ken@example.org', password: PASSWORD }, TEST_ACTOR);
    const rp = await discover(server.issuer, web.id, web.secret);
    const agent = new UserAgent();
    const login = await agent.follow((await startFlow(rp)).url, REDIRECT);
    const refused = await agent.submit(login.url, login.body!, LOGIN_FORM, { email: 'ken@example.org', password: PASSWORD }, REDIRECT);
    expect(refused.response!.status).toBe(403);
    expect(refused.body).toContain('Check your mail');
    // A wrong password says nothing about verification.
    const wrong = await new UserAgent().follow((await startFlow(rp)).url, REDIRECT);
    const answer = await new UserAgent().submit(wrong.url, wrong.body!, LOGIN_FORM, { email: 'ken@example.org', password: 'not the password at all' }, REDIRECT);
    expect(answer.body).not.toContain('Check your mail');

    const { link } = await mailTo('ken@example.org');
    const other = new UserAgent();
    const confirm = await other.follow(link, REDIRECT);
    expect(confirm.url).toMatch(/\/account\/verify\/[A-Za-z0-9_-]{43}$/);
    const done = await other.submit(confirm.url, confirm.body!, VERIFY_FORM, {}, REDIRECT);
    expect(done.response!.status).toBe(200);
    expect(done.body).toContain('Your address is confirmed');
    expect((await server.services.users.resolve('ken@example.org')).emailVerified).toBe(true);

    const tampered = await other.follow(`${server.issuer}/account/verify/${'A'.repeat(43)}`, REDIRECT);
    expect(tampered.response!.status).toBe(400);
    expect(tampered.body).toContain('not valid');
  });

  it('lets operators invite an address and resend a verification link', async () => {
    const cli = await server.services.signups.invite('Barbara@Example.com', TEST_ACTOR);
    expect(cli.email).toBe('barbara@example.com');
    const { mail, link } = await mailTo('barbara@example.com');
    expect(mail.parsed.subject).toBe('You are invited to Ostiary');
    expect(link).toMatch(new RegExp(`^${server.issuer}/account/invitation/[A-Za-z0-9_-]{43}$`));

    const agent = new UserAgent();
    const form = await agent.follow(link, REDIRECT);
    expect(form.body).toContain('barbara@example.com');
    const weak = await agent.submit(form.url, form.body!, INVITATION_FORM, { name: 'Barbara', password: 'barbara12345' }, REDIRECT);
    expect(weak.response!.status).toBe(400);
    expect(weak.body).toContain('too easy to guess');
    const done = await agent.submit(form.url, form.body!, INVITATION_FORM, { name: 'Barbara Liskov', password: PASSWORD }, REDIRECT);
    expect(done.response!.status).toBe(200);
    expect(done.body).toContain('Your account is ready');
    expect(await server.services.users.resolve('barbara@example.com')).toMatchObject({ name: 'Barbara Liskov', emailVerified: true });
    const reused = await agent.follow(link, REDIRECT);
    expect(reused.response!.status).toBe(410);

    await expect(server.services.signups.invite(ADA.email, TEST_ACTOR)).rejects.toMatchObject({ code: 'user.email_taken' });
    await expect(server.services.signups.resendVerification(ADA.email, TEST_ACTOR)).rejects.toMatchObject({ code: 'user.already_verified' });
    await server.services.users.create({ email: 'edsger@example.com', password: PASSWORD }, TEST_ACTOR);
    await server.services.signups.resendVerification('edsger@example.com', TEST_ACTOR);
    expect((await mailTo('edsger@example.com')).link).toMatch(/\/account\/verify\//);
  });
});
