import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { admin, issueKey } from '../admin/support.ts';
import { softAuthenticator, type Bend, type SoftAuthenticator } from '../support/authenticator.ts';
import { inProcess } from '../support/cli.ts';
import { DATABASES } from '../support/databases.ts';
import { createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';
import { eventually, startSmtp, type TestSmtp } from '../mail/support.ts';

const PASSWORD = 'copper meadow signal harbour';
const PASSKEY_FORM = /<form method="post" action="([^"]+\/passkey)" data-passkey="sign-in"/;
const csrfOf = (body: string) => body.match(/name="csrf" value="([^"]+)"/)![1]!;
const pendingOf = (body: string) => body.match(/name="pending" value="([^"]+)"/)?.[1];
const optionsPathOf = (body: string) => body.match(/data-options="([^"]+)"/)![1]!;

describe.each(DATABASES)('passkeys (%s)', (kind) => {
  let smtp: TestSmtp;
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    smtp = await startSmtp();
    server = await startTestServer(kind, { SMTP_URL: smtp.url(), RATE_LIMIT_LOGIN_PER_IP: '1000' }, { issuerHost: 'localhost' });
    web = await createWebClient(server, { name: 'Web App', firstParty: true });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.close();
  });

  async function person(email: string) {
    const user = await server.services.users.create({ email, password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    return { id: user.id, email };
  }

  /** Signs in to the account page with the password; returns the browser and the page. */
  async function accountPage(email: string) {
    const agent = new UserAgent();
    let page = await agent.follow(`${server.issuer}/account`, REDIRECT);
    page = await agent.submit(page.url, page.body!, LOGIN_FORM, { email, password: PASSWORD }, REDIRECT);
    expect(page.response!.status).toBe(200);
    return { agent, page };
  }

  const postJson = (agent: UserAgent, url: string, body: Record<string, string>) =>
    agent.request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  /** Adds a passkey of `authenticator` on the account page; returns where the browser ends up. */
  async function addPasskey(email: string, authenticator: SoftAuthenticator, { name = 'Laptop', password = PASSWORD, bend = {} as Bend } = {}) {
    const { agent, page } = await accountPage(email);
    const csrf = csrfOf(page.body!);
    const options = await postJson(agent, `${server.issuer}${optionsPathOf(page.body!)}`, { csrf });
    expect(options.status).toBe(200);
    const creation = (await options.json()) as { challenge: string; rp: { id: string }; user: { id: string }; authenticatorSelection: { residentKey: string; userVerification: string } };
    expect(creation.rp.id).toBe('localhost');
    expect(creation.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    const response = JSON.stringify(authenticator.register(creation, bend));
    const done = await agent.follow(`${server.issuer}/account/passkeys`, REDIRECT, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, name, current_password: password, response }).toString(),
    });
    return { agent, done };
  }

  /** Starts a sign-in to the web app; returns its login page. */
  async function startSignIn(extra: Record<string, string> = {}) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp, extra);
    const agent = new UserAgent();
    const login = await agent.follow(flow.url, REDIRECT);
    return { rp, flow, agent, login };
  }

  /** Asks the page's passkey form for a challenge, answers it with `authenticator` (bent as told) and posts the answer. */
  async function answer(step: { agent: UserAgent; url: string; body: string }, authenticator: SoftAuthenticator, bend: Bend = {}, options?: { challenge: string }) {
    const pending = pendingOf(step.body);
    const fields = { csrf: csrfOf(step.body), ...(pending ? { pending } : {}) };
    const request = options ?? ((await (await postJson(step.agent, new URL(optionsPathOf(step.body), step.url).toString(), fields)).json()) as { challenge: string });
    const response = JSON.stringify(authenticator.authenticate(request, bend));
    return { response, next: await step.agent.submit(step.url, step.body, PASSKEY_FORM, { ...fields, response }, REDIRECT) };
  }

  const idTokenOf = async (signIn: Awaited<ReturnType<typeof startSignIn>>, callbackUrl: string) =>
    (await oidc.authorizationCodeGrant(signIn.rp, new URL(callbackUrl), { pkceCodeVerifier: signIn.flow.verifier, expectedState: signIn.flow.state, expectedNonce: signIn.flow.nonce })).claims()!;

  const failureReasons = async (userId: string | null) =>
    (await server.services.audit.list({ type: 'login.failure' })).filter((e) => e.subject === userId && (e.details as { factor?: string }).factor === 'passkey').map((e) => (e.details as { reason: string }).reason);

  it('adds a passkey on the account page (with the current password), then signs in with it alone: the ID token says hwk, user, mfa', async () => {
    const grace = await person('grace.passkey@example.com');
    const key = softAuthenticator(server.issuer);
    const wrongPassword = await addPasskey(grace.email, key, { password: 'not the password at all' });
    expect(wrongPassword.done.response!.status).toBe(403);
    expect(await server.services.db.passkey.count({ where: { userId: grace.id } })).toBe(0);

    const { agent, done } = await addPasskey(grace.email, key);
    expect(done.response!.status).toBe(200);
    expect(done.body).toContain('The passkey was added.');
    expect(done.body).toContain('<strong>Laptop</strong>');
    const row = await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } });
    expect(row).toMatchObject({ userId: grace.id, name: 'Laptop', counter: 0, deviceType: 'singleDevice', transports: 'internal', lastUsedAt: null });
    const mail = await eventually(() => smtp.to(grace.email).find((m) => m.parsed.text?.includes('A passkey was added')), 'the notice');
    expect(mail.parsed.subject).toBe('Two-step sign-in changed for your Ostiary account');
    const [added] = await server.services.audit.list({ type: 'user.passkey_added' });
    expect(added).toMatchObject({ outcome: 'success', actor: `user:${grace.id}`, subject: grace.id });
    expect(agent.cookie('ostiary.account')).toBeDefined();

    const signIn = await startSignIn();
    expect(signIn.login.body).toContain('Sign in with a passkey');
    expect(signIn.login.body).toContain('autocomplete="username webauthn"');
    expect(signIn.login.response!.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self';");
    // Pages without passkey buttons run no script.
    const reset = await fetch(`${server.issuer}/account/password/reset`);
    expect(reset.headers.get('content-security-policy')).not.toContain('script-src');
    const { next } = await answer({ agent: signIn.agent, url: signIn.login.url, body: signIn.login.body! }, key);
    expect(next.response).toBeUndefined();
    const claims = await idTokenOf(signIn, next.url);
    expect(claims).toMatchObject({ sub: grace.id, amr: ['hwk', 'user', 'mfa'], acr: 'urn:ostiary:acr:mfa' });
    expect(await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } })).toMatchObject({ counter: 1, lastUsedAt: expect.any(Date) });
    const success = (await server.services.audit.list({ type: 'login.success' })).find((e) => e.subject === grace.id && (e.details as { factor?: string }).factor === 'passkey');
    expect(success).toBeDefined();
  });

  it('refuses answers for another origin, rp id or challenge, replays, no user verification, a counter going backwards, an unknown key; nothing changes', async () => {
    const alan = await person('alan.passkey@example.com');
    const key = softAuthenticator(server.issuer);
    expect((await addPasskey(alan.email, key)).done.response!.status).toBe(200);
    const first = await startSignIn();
    const firstPage = { agent: first.agent, url: first.login.url, body: first.login.body! };
    expect((await answer(firstPage, key)).next.response).toBeUndefined();
    const before = await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } });
    expect(before.counter).toBe(1);

    const refused = async (bend: Bend, authenticator = key) => {
      const signIn = await startSignIn();
      const { next } = await answer({ agent: signIn.agent, url: signIn.login.url, body: signIn.login.body! }, authenticator, bend);
      expect(next.response!.status).toBe(401);
      expect(next.body).toContain('The passkey was not accepted.');
      expect(next.body).toMatch(LOGIN_FORM);
      return next;
    };
    await refused({ origin: 'https://evil.example' });
    await refused({ rpId: 'evil.example' });
    await refused({ challenge: Buffer.from('a challenge never handed out').toString('base64url') });
    await refused({ userVerified: false });
    await refused({ counter: 1 });
    await refused({}, softAuthenticator(server.issuer));
    expect((await failureReasons(alan.id)).sort()).toEqual(['counter_regressed', 'not_verified', 'wrong_challenge', 'wrong_origin', 'wrong_rp_id']);
    expect(await failureReasons(null)).toContain('unknown_credential');
    expect(await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } })).toMatchObject({ counter: 1, lastUsedAt: before.lastUsedAt });

    // A challenge of one sign-in request does not serve another, and an answer works once.
    const one = await startSignIn();
    const other = await startSignIn();
    const onePage = { agent: one.agent, url: one.login.url, body: one.login.body! };
    const otherPage = { agent: other.agent, url: other.login.url, body: other.login.body! };
    const challenge = (await (await postJson(one.agent, new URL(optionsPathOf(onePage.body), onePage.url).toString(), { csrf: csrfOf(onePage.body) })).json()) as { challenge: string };
    expect((await answer(otherPage, key, {}, challenge)).next.response!.status).toBe(401);
    const used = await answer(onePage, key, { counter: 5 }, challenge);
    expect(used.next.response).toBeUndefined();
    const replay = await startSignIn();
    const replayed = await replay.agent.submit(replay.login.url, replay.login.body!, PASSKEY_FORM, { csrf: csrfOf(replay.login.body!), response: used.response }, REDIRECT);
    expect(replayed.response!.status).toBe(401);
    const malformed = await replay.agent.submit(replay.login.url, replay.login.body!, PASSKEY_FORM, { csrf: csrfOf(replay.login.body!), response: '{"id": 1}' }, REDIRECT);
    expect(malformed.response!.status).toBe(401);
    const badHandle = JSON.stringify({ ...JSON.parse(used.response), response: { ...JSON.parse(used.response).response, userHandle: 5 } });
    const handled = await replay.agent.submit(replay.login.url, replay.login.body!, PASSKEY_FORM, { csrf: csrfOf(replay.login.body!), response: badHandle }, REDIRECT);
    expect(handled.response!.status).toBe(401);
    expect(await failureReasons(null)).toContain('malformed');
    expect((await failureReasons(alan.id)).filter((r) => r === 'wrong_challenge')).toHaveLength(3);
    expect(await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } })).toMatchObject({ counter: 5 });
  });

  it('takes a challenge once even when the answer to it was refused, for an authenticator that does not count; refuses a disabled person', async () => {
    const alonzo = await person('alonzo.passkey@example.com');
    const key = softAuthenticator(server.issuer);
    await addPasskey(alonzo.email, key);
    const signIn = await startSignIn();
    const page = { agent: signIn.agent, url: signIn.login.url, body: signIn.login.body! };
    const challenge = (await (await postJson(signIn.agent, new URL(optionsPathOf(page.body), page.url).toString(), { csrf: csrfOf(page.body) })).json()) as { challenge: string };
    expect((await answer(page, key, { origin: 'https://evil.example', counter: 0 }, challenge)).next.response!.status).toBe(401);
    expect((await answer(page, key, { counter: 0 }, challenge)).next.response!.status).toBe(401);
    expect(await failureReasons(alonzo.id)).toEqual(expect.arrayContaining(['wrong_origin', 'wrong_challenge']));
    const ok = await answer(page, key, { counter: 0 });
    expect(ok.next.response).toBeUndefined();

    await server.services.users.update(alonzo.id, { disabled: true }, TEST_ACTOR);
    const before = await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } });
    const refused = await startSignIn();
    const { next } = await answer({ agent: refused.agent, url: refused.login.url, body: refused.login.body! }, key, { counter: 0 });
    expect(next.response!.status).toBe(401);
    expect(await failureReasons(alonzo.id)).toContain('disabled');
    expect(await server.services.db.passkey.findUniqueOrThrow({ where: { id: key.id } })).toEqual(before);
  });

  it('refuses a passkey created for another origin or rp id, or without user verification, and stores nothing', async () => {
    const edith = await person('edith.passkey@example.com');
    for (const bend of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { userVerified: false }, { challenge: 'bm90IHRoZSBjaGFsbGVuZ2U' }]) {
      const { done } = await addPasskey(edith.email, softAuthenticator(server.issuer), { bend });
      expect(done.response!.status).toBe(400);
      expect(done.body).toContain('The passkey could not be added. Try again.');
    }
    expect(await server.services.db.passkey.count({ where: { userId: edith.id } })).toBe(0);
    const refusals = (await server.services.audit.list({ type: 'user.passkey_added' })).filter((e) => e.subject === edith.id).map((e) => [e.outcome, (e.details as { reason: string }).reason]);
    expect(refusals).toEqual(expect.arrayContaining([['failure', 'wrong_origin'], ['failure', 'wrong_rp_id'], ['failure', 'not_verified'], ['failure', 'wrong_challenge']]));
    const unnamed = await addPasskey(edith.email, softAuthenticator(server.issuer), { name: '  ' });
    expect(unnamed.done.response!.status).toBe(400);
    expect(unnamed.done.body).toContain('Give the passkey a name.');
  });

  it('is the second step after the password where an app asks for one (acr_values), only with the person\'s own passkey', async () => {
    const ken = await person('ken.passkey@example.com');
    const dennis = await person('dennis.passkey@example.com');
    const kensKey = softAuthenticator(server.issuer, { synced: true });
    const dennisKey = softAuthenticator(server.issuer);
    await addPasskey(ken.email, kensKey);
    await addPasskey(dennis.email, dennisKey);
    expect(await server.services.db.passkey.findUniqueOrThrow({ where: { id: kensKey.id } })).toMatchObject({ deviceType: 'multiDevice', backedUp: true });

    // Without acr_values the password alone still signs in: passkeys do not add a step by themselves.
    const plain = await startSignIn();
    const plainDone = await plain.agent.submit(plain.login.url, plain.login.body!, LOGIN_FORM, { email: ken.email, password: PASSWORD }, REDIRECT);
    expect(await idTokenOf(plain, plainDone.url)).toMatchObject({ amr: ['pwd'] });

    const signIn = await startSignIn({ acr_values: 'urn:ostiary:acr:mfa' });
    const step = await signIn.agent.submit(signIn.login.url, signIn.login.body!, LOGIN_FORM, { email: ken.email, password: PASSWORD }, REDIRECT);
    expect(step.response!.status).toBe(200);
    expect(step.body).toContain('Confirm with your passkey');
    expect(step.body).not.toContain('name="code"');
    const stepPage = { agent: signIn.agent, url: step.url, body: step.body! };
    const options = (await (await postJson(signIn.agent, new URL(optionsPathOf(stepPage.body), stepPage.url).toString(), { csrf: csrfOf(stepPage.body), pending: pendingOf(stepPage.body)! })).json()) as { challenge: string; allowCredentials: { id: string }[] };
    expect(options.allowCredentials.map((c) => c.id)).toEqual([kensKey.id]);
    const wrongPerson = await answer(stepPage, dennisKey, {}, options);
    expect(wrongPerson.next.response!.status).toBe(401);
    expect(wrongPerson.next.body).toContain('Confirm with your passkey');
    expect(await failureReasons(ken.id)).toContain('wrong_person');
    const again = { agent: signIn.agent, url: step.url, body: wrongPerson.next.body! };
    const { next } = await answer(again, kensKey);
    expect(next.response).toBeUndefined();
    expect(await idTokenOf(signIn, next.url)).toMatchObject({ sub: ken.id, amr: ['pwd', 'swk', 'user', 'mfa'], acr: 'urn:ostiary:acr:mfa' });
  });

  it('lists and removes passkeys on the account page; operators list and reset them (CLI, admin API); the person is mailed', async () => {
    const barbara = await person('barbara.passkey@example.com');
    const laptop = softAuthenticator(server.issuer);
    const phone = softAuthenticator(server.issuer, { synced: true });
    await addPasskey(barbara.email, laptop, { name: 'Laptop' });
    const { agent, done } = await addPasskey(barbara.email, phone, { name: 'Phone <b>' });
    expect(done.body).toContain('<strong>Phone &lt;b&gt;</strong> · synced');
    expect(done.body).toContain('aria-label="Remove the passkey Laptop"');

    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, LOG_LEVEL: 'silent', SMTP_URL: smtp.url() };
    const listed = await inProcess(['users', 'mfa', 'list', barbara.email, '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ email: barbara.email, totp: false, passkeys: [{ id: laptop.id, name: 'Laptop', synced: false }, { id: phone.id, name: 'Phone <b>', synced: true }] });
    const users = JSON.parse((await inProcess(['users', 'list', '--json'], env)).stdout) as { email: string; mfa: boolean }[];
    expect(users.find((u) => u.email === barbara.email)?.mfa).toBe(true);

    const csrf = csrfOf(done.body!);
    const wrongPassword = await agent.follow(`${server.issuer}/account/passkeys/remove`, REDIRECT, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, passkey: laptop.id, current_password: 'not the password at all' }).toString(),
    });
    expect(wrongPassword.response!.status).toBe(403);
    const removed = await agent.follow(`${server.issuer}/account/passkeys/remove`, REDIRECT, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, passkey: laptop.id, current_password: PASSWORD }).toString(),
    });
    expect(removed.body).toContain('The passkey was removed.');
    expect(removed.body).not.toContain('<strong>Laptop</strong>');
    const forged = await agent.follow(`${server.issuer}/account/passkeys/remove`, REDIRECT, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: 'forged', passkey: phone.id, current_password: PASSWORD }).toString(),
    });
    expect(forged.response!.status).toBe(403);
    expect(await server.services.db.passkey.count({ where: { userId: barbara.id } })).toBe(1);
    await eventually(() => smtp.to(barbara.email).find((m) => m.parsed.text?.includes('A passkey was removed')), 'the removal notice');

    const reader = await issueKey(server, ['users:read']);
    const writer = await issueKey(server, ['users:read', 'users:write']);
    expect(await admin(server, reader, 'GET', `/users/${barbara.id}/factors`)).toMatchObject({ status: 200, body: { totp: false, passkeys: [{ id: phone.id, name: 'Phone <b>', synced: true, last_used_at: null }] } });
    expect(await admin(server, writer, 'DELETE', `/users/${barbara.id}/factors`)).toMatchObject({ status: 200, body: { removed: true, totp: false, passkeys: 1 } });
    expect(await server.services.db.passkey.count({ where: { userId: barbara.id } })).toBe(0);
    const again = await inProcess(['users', 'mfa', 'reset', barbara.email, '--json'], env);
    expect(JSON.parse(again.stdout)).toEqual({ email: barbara.email, removed: false, totp: false, passkeys: 0 });
    await eventually(() => smtp.to(barbara.email).find((m) => m.parsed.text?.includes('removed its passkeys')), 'the reset notice');
  });

  it('expired challenges are deleted by the cleanup', async () => {
    await server.services.db.passkeyChallenge.create({ data: { id: 'expired-challenge', purpose: 'sign_in', boundTo: 'nobody', expiresAt: new Date(Date.now() - 1000) } });
    const result = await server.services.cleanup.run();
    expect(result.expiredChallenges).toBeGreaterThanOrEqual(1);
    expect(await server.services.db.passkeyChallenge.findUnique({ where: { id: 'expired-challenge' } })).toBeNull();
  });
});

