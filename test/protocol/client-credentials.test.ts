import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { basicAuth, BILLING, createBillingApi } from '../support/fixtures.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe.each(DATABASES)('client_credentials (%s)', (kind) => {
  let server: TestServer;
  let worker: { clientId: string; secret: string };

  beforeAll(async () => {
    server = await startTestServer(kind, { DEFAULT_RESOURCE: BILLING });
    const { apis, clients } = server.services;
    await createBillingApi(server, ['invoices:read', 'invoices:write'], 'Billing API');
    await apis.create({ name: 'Ledger API', audience: 'https://ledger.example.com', scopes: ['ledger:read'] }, TEST_ACTOR);
    const created = await clients.create({ name: 'billing-worker', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
    worker = { clientId: created.client.clientId, secret: created.clientSecret! };
  });
  afterAll(() => server?.stop());

  it('issues an RFC 9068 JWT access token that verifies against the JWKS', async () => {
    const rp = await discover(server.issuer, worker.clientId, worker.secret);
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'invoices:read', resource: BILLING });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('invoices:read');
    expect(tokens.expires_in).toBe(900);

    const { payload, header } = await verifyJwt(server.issuer, tokens.access_token, BILLING, 'at+jwt');
    expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(header.kid).toEqual(expect.any(String));
    expect(payload).toMatchObject({ iss: server.issuer, sub: worker.clientId, aud: BILLING, client_id: worker.clientId, scope: 'invoices:read' });
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.exp! - payload.iat!).toBe(900);
  });

  it('uses the configured default API when no resource is named', async () => {
    const rp = await discover(server.issuer, worker.clientId, worker.secret);
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'invoices:read' });
    const { payload } = await verifyJwt(server.issuer, tokens.access_token, BILLING);
    expect(payload.aud).toBe(BILLING);
  });

  it('refuses a scope the client may not hold with invalid_scope', async () => {
    const rp = await discover(server.issuer, worker.clientId, worker.secret);
    await expect(oidc.clientCredentialsGrant(rp, { scope: 'invoices:write', resource: BILLING })).rejects.toMatchObject({
      error: 'invalid_scope',
      status: 400,
    });
  });

  it('refuses an unknown API and another API the client has no scope on', async () => {
    const rp = await discover(server.issuer, worker.clientId, worker.secret);
    await expect(oidc.clientCredentialsGrant(rp, { scope: 'invoices:read', resource: 'https://unknown.example.com' })).rejects.toMatchObject({
      error: 'invalid_target',
    });
    await expect(oidc.clientCredentialsGrant(rp, { scope: 'ledger:read', resource: 'https://ledger.example.com' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
  });

  it('answers a wrong secret and an unknown client with 401 invalid_client', async () => {
    for (const [id, secret] of [
      [worker.clientId, `${worker.secret}x`],
      ['no-such-client', worker.secret],
    ] as const) {
      const response = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: basicAuth(id, secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'invoices:read', resource: BILLING }),
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'invalid_client' });
    }
  });

  it('does not accept the stored secret hash in place of the secret', async () => {
    const row = await server.services.db.client.findUniqueOrThrow({ where: { id: worker.clientId } });
    const rp = await discover(server.issuer, worker.clientId, row.secretHash!);
    await expect(oidc.clientCredentialsGrant(rp, { scope: 'invoices:read', resource: BILLING })).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('refuses a request without a resource when no default API is configured', async () => {
    const bare = await startTestServer(kind);
    try {
      await createBillingApi(bare, ['invoices:read'], 'Billing API');
      const created = await bare.services.clients.create({ name: 'w', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
      const rp = await discover(bare.issuer, created.client.clientId, created.clientSecret!);
      await expect(oidc.clientCredentialsGrant(rp, { scope: 'invoices:read' })).rejects.toMatchObject({ error: 'invalid_target' });
    } finally {
      await bare.stop();
    }
  });
});
