import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ostiary } from '../support/cli.ts';
import { ADA, BILLING, createWebClient, postForm, setUpWorker } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { authorize, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const LOGGED_OUT = 'https://app.example.com/logged-out';

describe('audit trail', () => {
  let server: TestServer;
  const secrets: string[] = [ADA.password];

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.services.users.create(ADA, TEST_ACTOR);
    const worker = await setUpWorker(server);
    secrets.push(worker.secret);
    const web = await createWebClient(server, { postLogoutRedirectUris: [LOGGED_OUT] });
    secrets.push(web.secret);
    const rp = await discover(server.issuer, web.id, web.secret);

    // A failed then a successful sign-in, consent, code exchange, refresh, reuse, revocation, logout.
    const agent = new UserAgent();
    const flow = await startFlow(rp);
    const page = await agent.follow(flow.url, REDIRECT);
    await agent.submit(page.url, page.body!, LOGIN_FORM, { email: ADA.email, password: 'not the password' }, REDIRECT);
    secrets.push('not the password');
    const { callbackUrl } = await authorize(agent, flow.url, REDIRECT, ADA);
    secrets.push(new URL(callbackUrl).searchParams.get('code')!);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    secrets.push(tokens.access_token, tokens.refresh_token!, tokens.id_token!, refreshed.access_token, refreshed.refresh_token!);
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!).catch(() => {});

    const second = await authorize(agent, (await startFlow(rp)).url, REDIRECT, ADA);
    const secondFlowTokens = await postForm(server, '/token', web, { grant_type: 'authorization_code', code: new URL(second.callbackUrl).searchParams.get('code')!, redirect_uri: REDIRECT }).then((r) => r.json());
    expect(secondFlowTokens).toMatchObject({ error: 'invalid_grant' }); // no verifier: refused, still audited as nothing issued
    await postForm(server, '/token/revocation', web, { token: refreshed.refresh_token! });
    const logout = await agent.follow(oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT }), LOGGED_OUT);
    const xsrf = logout.body!.match(/name="xsrf" value="([^"]+)"/)![1]!;
    await agent.submit(logout.url, logout.body!, /<form [^>]*action="([^"]+)"/, { xsrf, logout: 'yes' }, LOGGED_OUT);

    const m2m = await oidc.clientCredentialsGrant(await discover(server.issuer, worker.id, worker.secret), { scope: 'invoices:read', resource: BILLING });
    secrets.push(m2m.access_token);

    const cli = await ostiary(['roles', 'create', '--name', 'auditor', '--permission', 'invoices:read'], {
      DATA_DIR: server.database.dataDir,
      DATABASE_URL: server.database.url,
    });
    expect(cli.code, cli.stderr).toBe(0);
  });
  afterAll(() => server?.stop());

  it('records each kind of event with who, what, where and the outcome', async () => {
    const events = await server.services.audit.list({ limit: 1000 });
    const byType = (type: string) => events.filter((e) => e.type === type);
    expect(byType('login.failure')[0]).toMatchObject({ outcome: 'failure', ip: expect.any(String), userAgent: expect.any(String), requestId: expect.any(String), details: { reason: 'wrong_password' } });
    expect(byType('login.success')[0]).toMatchObject({ outcome: 'success', actor: expect.stringMatching(/^user:/), clientId: expect.any(String) });
    expect(byType('consent.granted')).toHaveLength(2); // the reuse revoked the first grant, so the second sign-in asked again
    const grantTypes = byType('token.issued').map((e) => (e.details as { grantType: string }).grantType).sort();
    expect(grantTypes).toEqual(['authorization_code', 'client_credentials', 'refresh_token']);
    expect(byType('token.issued').find((e) => (e.details as { api: string | null }).api === BILLING)).toBeDefined();
    expect(byType('refresh_token.reuse_detected')).toHaveLength(1);
    expect(byType('grant.revoked').length).toBeGreaterThanOrEqual(1);
    expect(byType('token.revoked')).toHaveLength(1);
    expect(byType('logout')[0]).toMatchObject({ subject: expect.any(String) });
    expect(byType('role.created')[0]).toMatchObject({ actor: 'cli', details: { name: 'auditor', permissions: 'invoices:read' } });
    for (const event of events) expect(event.at).toBeInstanceOf(Date);
  });

  it('never stores a password, secret, code or token', async () => {
    await server.services.audit.flush();
    const table = JSON.stringify(await server.services.db.auditEvent.findMany());
    expect(secrets.length).toBeGreaterThanOrEqual(10);
    for (const secret of secrets) expect(table.includes(secret), `found ${secret.slice(0, 12)}...`).toBe(false);
  });

  it('is readable with ostiary audit and pruned after the retention', async () => {
    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url };
    const run = await ostiary(['audit', '--since', '1h', '--type', 'login.failure', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const listed = JSON.parse(run.stdout) as { type: string; ip: string }[];
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((e) => e.type === 'login.failure')).toBe(true);
    await server.services.audit.flush();
    await server.services.db.auditEvent.updateMany({ where: { type: 'login.failure' }, data: { at: new Date(Date.now() - 91 * 86_400_000) } });
    expect(await server.services.audit.prune(90)).toBe(listed.length);
    expect(await server.services.audit.list({ type: 'login.failure' })).toEqual([]);
  });
});