describe('passkeys with MFA=required', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { MFA: 'required' }, { issuerHost: 'localhost' });
  });
  afterAll(async () => server?.stop());

  it('keep the last second factor: the only passkey of someone without an app cannot be removed', async () => {
    const user = await server.services.users.create({ email: 'john.passkey@example.com', password: PASSWORD, emailVerified: true }, TEST_ACTOR);
    await server.services.db.passkey.create({ data: { id: 'only-passkey-of-john', userId: user.id, name: 'Phone', publicKey: 'AA', counter: 0, transports: '', deviceType: 'singleDevice', backedUp: false } });
    await expect(server.services.accounts.removePasskey(user.id, PASSWORD, 'only-passkey-of-john', TEST_ACTOR)).rejects.toMatchObject({ code: 'mfa.required' });
    expect(await server.services.db.passkey.count({ where: { userId: user.id } })).toBe(1);
  });
});

describe('passkeys at an issuer with an IP address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(async () => server?.stop());

  it('are not offered (a relying party id is a host name)', async () => {
    const web = await createWebClient(server, { name: 'Web App', firstParty: true });
    const rp = await discover(server.issuer, web.id, web.secret);
    const login = await new UserAgent().follow((await startFlow(rp)).url, REDIRECT);
    expect(login.body).toMatch(LOGIN_FORM);
    expect(login.body).not.toContain('data-passkey');
    expect(login.body).not.toContain('/assets/passkey.js');
  });
});
