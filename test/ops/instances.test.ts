import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA, BILLING, createWebClient, introspect, m2mToken, postForm, setUpWorker, type Worker } from '../support/fixtures.ts';
import { REDIRECT } from '../support/flows.ts';
import { kidOf, oidc, verifyJwt } from '../support/relying-party.ts';
import { startInstances, type TestServer } from '../support/server.ts';
import { CONSENT_FORM, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const RELOAD_SECONDS = 2;
const LIMIT = 100;

describe('three instances behind one name, sharing PostgreSQL and Redis', () => {
  let cluster: Awaited<ReturnType<typeof startInstances>>;
  let instances: TestServer[];
  let web: { id: string; secret: string };
  let worker: Worker;
  const [one, two, three] = [0, 1, 2];

  beforeAll(async () => {
    const env = {
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      KEY_RELOAD_SECONDS: String(RELOAD_SECONDS),
      JWKS_MAX_AGE_SECONDS: '60',
      RATE_LIMIT_TOKEN_PER_CLIENT: String(LIMIT),
      // One public name for all three, as behind a load balancer.
      ISSUER: 'https://id.example.test',
    };
    cluster = await startInstances(3, env);
    instances = cluster.instances;
    await instances[0]!.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(instances[0]!);
    worker = await setUpWorker(instances[0]!);
  });
  afterAll(() => cluster?.stop());

  /** The same path (and query) on another instance, as a load balancer might send it. */
  const on = (index: number, url: string) => {
    const parsed = new URL(url, instances[0]!.url);
    return `${instances[index]!.url}${parsed.pathname}${parsed.search}`;
  };
  const form = (csrfFrom: string, fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrfFrom.match(/name="csrf" value="([^"]+)"/)![1]!, ...fields }).toString(),
  });

  /** A sign-in whose every step lands on a different instance; returns the token response. */
  async function signInAcross(credentials: { email: string; password: string }) {
    const agent = new UserAgent();
    const verifier = oidc.randomPKCECodeVerifier();
    const authorize = new URL(`${instances[one]!.url}/auth`);
    authorize.search = new URLSearchParams({
      client_id: web.id,
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: REDIRECT,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
      nonce: 'nn',
    }).toString();

    const toLogin = await agent.request(authorize); // instance 1
    const loginPage = await agent.request(on(one, toLogin.headers.get('location')!));
    const loginBody = await loginPage.text();
    const loggedIn = await agent.request(on(two, loginBody.match(LOGIN_FORM)![1]!), form(loginBody, credentials)); // instance 2
    expect(loggedIn.status).toBe(303);
    const resumed = await agent.request(on(three, loggedIn.headers.get('location')!)); // instance 3
    const consentPage = await agent.request(on(three, resumed.headers.get('location')!));
    const consentBody = await consentPage.text();
    const consented = await agent.request(on(one, consentBody.match(CONSENT_FORM)![1]!), form(consentBody, {})); // instance 1
    const callback = await agent.request(on(two, consented.headers.get('location')!)); // instance 2
    const code = new URL(callback.headers.get('location')!).searchParams.get('code')!;
    expect(code).toEqual(expect.any(String));

    const exchange = await postForm(instances[three]!, '/token', web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }); // instance 3
    expect(exchange.status).toBe(200);
    return (await exchange.json()) as { id_token: string; access_token: string; refresh_token: string };
  }

  it('completes a sign-in whose every step lands on a different instance', async () => {
    const tokens = await signInAcross(ADA);
    const { payload } = await verifyJwt('https://id.example.test', tokens.id_token, web.id, undefined, instances[two]!.url);
    expect(payload.nonce).toBe('nn');

    const refreshed = await postForm(instances[one]!, '/token', web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }); // instance 1
    expect(refreshed.status).toBe(200);
  });

  it('signs on every instance with the key one of them rotated to, within the reload bound', async () => {
    const { current } = await instances[two]!.services.signingKeys.rotate(TEST_ACTOR);
    const deadline = Date.now() + RELOAD_SECONDS * 1000 + 1500;
    for (const index of [one, three]) {
      let kid = kidOf(await m2mToken(instances[index]!, worker));
      while (kid !== current && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        kid = kidOf(await m2mToken(instances[index]!, worker));
      }
      expect(kid, `instance ${index + 1}`).toBe(current);
    }
  });

  it('shares the rate limit counters', async () => {
    const fresh = await instances[three]!.services.clients.create({ name: 'burst', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
    const creds = { id: fresh.client.clientId, secret: fresh.clientSecret! };
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i += 1) {
      const response = await postForm(instances[i % 3]!, '/token', creds, { grant_type: 'client_credentials', scope: 'invoices:read', resource: BILLING });
      statuses.push(response.status);
    }
    // Each instance alone saw about a third of the limit; together they reached it.
    expect(statuses.slice(0, LIMIT).every((s) => s === 200)).toBe(true);
    expect(statuses[LIMIT]).toBe(429);
  });

  it('stops honouring the tokens of a disabled person on every instance at once', async () => {
    const person = { email: 'grace@example.com', password: 'correct horse battery staple' };
    await instances[one]!.services.users.create(person, TEST_ACTOR);
    const tokens = await signInAcross(person);
    for (const instance of instances) expect((await introspect(instance, web, tokens.refresh_token!)).active).toBe(true);
    await instances[one]!.services.users.update(person.email, { disabled: true }, TEST_ACTOR);
    for (const [index, instance] of instances.entries()) {
      for (const token of [tokens.access_token, tokens.refresh_token!]) expect(await introspect(instance, web, token), `instance ${index + 1}`).toEqual({ active: false });
    }
  });
});
