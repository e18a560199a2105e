import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { codeFlow, REDIRECT } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';
import { eventually, startSmtp, type TestSmtp } from '../mail/support.ts';

const PASSWORD = 'quiet meadow lantern river';
const NEW_PASSWORD = 'copper falcon winter garden';

const form = (path: string) => new RegExp(`<form method="post" action="(${path.replace(/\//g, '\\/')})"`);

describe.each(DATABASES)('the account page (%s)', (kind) => {
  let smtp: TestSmtp;
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer(kind, { SMTP_URL: smtp.url(), ACCOUNT_DELETION: 'true' });
    web = await createWebClient(server, { name: 'Web App' });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  const account = (path = '') => `${server.issuer}/account${path}`;

  /** Opens /account in `agent`, signing in at the login form when asked; returns the account page. */
  async function openAccount(agent: UserAgent, credentials: { email: string; password: string }) {
    let page = await agent.follow(account(), REDIRECT);
    if (page.body && LOGIN_FORM.test(page.body)) page = await agent.submit(page.url, page.body, LOGIN_FORM, credentials, REDIRECT);
    expect(page.response?.status).toBe(200);
    expect(page.url).toBe(account());
    return page as { url: string; response: Response; body: string };
  }

  async function newPerson(email: string, name = 'Ada') {
    await server.services.users.create({ email, password: PASSWORD, name, emailVerified: true }, TEST_ACTOR);
    return { email, password: PASSWORD };
  }

  const firstLink = (text: string | undefined) => text?.match(/https?:\/\/\S+/g)?.find((url) => url.startsWith(`${server.issuer}/`));

  it('signs the person in through the provider (code + PKCE, no consent page) and shows their account', async () => {
    const ada = await newPerson('ada.account@example.com', 'Ada Lovelace');
    const agent = new UserAgent();
    const first = await agent.follow(account(), REDIRECT);
    // Sent to the authorization endpoint as the account page's client, then to our login page.
    expect(first.body).toMatch(LOGIN_FORM);
    expect(first.body).toContain('Sign in to continue to Ostiary');
    const callback = await agent.submit(first.url, first.body!, LOGIN_FORM, ada, account('/callback'));
    expect(callback.url).toMatch(new RegExp(`^${account('/callback')}\\?code=`));
    const pending = agent.cookie('ostiary.account-login')!;
    const answer = await agent.request(callback.url);
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/account');
    // The account page's cookie: signed, HttpOnly, SameSite, only for /account.
    const cookie = answer.headers.getSetCookie().find((line) => line.startsWith('ostiary.account='));
    expect(cookie).toMatch(/^ostiary\.account=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Path=\/account; HttpOnly; SameSite=Lax; Max-Age=3600$/);

    const page = await agent.follow(account(), REDIRECT);
    expect(page.response!.status).toBe(200);
    expect(page.body).toContain('Signed in as <strong>ada.account@example.com</strong>');
    expect(page.body).toContain('value="Ada Lovelace"');
    expect(page.response!.headers.get('cache-control')).toBe('no-store');
    // The code was redeemed: the same callback again, with the sign-in's own cookie, is refused at the token endpoint.
    const replayed = await fetch(callback.url, { headers: { cookie: `ostiary.account-login=${pending}` }, redirect: 'manual' });
    expect(replayed.status).toBe(400);
    expect(replayed.headers.getSetCookie().some((line) => line.startsWith('ostiary.account='))).toBe(false);
    expect((await agent.request(account())).status).toBe(200);

    // The page's cookie with one character of its body changed: not taken, a new sign-in starts.
    const signed = agent.cookie('ostiary.account')!;
    const tampered = `${signed.slice(0, 5)}${signed[5] === 'A' ? 'B' : 'A'}${signed.slice(6)}`;
    const forged = await fetch(account(), { headers: { cookie: `ostiary.account=${tampered}` }, redirect: 'manual' });
    expect(forged.status).toBe(303);
    expect(forged.headers.get('location')).toMatch(/^\/auth\?/);
    const genuine = await fetch(account(), { headers: { cookie: `ostiary.account=${signed}` }, redirect: 'manual' });
    expect(genuine.status).toBe(200);
    const [login] = await server.services.audit.list({ type: 'login.success' });
    expect(login).toMatchObject({ clientId: 'ostiary-account' });
  });

  it('refuses a callback this browser did not start', async () => {
    const stray = await new UserAgent().request(account('/callback?code=x&state=y'));
    expect(stray.status).toBe(400);
    expect(await stray.text()).toContain('The sign-in did not complete');
  });

  it('changes the name and the password (the current one required), audited and mailed', async () => {
    const grace = await newPerson('grace.account@example.com', 'Grace');
    const agent = new UserAgent();
    const page = await openAccount(agent, grace);

    const renamed = await agent.submit(page.url, page.body, form('/account/name'), { name: 'Grace Hopper' }, REDIRECT);
    expect(renamed.url).toBe(account('?done=name'));
    expect(renamed.body).toContain('Your name was saved.');
    expect(renamed.body).toContain('value="Grace Hopper"');

    const tooLong = await agent.submit(page.url, renamed.body!, form('/account/name'), { name: 'x'.repeat(201) }, REDIRECT);
    expect(tooLong.response!.status).toBe(400);
    expect((await server.services.users.resolve(grace.email)).name).toBe('Grace Hopper');

    const wrong = await agent.submit(page.url, renamed.body!, form('/account/password'), { current_password: 'not the password', password: NEW_PASSWORD }, REDIRECT);
    expect(wrong.response!.status).toBe(403);
    expect(wrong.body).toContain('The current password is not right.');
    const weak = await agent.submit(page.url, renamed.body!, form('/account/password'), { current_password: PASSWORD, password: 'password1234' }, REDIRECT);
    expect(weak.response!.status).toBe(400);
    expect(weak.body).not.toContain('password1234');
    expect((await server.services.users.authenticate(grace.email, PASSWORD)).ok).toBe(true);

    const changed = await agent.submit(page.url, renamed.body!, form('/account/password'), { current_password: PASSWORD, password: NEW_PASSWORD }, REDIRECT);
    expect(changed.url).toBe(account('?done=password'));
    expect(changed.body).toContain('Your password was changed.');
    expect((await server.services.users.authenticate(grace.email, PASSWORD)).ok).toBe(false);
    expect((await server.services.users.authenticate(grace.email, NEW_PASSWORD)).ok).toBe(true);
    const notice = await eventually(() => smtp.to(grace.email)[0], 'the password notice');
    expect(notice.parsed.text).toContain('changed on your account page');

    const user = await server.services.users.resolve(grace.email);
    const events = await server.services.audit.list({ since: new Date(Date.now() - 60_000) });
    const mine = events.filter((e) => e.subject === user.id).map((e) => [e.type, e.actor]);
    expect(mine).toEqual(expect.arrayContaining([['user.updated', `user:${user.id}`], ['user.password_changed', `user:${user.id}`]]));
  });

  it('changes the address only once the new one confirms by the mailed link, for the account that asked; the old one is told', async () => {
    const ken = await newPerson('ken.account@example.com', 'Ken');
    const agent = new UserAgent();
    const page = await openAccount(agent, ken);
    const same = await agent.submit(page.url, page.body, form('/account/email'), { email: 'ken.account@example.com', current_password: PASSWORD }, REDIRECT);
    expect(same.response!.status).toBe(400);
    expect(same.body).toContain('This is already the address of your account.');

    const asked = await agent.submit(page.url, page.body, form('/account/email'), { email: 'Ken.New@Example.com', current_password: PASSWORD }, REDIRECT);
    expect(asked.url).toBe(account('?done=email'));
    expect((await server.services.users.resolve(ken.email)).email).toBe(ken.email);
    const told = await eventually(() => smtp.to(ken.email)[0], 'the notice to the current address');
    expect(told.parsed.text).toContain('asked to change its address to ken.new@example.com');
    expect(firstLink(told.parsed.text)).toBe(`${server.issuer}/account`);
    const mail = await eventually(() => smtp.to('ken.new@example.com')[0], 'the confirmation mail');
    expect(mail.parsed.subject).toBe('Confirm your new Ostiary address');
    const link = firstLink(mail.parsed.text)!;
    expect(link).toMatch(new RegExp(`^${server.issuer}/account/email/[A-Za-z0-9_-]{43}$`));

    // Another person signed in cannot use it.
    const mallory = await newPerson('mallory.account@example.com', 'Mallory');
    const theirs = new UserAgent();
    await openAccount(theirs, mallory);
    const refused = await theirs.follow(link, REDIRECT);
    expect(refused.response!.status).toBe(400);
    expect(refused.body).toContain('This link is not valid.');

    // Opened in another browser, it asks Ken to sign in, then comes back; a GET alone changes nothing.
    const other = new UserAgent();
    const login = await other.follow(link, REDIRECT);
    expect(login.body).toMatch(LOGIN_FORM);
    const confirm = await other.submit(login.url, login.body!, LOGIN_FORM, ken, REDIRECT);
    expect(confirm.url).toBe(link);
    expect(confirm.body).toContain('Use <strong>ken.new@example.com</strong> instead of <strong>ken.account@example.com</strong>');
    expect((await server.services.users.resolve(ken.email)).email).toBe(ken.email);
    const done = await other.submit(confirm.url, confirm.body!, form(new URL(link).pathname), {}, REDIRECT);
    expect(done.response!.status).toBe(200);
    expect(done.body).toContain('Your address was changed');
    const user = await server.services.users.resolve('ken.new@example.com');
    expect(user.emailVerified).toBe(true);
    const notice = await eventually(() => smtp.to(ken.email)[1], 'the notice to the old address');
    expect(notice.parsed.text).toContain('was changed to ken.new@example.com');

    const reused = await other.submit(confirm.url, confirm.body!, form(new URL(link).pathname), {}, REDIRECT);
    expect(reused.response!.status).toBe(410);
    expect(reused.body).toContain('This link was used already.');
    const [changed] = await server.services.audit.list({ type: 'user.email_changed' });
    expect(changed).toMatchObject({ subject: user.id, actor: `user:${user.id}` });
  });

  it('stops an address change not yet confirmed when the password changes; a wrong current password is audited', async () => {
    const lin = await newPerson('lin.account@example.com', 'Lin');
    const agent = new UserAgent();
    const page = await openAccount(agent, lin);
    await agent.submit(page.url, page.body, form('/account/email'), { email: 'lin.elsewhere@example.com', current_password: PASSWORD }, REDIRECT);
    const mail = await eventually(() => smtp.to('lin.elsewhere@example.com')[0], 'the confirmation mail');
    const wrong = await agent.submit(page.url, page.body, form('/account/password'), { current_password: 'a wrong guess here', password: NEW_PASSWORD }, REDIRECT);
    expect(wrong.response!.status).toBe(403);
    const { id } = await server.services.users.resolve(lin.email);
    const failures = (await server.services.audit.list({ type: 'login.failure' })).filter((e) => e.subject === id);
    expect(failures).toEqual([expect.objectContaining({ actor: `user:${id}`, details: { reason: 'wrong_password', page: 'account' } })]);

    await agent.submit(page.url, page.body, form('/account/password'), { current_password: PASSWORD, password: NEW_PASSWORD }, REDIRECT);
    const confirm = await agent.follow(firstLink(mail.parsed.text)!, REDIRECT);
    expect(confirm.response!.status).toBe(410);
    expect((await server.services.users.resolve(id)).email).toBe(lin.email);
  });

  it('lists the apps let in and revokes one: its refresh token then fails', async () => {
    const barbara = await newPerson('barbara.account@example.com', 'Barbara');
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, barbara, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const agent = new UserAgent();
    const page = await openAccount(agent, barbara);
    expect(page.body).toContain('<strong>Web App</strong>');
    // The account page's own access is not listed.
    expect(page.body).not.toContain('value="ostiary-account"');
    const revoked = await agent.submit(page.url, page.body, form('/account/apps/revoke'), { client_id: web.id }, REDIRECT);
    expect(revoked.url).toBe(account('?done=app'));
    expect(revoked.body).toContain('No app has access to your account.');
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [event] = await server.services.audit.list({ type: 'user.grants_revoked' });
    expect(event).toMatchObject({ clientId: web.id, actor: expect.stringMatching(/^user:/) });
  });

  it('lists the sessions and signs out of all; the account page signs in again', async () => {
    const linus = await newPerson('linus.account@example.com', 'Linus');
    const elsewhere = new UserAgent();
    await openAccount(elsewhere, linus);
    const agent = new UserAgent();
    const page = await openAccount(agent, linus);
    expect(page.body.match(/Signed in .* \(UTC\)/g)).toHaveLength(2);
    expect(page.body).toContain('this browser');

    const ended = await agent.submit(page.url, page.body, form('/account/sessions/end'), {}, REDIRECT);
    expect(ended.response!.status).toBe(200);
    expect(ended.body).toContain('You were signed out everywhere');
    for (const browser of [agent, elsewhere]) {
      const next = await browser.follow(account(), REDIRECT);
      expect(next.body).toMatch(LOGIN_FORM);
    }
    const [event] = await server.services.audit.list({ type: 'user.sessions_ended' });
    expect(event).toMatchObject({ actor: expect.stringMatching(/^user:/) });
  });

  it('deletes the account with the current password; the audit event keeps no personal data', async () => {
    const alan = await newPerson('alan.account@example.com', 'Alan');
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, alan, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
    const { id } = await server.services.users.resolve(alan.email);
    await server.services.passwordResets.requestPasswordReset(alan.email, TEST_ACTOR, 'en');
    await eventually(() => smtp.to(alan.email)[0], 'the reset mail');
    expect(await server.services.db.mailMessage.count({ where: { recipient: alan.email } })).toBe(1);
    const agent = new UserAgent();
    const page = await openAccount(agent, alan);

    const wrong = await agent.submit(page.url, page.body, form('/account/delete'), { current_password: 'wrong password' }, REDIRECT);
    expect(wrong.response!.status).toBe(403);
    expect(await server.services.users.findById(id)).not.toBeNull();

    const deleted = await agent.submit(page.url, page.body, form('/account/delete'), { current_password: PASSWORD }, REDIRECT);
    expect(deleted.response!.status).toBe(200);
    expect(deleted.body).toContain('Your account was deleted');
    expect(await server.services.users.findById(id)).toBeNull();
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await server.services.grants.listForUser(id))).toEqual([]);
    const [event] = await server.services.audit.list({ type: 'user.deleted' });
    expect(event).toMatchObject({ subject: id, actor: `user:${id}` });
    expect(JSON.stringify(event)).not.toContain('alan');
    // No audit event names the address any more (the reset mail's did).
    const everything = JSON.stringify(await server.services.audit.list({ limit: 10_000 }));
    expect(everything).not.toContain(alan.email);
    // The person's events stay, without the address they came from; no mail to them is kept.
    const theirs = (await server.services.audit.list({ since: new Date(Date.now() - 60_000), limit: 500 })).filter((e) => e.subject === id || e.actor === `user:${id}`);
    expect(theirs.map((e) => e.type)).toEqual(expect.arrayContaining(['user.created', 'login.success', 'user.deleted']));
    expect(theirs.filter((e) => e.ip !== null || e.userAgent !== null)).toEqual([]);
    expect(await server.services.db.mailMessage.count({ where: { recipient: alan.email } })).toBe(0);

    const next = await agent.follow(account(), REDIRECT);
    expect(next.body).toMatch(LOGIN_FORM);
  });

  it('offers no deletion where ACCOUNT_DELETION is off, and refuses forms without their CSRF token', async () => {
    const other = await startTestServer(kind, {});
    try {
      await other.services.users.create({ email: 'edsger@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
      const agent = new UserAgent();
      let page = await agent.follow(`${other.issuer}/account`, REDIRECT);
      page = await agent.submit(page.url, page.body!, LOGIN_FORM, { email: 'edsger@example.com', password: PASSWORD }, REDIRECT);
      expect(page.body).not.toContain('/account/delete');
      const refused = await agent.submit(page.url, page.body!.replace(/name="csrf" value="[^"]+"/g, 'name="csrf" value="forged"'), form('/account/name'), { name: 'Mallory' }, REDIRECT);
      expect(refused.response!.status).toBe(403);
      const deletion = await agent.submit(page.url, page.body!, form('/account/name'), { name: 'E. W. Dijkstra' }, REDIRECT);
      expect(deletion.url).toBe(`${other.issuer}/account?done=name`);
      const tried = await agent.request(`${other.issuer}/account/delete`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: page.body!.match(/name="csrf" value="([^"]+)"/)![1]!, current_password: PASSWORD }),
      });
      expect(tried.status).toBe(403);
      expect(await tried.text()).toContain('Accounts cannot be deleted here.');
      expect((await other.services.users.resolve('edsger@example.com')).name).toBe('E. W. Dijkstra');
    } finally {
      await other.stop();
    }
  });
});
