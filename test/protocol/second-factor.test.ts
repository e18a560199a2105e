import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';
import { eventually, startSmtp, type TestSmtp } from '../mail/support.ts';
import { inProcess } from '../support/cli.ts';
import { admin, issueKey } from '../admin/support.ts';

const PASSWORD = 'amber kettle falcon morning';
const STEP_FORM = /<form method="post" action="([^"]+\/second-factor)"/;
/** A code the app shows at no step the server accepts now (this one, the one before or after). */
function wrongCode(app: TOTP): string {
  const near = new Set([-30_000, 0, 30_000].map((offset) => app.generate({ timestamp: Date.now() + offset })));
  return ['000000', '111111', '222222', '333333'].find((code) => !near.has(code))!;
}
const form = (path: string) => new RegExp(`<form method="post" action="(${path.replace(/\//g, '\\/')})"`);

describe.each(DATABASES)('two-step sign-in with an authenticator app (%s)', (kind) => {
  let smtp: TestSmtp;
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer(kind, { SMTP_URL: smtp.url(), LOGIN_LOCKOUT_THRESHOLD: '3', MFA_LOCKOUT_THRESHOLD: '2', RATE_LIMIT_LOGIN_PER_IP: '1000', REQUIRE_VERIFIED_EMAIL: 'true' });
    web = await createWebClient(server, { name: 'Web App', firstParty: true });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  async function person(email: string) {
    await server.services.users.create({ email, password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    return { email, password: PASSWORD };
  }

  /** Signs in to the account page and sets up an authenticator app; returns the app (as otpauth) and the recovery codes. */
  async function enrol(credentials: { email: string; password: string }) {
    const agent = new UserAgent();
    let page = await agent.follow(`${server.issuer}/account`, REDIRECT);
    page = await agent.submit(page.url, page.body!, LOGIN_FORM, credentials, REDIRECT);
    expect(page.body).toContain('Set up an authenticator app');
    const wrongPassword = await agent.submit(page.url, page.body!, form('/account/totp'), { current_password: 'not the password at all' }, REDIRECT);
    expect(wrongPassword.response!.status).toBe(403);
    const setup = await agent.submit(page.url, page.body!, form('/account/totp'), { current_password: credentials.password }, REDIRECT);
    expect(setup.response!.status).toBe(200);
    expect(setup.body).toContain('<svg');
    const uri = setup.body!.match(/(otpauth:\/\/totp\/[^<]+)</)![1]!.replace(/&amp;/g, '&');
    expect(uri).toContain(`Ostiary:${encodeURIComponent(credentials.email)}`);
    const secret = new URL(uri).searchParams.get('secret')!;
    expect(setup.body).toContain(secret.replace(/(.{4})/g, '$1 ').trim());
    const app = new TOTP({ secret: Secret.fromBase32(secret) });

    const wrong = await agent.submit(setup.url, setup.body!, form('/account/totp/confirm'), { code: wrongCode(app) }, REDIRECT);
    expect(wrong.response!.status).toBe(400);
    expect(wrong.body).toContain('The code is not right.');
    const confirmed = await agent.submit(setup.url, wrong.body!, form('/account/totp/confirm'), { code: app.generate() }, REDIRECT);
    expect(confirmed.response!.status).toBe(200);
    const codes = [...confirmed.body!.matchAll(/<li><code>([a-z2-9]{5}-[a-z2-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    return { app, codes, agent, page };
  }

  /** Starts a sign-in to the web app and gives the password; returns the page that follows. */
  async function signIn(email: string, agent = new UserAgent()) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp);
    const login = await agent.follow(flow.url, REDIRECT);
    const next = await agent.submit(login.url, login.body!, LOGIN_FORM, { email, password: PASSWORD }, REDIRECT);
    return { rp, flow, agent, next };
  }

  /** Gives the second step `code`; returns where the browser ends up. */
  const giveCode = (step: { agent: UserAgent; next: { url: string; body?: string } }, code: string) =>
    step.agent.submit(step.next.url, step.next.body!, STEP_FORM, { pending: step.next.body!.match(/name="pending" value="([^"]+)"/)![1]!, code }, REDIRECT);

  const idTokenOf = async (step: Awaited<ReturnType<typeof signIn>>, callbackUrl: string) =>
    (await oidc.authorizationCodeGrant(step.rp, new URL(callbackUrl), { pkceCodeVerifier: step.flow.verifier, expectedState: step.flow.state, expectedNonce: step.flow.nonce })).claims()!;

  it('asks for a code after the password once an app is set up; each code works once; the ID token says how', async () => {
    const plain = await person('plain.mfa@example.com');
    const before = await signIn(plain.email);
    expect(before.next.response).toBeUndefined();
    expect(await idTokenOf(before, before.next.url)).toMatchObject({ amr: ['pwd'], acr: 'urn:ostiary:acr:password' });

    const ada = await person('ada.mfa@example.com');
    const { app } = await enrol(ada);
    const factor = await server.services.db.totpFactor.findUniqueOrThrow({ where: { userId: (await server.services.users.resolve(ada.email)).id } });
    expect(factor.secretEncrypted).not.toContain(app.secret.base32);
    const mail = await eventually(() => smtp.to(ada.email)[0], 'the notice');
    expect(mail.parsed.subject).toBe('Two-step sign-in changed for your Ostiary account');

    const step = await signIn(ada.email);
    expect(step.next.response!.status).toBe(200);
    expect(step.next.body).toMatch(STEP_FORM);
    expect(step.next.body).toContain('autocomplete="one-time-code"');
    const wrong = await giveCode(step, wrongCode(app));
    expect(wrong.response!.status).toBe(401);
    expect(wrong.body).toContain('The code is not right.');

    // The code of the next 30 seconds (the confirmation took this one's step).
    const code = app.generate({ timestamp: Date.now() + 30_000 });
    const done = await giveCode({ agent: step.agent, next: wrong }, code);
    expect(done.response).toBeUndefined();
    const claims = await idTokenOf(step, done.url);
    expect(claims).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: 'urn:ostiary:acr:mfa' });

    const again = await signIn(ada.email);
    const replayed = await giveCode(again, code);
    expect(replayed.response!.status).toBe(401);
    const { id } = await server.services.users.resolve(ada.email);
    const reasons = (await server.services.audit.list({ type: 'login.failure' })).filter((e) => e.subject === id).map((e) => (e.details as { reason: string }).reason);
    expect(reasons).toEqual(expect.arrayContaining(['wrong_code', 'replayed']));
  });

  it('takes each recovery code once, and mails the person when one is used', async () => {
    const grace = await person('grace.mfa@example.com');
    const { codes } = await enrol(grace);
    const step = await signIn(grace.email);
    const done = await giveCode(step, codes[0]!.toUpperCase());
    expect(done.response).toBeUndefined();
    const mail = await eventually(() => smtp.to(grace.email).find((m) => m.parsed.subject?.startsWith('A recovery code')), 'the recovery notice');
    expect(mail.parsed.text).toContain('Recovery codes left: 9.');
    const again = await giveCode(await signIn(grace.email), codes[0]!);
    expect(again.response!.status).toBe(401);
  });

  it('locks the second step after wrong codes (MFA_LOCKOUT_THRESHOLD, not the password\'s), and turns off with the password', async () => {
    const ken = await person('ken.mfa@example.com');
    const { app, agent, page } = await enrol(ken);
    const { id } = await server.services.users.resolve(ken.email);
    const lockouts = async () => (await server.services.audit.list({ type: 'login.lockout' })).filter((e) => e.subject === id);
    let step = await signIn(ken.email);
    for (let i = 0; i < 2; i++) {
      expect(await lockouts()).toHaveLength(0);
      const answer = await giveCode(step, wrongCode(app));
      expect(answer.response!.status).toBe(401);
      step = { ...step, next: answer };
    }
    expect(await server.services.db.totpFactor.findUniqueOrThrow({ where: { userId: id } })).toMatchObject({ failedAttempts: 2, lockedUntil: expect.any(Date) });
    expect(await server.services.db.user.findUniqueOrThrow({ where: { id } })).toMatchObject({ failedLogins: 0, lockedUntil: null });
    const [lockout] = (await server.services.audit.list({ type: 'login.lockout' })).filter((e) => e.subject === id);
    expect(lockout).toMatchObject({ details: expect.objectContaining({ factor: 'otp' }) });
    // Locked: even the right code is refused, with the same words.
    const locked = await giveCode(step, app.generate({ timestamp: Date.now() + 30_000 }));
    expect(locked.response!.status).toBe(401);
    expect(locked.body).toContain('The code is not right.');

    const current = await agent.follow(`${server.issuer}/account`, REDIRECT);
    expect(current.body).toContain('Recovery codes left: 10.');
    const off = await agent.submit(page.url, current.body!, form('/account/totp/remove'), { current_password: PASSWORD }, REDIRECT);
    expect(off.url).toBe(`${server.issuer}/account?done=mfa_off`);
    expect(off.body).toContain('Two-step sign-in was turned off.');
    expect(await server.services.db.recoveryCode.count({ where: { userId: id } })).toBe(0);
    const plain = await signIn(ken.email);
    expect(plain.next.response).toBeUndefined();
    const events = (await server.services.audit.list({ limit: 500 })).filter((e) => e.subject === id).map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['user.mfa_enrolled', 'user.mfa_removed']));
  });

  it('an operator turns it off for a person who lost their phone (users mfa reset); the person is mailed', async () => {
    const edsger = await person('edsger.mfa@example.com');
    await enrol(edsger);
    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, LOG_LEVEL: 'silent', SMTP_URL: smtp.url() };
    const reset = await inProcess(['users', 'mfa', 'reset', edsger.email, '--json'], env);
    expect(reset.code, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout)).toEqual({ email: edsger.email, removed: true, totp: true, passkeys: 0 });
    const again = await inProcess(['users', 'mfa', 'reset', edsger.email, '--json'], env);
    expect(JSON.parse(again.stdout)).toEqual({ email: edsger.email, removed: false, totp: false, passkeys: 0 });
    const plain = await signIn(edsger.email);
    expect(plain.next.response).toBeUndefined();
    const [removed] = await server.services.audit.list({ type: 'user.mfa_removed' });
    expect(removed).toMatchObject({ actor: 'cli' });
    await eventually(() => smtp.to(edsger.email).find((m) => m.parsed.text?.includes('turned off')), 'the notice');
  });

  it('the admin API shows how a person signs in and turns the second step off', async () => {
    const barbara = await person('barbara.mfa@example.com');
    const { id } = await server.services.users.resolve(barbara.email);
    const reader = await issueKey(server, ['users:read']);
    const writer = await issueKey(server, ['users:read', 'users:write']);
    expect(await admin(server, reader, 'GET', `/users/${id}/factors`)).toMatchObject({ status: 200, body: { totp: false, recovery_codes_left: 0 } });
    await enrol(barbara);
    expect(await admin(server, reader, 'GET', `/users/${id}/factors`)).toMatchObject({ status: 200, body: { totp: true, recovery_codes_left: 10 } });
    expect((await admin(server, reader, 'DELETE', `/users/${id}/factors`)).status).toBe(403);
    expect(await admin(server, writer, 'DELETE', `/users/${id}/factors`)).toMatchObject({ status: 200, body: { removed: true } });
    expect(await admin(server, writer, 'GET', `/users/${id}/factors`)).toMatchObject({ status: 200, body: { totp: false, recovery_codes_left: 0 } });
    expect((await admin(server, writer, 'GET', '/users/nobody@example.com/factors')).status).toBe(404);
    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, LOG_LEVEL: 'silent' };
    const cli = await inProcess(['users', 'mfa', 'list', barbara.email, '--json'], env);
    expect(JSON.parse(cli.stdout)).toEqual({ email: barbara.email, totp: false, recovery_codes_left: 0, passkeys: [] });
    // users list says who has two-step sign-in.
    const listed = JSON.parse((await inProcess(['users', 'list', '--json'], env)).stdout) as { email: string; mfa: boolean }[];
    expect(listed.find((u) => u.email === barbara.email)?.mfa).toBe(false);
    expect(listed.find((u) => u.email === 'ada.mfa@example.com')?.mfa).toBe(true);
  });

  it('refuses the second step to a person disabled after their password, and asks for it after a verification link too', async () => {
    const alan = await person('alan.mfa@example.com');
    const { app } = await enrol(alan);
    const step = await signIn(alan.email);
    await server.services.users.update(alan.email, { disabled: true }, TEST_ACTOR);
    const refused = await giveCode(step, app.generate({ timestamp: Date.now() + 30_000 }));
    expect(refused.response!.status).toBe(400);
    await server.services.users.update(alan.email, { disabled: false }, TEST_ACTOR);

    // An address no longer verified: the right password gets a mailed link, and the link leads to the second step, not past it.
    await server.services.users.update(alan.email, { emailVerified: false }, TEST_ACTOR);
    const unverified = await signIn(alan.email);
    expect(unverified.next.response!.status).toBe(403);
    const mail = await eventually(() => smtp.to(alan.email).find((m) => m.parsed.subject?.startsWith('Confirm your')), 'the verification mail');
    const link = mail.parsed.text!.match(/https?:\/\/\S+\/verify\/\S+/)![0];
    const confirm = await unverified.agent.follow(link, REDIRECT);
    const after = await unverified.agent.submit(confirm.url, confirm.body!, /<form method="post" action="([^"]+\/verify\/[^"]+)"/, {}, REDIRECT);
    expect(after.response!.status).toBe(200);
    expect(after.body).toMatch(STEP_FORM);
  });

  it('makes new recovery codes with the password; the old ones stop working', async () => {
    const linus = await person('linus.mfa@example.com');
    const { codes, agent } = await enrol(linus);
    const page = await agent.follow(`${server.issuer}/account`, REDIRECT);
    const fresh = await agent.submit(page.url, page.body!, form('/account/recovery-codes'), { current_password: PASSWORD }, REDIRECT);
    const renewed = [...fresh.body!.matchAll(/<li><code>([a-z2-9]{5}-[a-z2-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(renewed).toHaveLength(10);
    expect(renewed).not.toContain(codes[0]);
    expect((await giveCode(await signIn(linus.email), codes[0]!)).response!.status).toBe(401);
    expect((await giveCode(await signIn(linus.email), renewed[0]!)).response).toBeUndefined();
  });

  it('steps up: acr_values asking for a second factor in a password-only session asks for the code alone', async () => {
    const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { acr_values_supported: string[] };
    expect(discovery.acr_values_supported).toEqual(['urn:ostiary:acr:password', 'urn:ostiary:acr:mfa', 'urn:ostiary:acr:federated']);
    const mary = await person('mary.mfa@example.com');
    // Signed in with the password (no app yet), then an app set up in the same browser.
    const { app, agent } = await enrol(mary);
    const rp = await discover(server.issuer, web.id, web.secret);
    const plain = await startFlow(rp);
    const silent = await agent.follow(plain.url, REDIRECT);
    expect(silent.response).toBeUndefined();

    const flow = await startFlow(rp, { acr_values: 'urn:ostiary:acr:mfa' });
    const step = await agent.follow(flow.url, REDIRECT);
    expect(step.body).toMatch(STEP_FORM);
    expect(step.body).not.toMatch(LOGIN_FORM);
    const done = await giveCode({ agent, next: step }, app.generate({ timestamp: Date.now() + 30_000 }));
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(done.url), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()).toMatchObject({ acr: 'urn:ostiary:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });

    // Someone without an app who is asked for a second factor gives the password, then sets one up.
    const noApp = await person('nora.mfa@example.com');
    const ask = await startFlow(rp, { acr_values: 'urn:ostiary:acr:mfa' });
    const other = new UserAgent();
    const login = await other.follow(ask.url, REDIRECT);
    const setup = await other.submit(login.url, login.body!, LOGIN_FORM, noApp, REDIRECT);
    expect(setup.body).toContain('Set up an authenticator app');
  });

  it('a client with require_mfa has its users sign in with a code, stepping up a password-only session', async () => {
    const strict = await createWebClient(server, { name: 'Payroll', firstParty: true, requireMfa: true });
    expect((await server.services.clients.show(strict.id)).requireMfa).toBe(true);
    const rp = await discover(server.issuer, strict.id, strict.secret);

    // Without an app: the password, then the setup inside the sign-in.
    const olga = await person('olga.mfa@example.com');
    const first = new UserAgent();
    const login = await first.follow((await startFlow(rp)).url, REDIRECT);
    const setup = await first.submit(login.url, login.body!, LOGIN_FORM, olga, REDIRECT);
    expect(setup.body).toContain('Set up an authenticator app');

    // With an app, signed in to another app with the password alone: the code is asked for.
    const pat = await person('pat.mfa@example.com');
    const { app, agent } = await enrol(pat);
    const flow = await startFlow(rp);
    const step = await agent.follow(flow.url, REDIRECT);
    expect(step.body).toMatch(STEP_FORM);
    const done = await giveCode({ agent, next: step }, app.generate({ timestamp: Date.now() + 30_000 }));
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(done.url), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()).toMatchObject({ acr: 'urn:ostiary:acr:mfa' });
    // Once the session has the second factor, the strict app signs in without asking again.
    const again = await agent.follow((await startFlow(rp)).url, REDIRECT);
    expect(again.response).toBeUndefined();
  });

  it('refuses a second step whose signed field is forged or from another sign-in', async () => {
    const lin = await person('lin.mfa@example.com');
    await enrol(lin);
    const first = await signIn(lin.email);
    const other = await signIn(lin.email);
    const foreign = first.next.body!.match(/name="pending" value="([^"]+)"/)![1]!;
    const swapped = other.next.body!.replace(/name="pending" value="[^"]+"/, `name="pending" value="${foreign}"`);
    const refused = await giveCode({ agent: other.agent, next: { url: other.next.url, body: swapped } }, '123456');
    expect(refused.response!.status).toBe(400);
    expect(refused.body).toContain('sign-in request has expired');
    const forgedBody = other.next.body!.replace(/name="pending" value="[^"]+"/, 'name="pending" value="e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"');
    const forged = await giveCode({ agent: other.agent, next: { url: other.next.url, body: forgedBody } }, '123456');
    expect(forged.response!.status).toBe(400);
    expect(forged.body).toContain('sign-in request has expired');
    // The genuine one still works for its own sign-in: the page asks again (the code was wrong).
    const genuine = await giveCode(other, '123456');
    expect(genuine.response!.status).toBe(401);
  });
});

describe('MFA=required', () => {
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { MFA: 'required', RATE_LIMIT_LOGIN_PER_IP: '1000' });
    web = await createWebClient(server, { name: 'Web App', firstParty: true });
    await server.services.users.create({ email: 'joan@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
  });
  afterAll(() => server?.stop());

  it('has a person without a second factor set up an app right after the password, then the sign-in continues', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp);
    const agent = new UserAgent();
    const login = await agent.follow(flow.url, REDIRECT);
    const setup = await agent.submit(login.url, login.body!, LOGIN_FORM, { email: 'joan@example.com', password: PASSWORD }, REDIRECT);
    expect(setup.response!.status).toBe(200);
    expect(setup.body).toContain('Two-step sign-in is required here.');
    expect(setup.body).not.toContain('href="/account"');
    const secret = new URL(setup.body!.match(/(otpauth:\/\/totp\/[^<]+)</)![1]!.replace(/&amp;/g, '&')).searchParams.get('secret')!;
    const app = new TOTP({ secret: Secret.fromBase32(secret) });
    const pendingOf = (body: string) => body.match(/name="pending" value="([^"]+)"/)![1]!;
    const SETUP_FORM = /<form method="post" action="([^"]+\/second-factor\/setup)"/;

    const wrong = await agent.submit(setup.url, setup.body!, SETUP_FORM, { pending: pendingOf(setup.body!), code: wrongCode(app) }, REDIRECT);
    expect(wrong.response!.status).toBe(400);
    expect(wrong.body).toContain('The code is not right.');
    const codes = await agent.submit(setup.url, wrong.body!, SETUP_FORM, { pending: pendingOf(wrong.body!), code: app.generate() }, REDIRECT);
    expect(codes.response!.status).toBe(200);
    expect([...codes.body!.matchAll(/<li><code>/g)]).toHaveLength(10);
    // The signed field of the setup step does not pass for the one that continues.
    const CONTINUE = /<form method="post" action="([^"]+\/second-factor\/continue)"/;
    const swapped = await agent.submit(setup.url, codes.body!, CONTINUE, { pending: pendingOf(setup.body!) }, REDIRECT);
    expect(swapped.response!.status).toBe(400);
    const done = await agent.submit(setup.url, codes.body!, CONTINUE, { pending: pendingOf(codes.body!) }, REDIRECT);
    expect(done.response).toBeUndefined();
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(done.url), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()!.amr).toEqual(['pwd', 'otp', 'mfa']);

    // The next sign-in asks for a code, as for anyone who has one.
    const next = new UserAgent();
    const again = await next.follow((await startFlow(rp)).url, REDIRECT);
    const step = await next.submit(again.url, again.body!, LOGIN_FORM, { email: 'joan@example.com', password: PASSWORD }, REDIRECT);
    expect(step.body).toMatch(STEP_FORM);

    // It cannot be turned off on the account page (the browser is signed in with the code).
    const page = await agent.follow(`${server.issuer}/account`, REDIRECT);
    expect(page.body).toContain('Two-step sign-in is required here, so it stays on.');
    expect(page.body).not.toContain('/account/totp/remove');
    const csrf = page.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const off = await agent.request(`${server.issuer}/account/totp/remove`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, current_password: PASSWORD }) });
    expect(off.status).toBe(409);
    expect((await server.services.mfa.status((await server.services.users.resolve('joan@example.com')).id)).totp).toBe(true);
  });
});
