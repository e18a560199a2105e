import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JWK } from 'jose';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { startForgingOidcUpstream, startGithubLikeUpstream, type ForgingOidcUpstream, type GithubLikeUpstream, type Spoil } from '../support/upstreams.ts';
import { authorize, UserAgent } from '../support/user-agent.ts';

const UPSTREAM_FORM = (slug: string) => new RegExp(`<form method="post" action="([^"]+/upstreams/${slug})"`);
const LINK_FORM = /<form method="post" action="([^"]+\/link)"/;

describe.each(DATABASES)('signing in through upstream identity providers (%s)', (kind) => {
  let server: TestServer;
  let corp: ForgingOidcUpstream;
  let github: GithubLikeUpstream;
  let client: Credentials;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer(kind, { UPSTREAM_DOMAINS: 'corp.example=corp', RATE_LIMIT_LOGIN_PER_IP: '1000', RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000' });
    const { upstreams } = server.services;
    corp = await startForgingOidcUpstream({ redirectUri: upstreams.redirectUri('corp'), subject: 'corp-1', email: 'grace@corp.example', emailVerified: true, name: 'Grace' });
    github = await startGithubLikeUpstream({ redirectUri: upstreams.redirectUri('github') });
    await server.services.roles.create({ name: 'staff', permissions: [] }, TEST_ACTOR);
    await upstreams.create({ slug: 'corp', name: 'Corp', kind: 'oidc', issuer: corp.issuer, clientId: corp.clientId, clientSecret: corp.clientSecret, jit: true, defaultRoles: ['staff'] }, TEST_ACTOR);
    await upstreams.create(
      { slug: 'github', name: 'GitHub', preset: 'github', authorizationUrl: github.authorizationUrl, tokenUrl: github.tokenUrl, userinfoUrl: github.userinfoUrl, emailsUrl: github.emailsUrl, clientId: github.clientId, clientSecret: github.clientSecret, jit: true },
      TEST_ACTOR,
    );
    await server.services.users.create({ ...ADA, name: 'Ada', emailVerified: true }, TEST_ACTOR);
    client = await createWebClient(server, { name: 'Web App', firstParty: true, grantTypes: ['authorization_code'] });
    rp = await discover(server.issuer, client.id, client.secret);
  });
  afterAll(async () => {
    await corp?.stop();
    await github?.stop();
    await server?.stop();
  });

  /** Starts an app's sign-in and presses "Continue with NAME"; returns where that ends (the app, or one of our pages). */
  async function viaUpstream(slug: string, agent = new UserAgent()) {
    const flow = await startFlow(rp);
    const login = await agent.follow(flow.url, REDIRECT);
    expect(login.body).toMatch(UPSTREAM_FORM(slug));
    const step = await agent.submit(login.url, login.body!, UPSTREAM_FORM(slug), {}, REDIRECT);
    return { flow, step, agent };
  }

  async function idTokenOf(flow: Awaited<ReturnType<typeof startFlow>>, callbackUrl: string) {
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    return (await verifyJwt(server.issuer, tokens.id_token!, client.id)).payload;
  }

  const userCount = () => server.services.db.user.count();

  async function refusals() {
    await server.services.audit.flush();
    return (await server.services.audit.page({ type: 'upstream.refused', limit: 100 })).items;
  }

  it('offers one button per enabled upstream and sends the upstream PKCE S256, state and nonce', async () => {
    const agent = new UserAgent();
    const login = await agent.follow((await startFlow(rp)).url, REDIRECT);
    expect(login.body).toContain('Continue with Corp');
    expect(login.body).toContain('Continue with GitHub');
    await agent.submit(login.url, login.body!, UPSTREAM_FORM('corp'), {}, `${server.issuer}/upstreams/corp/callback`);
    const sent = corp.lastAuthorization!;
    expect(sent.get('code_challenge_method')).toBe('S256');
    expect(sent.get('redirect_uri')).toBe(`${server.issuer}/upstreams/corp/callback`);
    expect(sent.get('state')?.length).toBeGreaterThan(20);
    expect(sent.get('nonce')?.length).toBeGreaterThan(20);
  });

  it('creates a person on the first sign-in (just in time), with fed in amr and the slug in idp; the second finds the same sub', async () => {
    const before = await userCount();
    const first = await viaUpstream('corp');
    const claims = await idTokenOf(first.flow, first.step.url);
    expect(claims.amr).toEqual(['fed']);
    expect(claims.acr).toBe('urn:ostiary:acr:federated');
    expect(claims.idp).toBe('corp');
    expect(claims.email).toBe('grace@corp.example');
    expect(claims.email_verified).toBe(true);
    expect(await userCount()).toBe(before + 1);
    const person = await server.services.users.resolve('grace@corp.example');
    expect(person.name).toBe('Grace');
    expect(person.roles).toEqual(['staff']);
    // No password was chosen: none signs in.
    expect((await server.services.users.authenticate('grace@corp.example', '')).ok).toBe(false);

    const second = await viaUpstream('corp');
    expect((await idTokenOf(second.flow, second.step.url)).sub).toBe(claims.sub);
    expect(await userCount()).toBe(before + 1);
  });

  it('sends the people of a mapped domain to their upstream when they type their address (home-realm discovery)', async () => {
    const agent = new UserAgent();
    const flow = await startFlow(rp);
    const login = await agent.follow(flow.url, REDIRECT);
    const step = await agent.submit(login.url, login.body!, /<form method="post" action="([^"]+\/login)"/, { email: 'grace@corp.example', password: '' }, REDIRECT);
    expect((await idTokenOf(flow, step.url)).idp).toBe('corp');
    expect(corp.lastAuthorization?.get('login_hint')).toBe('grace@corp.example');
  });

  it('signs in through a GitHub-like OAuth 2.0 provider with its verified primary address and its numeric id', async () => {
    github.setIdentity({ id: 4242, login: 'hopper', name: null, emails: [{ email: 'other@example.net', primary: false, verified: true }, { email: 'Hopper@Example.net', primary: true, verified: true }] });
    const { flow, step } = await viaUpstream('github');
    expect(step.body?.match(/role="alert">([^<]*)/)?.[1]).toBeUndefined();
    const claims = await idTokenOf(flow, step.url);
    expect(claims.email).toBe('hopper@example.net');
    expect(claims.idp).toBe('github');
    expect((await server.services.users.resolve('hopper@example.net')).name).toBe('hopper');
    const identity = await server.services.db.upstreamIdentity.findFirst({ where: { upstreamId: 'github' } });
    expect(identity?.subject).toBe('4242');
  });

  it('links to an existing account only after its password, never by the address alone', async () => {
    corp.setIdentity({ subject: 'corp-ada', email: ADA.email, emailVerified: true, name: 'Ada at Corp' });
    const ada = await server.services.users.resolve(ADA.email);
    const { flow, step, agent } = await viaUpstream('corp');
    expect(step.response?.status).toBe(200);
    expect(step.body).toContain('Link Corp to your account');
    expect(await server.services.db.upstreamIdentity.count({ where: { userId: ada.id } })).toBe(0);

    const pendingOf = (body: string) => body.match(/name="pending" value="([^"]+)"/)![1]!;
    const wrong = await agent.submit(step.url, step.body!, LINK_FORM, { pending: pendingOf(step.body!), password: 'not the password' }, REDIRECT);
    expect(wrong.response?.status).toBe(401);
    expect(wrong.body).toContain('The password is not right.');
    expect(await server.services.db.upstreamIdentity.count({ where: { userId: ada.id } })).toBe(0);

    const right = await agent.submit(wrong.url, wrong.body!, LINK_FORM, { pending: pendingOf(wrong.body!), password: ADA.password }, REDIRECT);
    const claims = await idTokenOf(flow, right.url);
    expect(claims.sub).toBe(ada.id);
    expect(claims.amr).toEqual(['fed', 'pwd']);
    expect(await server.services.db.upstreamIdentity.count({ where: { userId: ada.id, upstreamId: 'corp' } })).toBe(1);

    // From now on the upstream alone signs Ada in.
    const again = await viaUpstream('corp');
    expect((await idTokenOf(again.flow, again.step.url)).sub).toBe(ada.id);
  });

  it('neither links nor creates an account for an address the upstream does not vouch for, and says the same either way', async () => {
    await server.services.users.create({ email: 'lin@example.com', password: ADA.password, emailVerified: true }, TEST_ACTOR);
    const before = await userCount();
    const pages = [];
    for (const email of ['lin@example.com', 'nobody-here@example.com']) {
      corp.setIdentity({ subject: `corp-${email}`, email, emailVerified: false });
      const { step } = await viaUpstream('corp');
      expect(step.response?.status).toBe(403);
      expect(step.body).toContain('does not confirm this address is yours');
      expect(step.body).toContain('Back to the sign-in page');
      pages.push(step.body!.match(/role="alert">([^<]*)/)?.[1]);
    }
    expect(pages[0]).toBe(pages[1]);
    expect(await userCount()).toBe(before);
    expect(await server.services.db.upstreamIdentity.count({ where: { subject: { startsWith: 'corp-' }, email: { in: ['lin@example.com', 'nobody-here@example.com'] } } })).toBe(0);
  });

  it('asks a person with an authenticator app for its code after the upstream, and links only after it', async () => {
    const person = await server.services.users.create({ email: 'totp@example.com', password: ADA.password, emailVerified: true }, TEST_ACTOR);
    const setup = await server.services.mfa.beginTotp(person.id, person.email);
    const code = (timestamp = Date.now()) => new TOTP({ secret: Secret.fromBase32(setup.secret) }).generate({ timestamp });
    await server.services.mfa.confirmTotp(person.id, code(), TEST_ACTOR);
    corp.setIdentity({ subject: 'corp-totp', email: 'totp@example.com', emailVerified: true });
    const { flow, step, agent } = await viaUpstream('corp');
    const pendingOf = (body: string) => body.match(/name="pending" value="([^"]+)"/)![1]!;
    const codePage = await agent.submit(step.url, step.body!, LINK_FORM, { pending: pendingOf(step.body!), password: ADA.password }, REDIRECT);
    expect(codePage.body).toContain('name="code"');
    // The password alone links nothing: the code is still to come.
    expect(await server.services.db.upstreamIdentity.count({ where: { subject: 'corp-totp' } })).toBe(0);
    const done = await agent.submit(codePage.url, codePage.body!, /<form method="post" action="([^"]+\/second-factor)"/, { pending: pendingOf(codePage.body!), code: code(Date.now() + 30_000) }, REDIRECT);
    const claims = await idTokenOf(flow, done.url);
    expect(claims).toMatchObject({ sub: person.id, idp: 'corp', acr: 'urn:ostiary:acr:mfa' });
    expect(claims.amr).toEqual(['fed', 'pwd', 'otp', 'mfa']);
    expect(await server.services.db.upstreamIdentity.count({ where: { subject: 'corp-totp', userId: person.id } })).toBe(1);
  });

  it.each<Exclude<Spoil, 'none'>>(['wrong-audience', 'expired', 'wrong-nonce', 'bad-signature', 'wrong-issuer', 'wrong-iss-parameter'])(
    'refuses an answer with a spoiled ID token or response (%s): nothing is created, and it is audited',
    async (spoil) => {
      corp.setIdentity({ subject: `forged-${spoil}`, email: `forged-${spoil}@corp.example`, emailVerified: true });
      corp.spoil(spoil);
      const before = await userCount();
      const { step } = await viaUpstream('corp');
      expect(step.response?.status).toBe(400);
      expect(step.body).toContain('could not be accepted');
      expect(step.body).not.toMatch(/at .*\.ts:\d+/);
      expect(await userCount()).toBe(before);
      const last = (await refusals())[0]!;
      expect(last.details).toMatchObject({ upstream: 'corp', reason: 'invalid' });
    },
  );

  it('refuses a callback with a wrong state, a replayed callback, and one without a sign-in started', async () => {
    corp.setIdentity({ subject: 'corp-state', email: 'state@corp.example', emailVerified: true });
    const agent = new UserAgent();
    const login = await agent.follow((await startFlow(rp)).url, REDIRECT);
    const atUpstream = await agent.submit(login.url, login.body!, UPSTREAM_FORM('corp'), {}, `${server.issuer}/upstreams/corp/callback`);
    const callback = new URL(atUpstream.url);
    const forged = new URL(callback);
    forged.searchParams.set('state', 'not-the-state');
    const wrongState = await agent.follow(forged, REDIRECT);
    expect(wrongState.response?.status).toBe(400);
    // The pending sign-in was used up by the forged answer: the real one finds nothing to continue.
    const replay = await agent.follow(callback, REDIRECT);
    expect(replay.response?.status).toBe(400);
    const stranger = await new UserAgent().follow(callback, REDIRECT);
    expect(stranger.response?.status).toBe(400);
    expect(stranger.body).toContain('could not be continued');
    expect(await server.services.db.user.count({ where: { email: 'state@corp.example' } })).toBe(0);
    const reasons = (await refusals()).slice(0, 3).map((event) => (event.details as { error?: string }).error);
    expect(reasons).toContain('no_pending_sign_in');
  });

  it('shows our error page when the upstream says no or cannot be reached; nothing is created', async () => {
    github.failNext('access_denied');
    const denied = await viaUpstream('github');
    expect(denied.step.response?.status).toBe(403);
    expect(denied.step.body).toContain('GitHub did not sign you in');
    expect((await refusals())[0]!.details).toMatchObject({ upstream: 'github', reason: 'denied', error: 'access_denied' });

    const port = await freePort();
    await server.services.upstreams.create({ slug: 'gone', name: 'Gone', kind: 'oidc', issuer: `http://127.0.0.1:${port}`, clientId: 'x', clientSecret: 'y' }, TEST_ACTOR);
    const before = await userCount();
    const down = await viaUpstream('gone');
    expect(down.step.response?.status).toBe(502);
    expect(down.step.body).toContain('Gone could not be reached');
    expect(down.step.body).toMatch(/href="\/interaction\/[^"]+">Back to the sign-in page/);
    expect((await refusals())[0]!.details).toMatchObject({ upstream: 'gone', reason: 'unavailable' });
    expect(await userCount()).toBe(before);
    await server.services.upstreams.delete('gone', TEST_ACTOR);
  });

  it('refuses a person with no account through an upstream that does not create accounts', async () => {
    await server.services.upstreams.update('github', { jit: false }, TEST_ACTOR);
    github.setIdentity({ id: 777, login: 'nobody', emails: [{ email: 'nobody@example.org', primary: true, verified: true }] });
    const before = await userCount();
    const { step } = await viaUpstream('github');
    expect(step.response?.status).toBe(403);
    expect(step.body).toContain('accounts are not created through GitHub');
    expect(await userCount()).toBe(before);
  });

  it('takes the answer posted to the redirect URI too (response_mode=form_post, as Apple answers)', async () => {
    corp.setIdentity({ subject: 'corp-1', email: 'grace@corp.example', emailVerified: true });
    const agent = new UserAgent();
    const flow = await startFlow(rp);
    const login = await agent.follow(flow.url, REDIRECT);
    const callbackUri = `${server.issuer}/upstreams/corp/callback`;
    const atCallback = await agent.submit(login.url, login.body!, UPSTREAM_FORM('corp'), {}, callbackUri);
    const answer = new URL(atCallback.url).searchParams;
    const posted = await agent.follow(callbackUri, REDIRECT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: answer.toString() });
    expect((await idTokenOf(flow, posted.url)).idp).toBe('corp');
  });

  it('authenticates at the upstream with private_key_jwt: a key of its own, sealed, whose public half it publishes', async () => {
    const keyed = await startForgingOidcUpstream({ redirectUri: server.services.upstreams.redirectUri('keyed'), subject: 'keyed-1', email: 'keyed@example.org', emailVerified: true });
    try {
      const created = await server.services.upstreams.create({ slug: 'keyed', name: 'Keyed', kind: 'oidc', issuer: keyed.issuer, clientId: keyed.clientId, clientAuth: 'private_key_jwt', jit: true }, TEST_ACTOR);
      expect(created.clientAuth).toBe('private_key_jwt');
      expect(created.jwksUri).toBe(`${server.issuer}/upstreams/keyed/jwks.json`);
      const published = (await (await fetch(created.jwksUri!)).json()) as { keys: JWK[] };
      expect(published).toEqual(created.publicJwks);
      expect(JSON.stringify(published)).not.toMatch(/"d"|"p"|"q"/);
      const row = await server.services.db.upstream.findUniqueOrThrow({ where: { id: 'keyed' } });
      expect(row.clientSecretSealed).toBeNull();
      expect(row.privateKeySealed).not.toContain('"d"');
      keyed.trustClientKeys(published);
      const { flow, step } = await viaUpstream('keyed');
      expect((await idTokenOf(flow, step.url)).idp).toBe('keyed');
      expect(keyed.lastClientAuth).toBe('private_key_jwt');
      expect((await fetch(`${server.issuer}/upstreams/corp/jwks.json`)).status).toBe(404);
    } finally {
      await server.services.upstreams.delete('keyed', TEST_ACTOR);
      await keyed.stop();
    }
  });

  it('has a person coming through an upstream set up a second factor for a client that requires one', async () => {
    const strict = await createWebClient(server, { name: 'Strict', firstParty: true, grantTypes: ['authorization_code'], requireMfa: true });
    const strictRp = await discover(server.issuer, strict.id, strict.secret);
    corp.setIdentity({ subject: 'corp-strict', email: 'strict@corp.example', emailVerified: true });
    const agent = new UserAgent();
    const login = await agent.follow((await startFlow(strictRp)).url, REDIRECT);
    const step = await agent.submit(login.url, login.body!, UPSTREAM_FORM('corp'), {}, REDIRECT);
    expect(step.response?.status).toBe(200);
    expect(step.body).toContain('/second-factor/setup');
    // Not signed in until the app is set up.
    const identity = await server.services.db.upstreamIdentity.findFirstOrThrow({ where: { subject: 'corp-strict' } });
    await server.services.audit.flush();
    const logins = await server.services.audit.page({ type: 'login.success', subject: identity.userId, limit: 10 });
    expect(logins.items).toHaveLength(0);
  });

  it('lets a client restrict its users to some upstreams, without passwords', async () => {
    const only = await createWebClient(server, { name: 'Corp Only', firstParty: true, grantTypes: ['authorization_code'], upstreams: ['corp'], passwordSignIn: false });
    const onlyRp = await discover(server.issuer, only.id, only.secret);
    // Signed in with a password for another app: this one asks again, without a password field.
    const agent = new UserAgent();
    await authorize(agent, (await startFlow(rp)).url, REDIRECT, ADA);
    const login = await agent.follow((await startFlow(onlyRp)).url, REDIRECT);
    expect(login.body).toContain('Continue with Corp');
    expect(login.body).not.toContain('Continue with GitHub');
    expect(login.body).not.toContain('type="password"');
    const csrf = login.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const post = (path: string, form: Record<string, string>) =>
      agent.follow(new URL(path, login.url), REDIRECT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, ...form }).toString() });
    const uidPath = login.body!.match(UPSTREAM_FORM('corp'))![1]!.replace(/\/upstreams\/corp$/, '');
    const password = await post(`${uidPath}/login`, { email: ADA.email, password: ADA.password });
    expect(password.response?.status).toBe(403);
    expect(password.body).toContain('does not take passwords');
    const github = await post(`${uidPath}/upstreams/github`, {});
    expect(github.response?.status).toBe(404);
    const shown = await server.services.clients.show(only.id);
    expect(shown).toMatchObject({ upstreams: ['corp'], passwordSignIn: false });
  });

  it('never lets an unknown or disabled upstream start a sign-in', async () => {
    await server.services.upstreams.update('github', { enabled: false }, TEST_ACTOR);
    const agent = new UserAgent();
    const login = await agent.follow((await startFlow(rp)).url, REDIRECT);
    expect(login.body).not.toContain('Continue with GitHub');
    const csrf = login.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const action = login.body!.match(UPSTREAM_FORM('corp'))![1]!.replace('/corp', '/github');
    const started = await agent.follow(new URL(action, login.url), REDIRECT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf }).toString() });
    expect(started.response?.status).toBe(404);
    await server.services.upstreams.update('github', { enabled: true, jit: true }, TEST_ACTOR);
  });
});
