import { TEST_ACTOR } from '../support/actor.ts';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { issueKey, admin } from '../admin/support.ts';
import { ostiary } from '../support/cli.ts';
import { ADA, BILLING, createBillingApi, createWebClient, introspect, postForm } from '../support/fixtures.ts';
import { codeFlow, REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { authorize, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

type Creds = { id: string; secret: string };

describe.each(DATABASES)('refresh rotation, reuse detection, introspection and revocation (%s)', (kind) => {
  let server: TestServer;
  let web: Creds;
  let billingApi: Creds;
  let other: Creds;

  /** Code flow asking for the Billing API; the code exchange returns an opaque UserInfo token. */
  async function signIn(who = ADA, agent?: UserAgent) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, who, { extra: { scope: 'openid invoices:read', resource: BILLING }, agent });
    return { rp, tokens };
  }

  beforeAll(async () => {
    server = await startTestServer(kind);
    const { users, clients } = server.services;
    await createBillingApi(server);
    await users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { scopes: ['invoices:read'] });
    const rs = await clients.create({ name: 'billing-api', grantTypes: [], introspectionAudiences: [BILLING] }, TEST_ACTOR);
    billingApi = { id: rs.client.clientId, secret: rs.clientSecret! };
    const o = await clients.create({ name: 'other', grantTypes: ['client_credentials'] }, TEST_ACTOR);
    other = { id: o.client.clientId, secret: o.clientSecret! };
  });
  afterAll(() => server?.stop());

  it('rotates on every use; reusing an old refresh token revokes the whole grant and is audited', async () => {
    const { rp, tokens } = await signIn();
    const opaqueAccessToken = tokens.access_token;
    const first = tokens.refresh_token!;
    const second = await oidc.refreshTokenGrant(rp, first, { resource: BILLING });
    const jwtAccessToken = second.access_token;
    expect(decodeJwt(jwtAccessToken).aud).toBe(BILLING);
    expect(await introspect(server, web, opaqueAccessToken)).toMatchObject({ active: true, client_id: web.id });
    expect(await introspect(server, web, jwtAccessToken)).toMatchObject({ active: true, aud: BILLING, scope: 'invoices:read' });
    expect(await introspect(server, web, second.refresh_token!)).toMatchObject({ active: true, client_id: web.id });

    await expect(oidc.refreshTokenGrant(rp, first)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expect(oidc.refreshTokenGrant(rp, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await introspect(server, web, opaqueAccessToken)).toEqual({ active: false });
    expect(await introspect(server, web, jwtAccessToken)).toEqual({ active: false });
    const events = await server.services.audit.list({ type: 'refresh_token.reuse_detected' });
    expect(events[0]).toMatchObject({ clientId: web.id, outcome: 'failure' });
    expect(JSON.stringify(events)).not.toContain(first);
  });

  it('lets the API introspect tokens for it, and no other client', async () => {
    const { rp, tokens } = await signIn();
    const api = (await oidc.refreshTokenGrant(rp, tokens.refresh_token!, { resource: BILLING })).access_token;
    expect(await introspect(server, billingApi, api)).toMatchObject({ active: true, aud: BILLING, client_id: web.id });
    expect(await introspect(server, other, api)).toEqual({ active: false });
    expect(await introspect(server, billingApi, 'not-a-token')).toEqual({ active: false });
    const forged = `${api.slice(0, api.lastIndexOf('.'))}.${Buffer.from('forged').toString('base64url')}`;
    expect(await introspect(server, billingApi, forged)).toEqual({ active: false });
    // Without client authentication: refused, with nothing about the token.
    const anonymous = await postForm(server, '/token/introspection', null, { token: api });
    expect(anonymous.status).toBe(400);
    expect(await anonymous.json()).toEqual({ error: 'invalid_request', error_description: 'no client authentication mechanism provided' });
  });

  it('revoking a refresh token revokes its grant', async () => {
    const { rp, tokens } = await signIn();
    const revoked = await postForm(server, '/token/revocation', web, { token: tokens.refresh_token!, token_type_hint: 'refresh_token' });
    expect(revoked.status).toBe(200);
    expect(await introspect(server, web, tokens.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await postForm(server, '/token/revocation', null, { token: tokens.access_token })).status).toBe(400);
  });

  it.each(['authorization code', 'refresh token'])('redeems one %s exactly once among 20 concurrent requests', async (what) => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const flow = await startFlow(rp);
    const { callbackUrl } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    const code = new URL(callbackUrl).searchParams.get('code')!;
    let form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: flow.verifier };
    if (what === 'refresh token') {
      const first = await postForm(server, '/token', web, form);
      const { refresh_token } = (await first.json()) as { refresh_token: string };
      form = { grant_type: 'refresh_token', refresh_token };
    }
    const responses = await Promise.all(Array.from({ length: 20 }, () => postForm(server, '/token', web, form)));
    const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, body: (await r.json()) as { error?: string } })));
    expect(bodies.filter((b) => b.status === 200)).toHaveLength(1);
    const failures = bodies.filter((b) => b.status !== 200);
    expect(failures).toHaveLength(19);
    for (const failure of failures) expect(failure).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  describe.each(['admin API', 'CLI'])('disabling a person through the %s', (front) => {
    const person = { email: `grace-${front === 'CLI' ? 'cli' : 'api'}@example.com`, password: 'correct horse battery staple' };

    async function disable(userId: string) {
      if (front === 'CLI') {
        const run = await ostiary(['users', 'disable', person.email, '--json'], { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url });
        expect(run.code, run.stderr).toBe(0);
      } else {
        const response = await admin(server, await issueKey(server, ['users:write']), 'PATCH', `/users/${userId}`, { disabled: true });
        expect(response.status).toBe(200);
      }
    }

    it('ends their sessions and grants: every token of theirs introspects inactive and the browser is asked to sign in', async () => {
      const user = await server.services.users.create(person, TEST_ACTOR);
      const agent = new UserAgent();
      const { rp, tokens } = await signIn(person, agent);
      const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, { resource: BILLING });
      const held = { opaqueAccess: tokens.access_token, jwtAccess: refreshed.access_token, refresh: refreshed.refresh_token! };
      for (const token of Object.values(held)) expect((await introspect(server, web, token)).active).toBe(true);
      expect((await introspect(server, billingApi, held.jwtAccess)).active).toBe(true);

      await disable(user.id);

      for (const [name, token] of Object.entries(held)) expect(await introspect(server, web, token), name).toEqual({ active: false });
      expect(await introspect(server, billingApi, held.jwtAccess)).toEqual({ active: false });
      await expect(oidc.refreshTokenGrant(rp, held.refresh)).rejects.toMatchObject({ error: 'invalid_grant' });
      expect(await server.services.db.oidcPayload.count({ where: { accountId: user.id } })).toBe(0);

      // The browser still carries the session cookie: it gets the sign-in page, not an error.
      const again = await startFlow(rp, { scope: 'openid invoices:read', resource: BILLING });
      const step = await agent.follow(again.url, REDIRECT);
      expect(step.response?.status).toBe(200);
      expect(step.body).toMatch(LOGIN_FORM);
      const denied = await agent.submit(step.url, step.body!, LOGIN_FORM, person, REDIRECT);
      expect(denied.response?.status).toBe(401);
      expect(denied.body).toContain('Invalid email or password.');
    });
  });

  describe.each<[string, Record<string, string>]>([
    ['disabled', {}],
    ['disabled', { prompt: 'consent' }],
    ['disabled', { prompt: 'none' }],
    ['deleted', {}],
  ])('a session whose person was %s in the database directly (%j)', (change, extra) => {
    it('is treated as ended: the sign-in page (or login_required), never a server error', async () => {
      const person = { email: `hopper-${change}-${extra.prompt ?? 'default'}@example.com`, password: 'correct horse battery staple' };
      const user = await server.services.users.create(person, TEST_ACTOR);
      const agent = new UserAgent();
      const { rp, tokens } = await signIn(person, agent);
      // As a direct database edit (or an older release) leaves it: the session and grant remain.
      if (change === 'disabled') await server.services.db.user.update({ where: { id: user.id }, data: { disabled: true } });
      else await server.services.db.user.delete({ where: { id: user.id } });
      expect(await server.services.db.oidcPayload.count({ where: { accountId: user.id, type: 'Session' } })).toBe(1);
      for (const token of [tokens.access_token, tokens.refresh_token!]) expect(await introspect(server, web, token)).toEqual({ active: false });

      const step = await agent.follow((await startFlow(rp, { ...extra })).url, REDIRECT);
      if (extra.prompt === 'none') {
        expect(new URL(step.url).searchParams.get('error')).toBe('login_required');
        return;
      }
      expect(step.response?.status).toBe(200);
      expect(step.body).toMatch(LOGIN_FORM);
      // Someone else signs in from the same browser, straight back to the app.
      const { callbackUrl } = await authorize(agent, (await startFlow(rp)).url, REDIRECT, ADA);
      expect(new URL(callbackUrl).searchParams.get('code')).toBeTruthy();
    });
  });
});
