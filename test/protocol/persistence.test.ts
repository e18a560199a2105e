import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { ADA, BILLING, createBillingApi, createWebClient } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover, kidOf, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe.each(DATABASES)('a restart keeps keys, tokens and grants (%s)', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(() => server?.stop());

  it('serves the same kid, verifies earlier tokens and redeems an earlier refresh token', async () => {
    const { clients, users } = server.services;
    await createBillingApi(server);
    const user = await users.create(ADA, TEST_ACTOR);
    const worker = await clients.create({ name: 'worker', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
    const web = await createWebClient(server);

    const workerRp = await discover(server.issuer, worker.client.clientId, worker.clientSecret!);
    const m2m = await oidc.clientCredentialsGrant(workerRp, { scope: 'invoices:read', resource: BILLING });
    const webRp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(webRp, ADA);
    const jwksBefore = await (await fetch(`${server.issuer}/jwks`)).json();

    await server.restart();

    const jwksAfter = (await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwksAfter).toEqual(jwksBefore);
    expect(kidOf(m2m.access_token)).toBe(jwksAfter.keys[0]?.kid);
    await expect(verifyJwt(server.issuer, m2m.access_token, BILLING)).resolves.toBeTruthy();
    await expect(verifyJwt(server.issuer, tokens.id_token!, web.id)).resolves.toBeTruthy();

    const rpAfter = await discover(server.issuer, web.id, web.secret);
    const refreshed = await oidc.refreshTokenGrant(rpAfter, tokens.refresh_token!);
    expect(refreshed.access_token).toEqual(expect.any(String));
    expect((await oidc.fetchUserInfo(rpAfter, refreshed.access_token, user.id)).sub).toBe(user.id);
  });
});
