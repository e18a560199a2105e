import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA, BILLING, createWebClient, postForm, setUpWorker, type Worker } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startInstances, startTestServer, type TestServer } from '../support/server.ts';
import { authorize, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const ccForm = { grant_type: 'client_credentials', scope: 'invoices:read', resource: BILLING };

async function expectLimited(response: Response) {
  expect(response.status).toBe(429);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await response.json()).toEqual({ error: 'too_many_requests', error_description: 'Too many requests. Try again later.' });
}

describe('rate limits', () => {
  let server: TestServer;
  let worker: Worker;
  let web: { id: string; secret: string };
  beforeAll(async () => {
    server = await startTestServer('sqlite', {
      RATE_LIMIT_TOKEN_PER_CLIENT: '3',
      RATE_LIMIT_TOKEN_PER_IP: '5',
      RATE_LIMIT_LOGIN_PER_ACCOUNT: '2',
      RATE_LIMIT_AUTHORIZE_PER_IP: '6',
    });
    worker = await setUpWorker(server);
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { grantTypes: ['authorization_code'] });
  });
  afterAll(() => server?.stop());

  it('limits the token endpoint per client, then per IP', async () => {
    for (let i = 0; i < 3; i += 1) expect((await postForm(server, '/token', worker, ccForm)).status).toBe(200);
    await expectLimited(await postForm(server, '/token', worker, ccForm));
    // Another client from the same address still has its own allowance, until the IP's runs out.
    const other = await server.services.clients.create({ name: 'other', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
    const otherCreds = { id: other.client.clientId, secret: other.clientSecret! };
    expect((await postForm(server, '/token', otherCreds, ccForm)).status).toBe(200);
    await expectLimited(await postForm(server, '/token', otherCreds, ccForm));
  });

  it('limits sign-in attempts per account, counting look-alike addresses as one, and authorization requests per IP', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const attempt = async (email: string) => {
      const agent = new UserAgent();
      const step = await agent.follow((await startFlow(rp)).url, REDIRECT);
      return agent.request(new URL(step.body!.match(LOGIN_FORM)![1]!, step.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: step.body!.match(/name="csrf" value="([^"]+)"/)![1]!, email, password: 'wrong password' }),
      });
    };
    expect((await attempt(ADA.email)).status).toBe(401);
    expect((await attempt('ＡＤＡ@example.com')).status).toBe(401);
    const limited = await attempt('Ada@Example.com.');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.text()).toContain('Too many requests');

    const authorizeResponses = await Promise.all(Array.from({ length: 4 }, async () => (await fetch((await startFlow(rp)).url, { redirect: 'manual' })).status));
    expect(authorizeResponses).toContain(429);
  });
});

describe('rate limits shared through Redis by two instances', () => {
  let cluster: Awaited<ReturnType<typeof startInstances>>;
  let a: TestServer;
  let b: TestServer;
  let worker: Worker;
  beforeAll(async () => {
    const env = { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', RATE_LIMIT_TOKEN_PER_CLIENT: '4' };
    cluster = await startInstances(2, env);
    [a, b] = cluster.instances as [TestServer, TestServer];
    worker = await setUpWorker(a);
  });
  afterAll(() => cluster?.stop());

  it('counts requests to either instance against one limit', async () => {
    expect((await postForm(a, '/token', worker, ccForm)).status).toBe(200);
    expect((await postForm(b, '/token', worker, ccForm)).status).toBe(200);
    expect((await postForm(a, '/token', worker, ccForm)).status).toBe(200);
    expect((await postForm(b, '/token', worker, ccForm)).status).toBe(200);
    await expectLimited(await postForm(a, '/token', worker, ccForm));
    await expectLimited(await postForm(b, '/token', worker, ccForm));
  });
});

describe('account lockout', () => {
  let server: TestServer;
  let web: { id: string; secret: string };
  let adaId: string;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { LOGIN_LOCKOUT_THRESHOLD: '3', LOGIN_LOCKOUT_BASE_SECONDS: '1', LOGIN_LOCKOUT_MAX_SECONDS: '4' });
    adaId = (await server.services.users.create(ADA, TEST_ACTOR)).id;
    web = await createWebClient(server, { grantTypes: ['authorization_code'] });
  });
  afterAll(() => server?.stop());

  async function signIn(password: string, email = ADA.email) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const agent = new UserAgent();
    const step = await agent.follow((await startFlow(rp)).url, REDIRECT);
    const response = await agent.request(new URL(step.body!.match(LOGIN_FORM)![1]!, step.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: step.body!.match(/name="csrf" value="([^"]+)"/)![1]!, email, password }),
    });
    const page = (await response.text()).replace(/\/interaction\/[^/"]+\//g, '/interaction/UID/').replace(/value="[^"]*"/g, '');
    return { status: response.status, page };
  }

  it('locks after repeated failures under look-alike addresses, looks like a wrong password while locked, and unlocks when the lock expires', async () => {
    const wrong = await signIn('wrong password 1');
    expect(wrong.status).toBe(401);
    await signIn('wrong password 2', 'ＡＤＡ@example.com');
    await signIn('wrong password 3', 'Ada@Example.com.');
    const [lockout] = await server.services.audit.list({ type: 'login.lockout' });
    expect(lockout).toMatchObject({ outcome: 'failure', subject: adaId });

    const whileLocked = await signIn(ADA.password);
    expect(whileLocked).toEqual(wrong);
    const [failure] = await server.services.audit.list({ type: 'login.failure' });
    expect(failure!.details).toEqual({ reason: 'locked' });

    await new Promise((resolve) => setTimeout(resolve, 1100));
    const rp = await discover(server.issuer, web.id, web.secret);
    const { callbackUrl } = await authorize(new UserAgent(), (await startFlow(rp)).url, REDIRECT, { ...ADA, email: 'ＡＤＡ@example.com' });
    expect(new URL(callbackUrl).searchParams.get('code')).toEqual(expect.any(String));
    const [success] = await server.services.audit.list({ type: 'login.success' });
    expect(success).toMatchObject({ outcome: 'success', subject: adaId });
  });
});
