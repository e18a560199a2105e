import { TEST_ACTOR } from '../support/actor.ts';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { ROLES_CACHE_MS } from '../../src/roles/index.ts';
import { createServices } from '../../src/services.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, BILLING, createBillingApi, createWebClient } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const LEDGER = 'https://ledger.example.com';

describe.each(DATABASES)('roles and permissions in tokens (%s)', (kind) => {
  let server: TestServer;
  let web: { id: string; secret: string };
  let worker: { id: string; secret: string };
  let userId: string;

  async function userTokens(scope: string, resource?: string) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const resourceParameter = resource ? { resource } : undefined;
    return (await codeFlow(rp, ADA, { extra: { scope, ...resourceParameter }, tokenParameters: resourceParameter })).tokens;
  }
  async function workerToken(scope: string) {
    const rp = await discover(server.issuer, worker.id, worker.secret);
    return decodeJwt((await oidc.clientCredentialsGrant(rp, { scope, resource: BILLING })).access_token);
  }

  beforeAll(async () => {
    server = await startTestServer(kind);
    const { apis, roles, users, clients } = server.services;
    await createBillingApi(server, ['invoices:read', 'invoices:write']);
    await apis.create({ name: 'Ledger', audience: LEDGER, scopes: ['ledger:read'] }, TEST_ACTOR);
    await roles.create({ name: 'accountant', permissions: ['invoices:read', 'invoices:write'] }, TEST_ACTOR);
    await roles.create({ name: 'ledger-reader', permissions: ['ledger:read'] }, TEST_ACTOR);
    await roles.create({ name: 'billing-worker', permissions: ['invoices:*'] }, TEST_ACTOR);
    userId = (await users.create({ ...ADA, roles: ['accountant', 'ledger-reader'] }, TEST_ACTOR)).id;
    web = await createWebClient(server, { grantTypes: ['authorization_code'], scopes: ['invoices:read', 'invoices:write', 'ledger:read'] });
    const m = await clients.create({ name: 'worker', grantTypes: ['client_credentials'], scopes: ['invoices:read', 'invoices:write'], roles: ['billing-worker'] }, TEST_ACTOR);
    worker = { id: m.client.clientId, secret: m.clientSecret! };
  });
  afterAll(() => server?.stop());

  it("gives a user's API token exactly the granted scopes their roles allow, and nothing of another API", async () => {
    const tokens = await userTokens('openid invoices:read', BILLING);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: userId, aud: BILLING, scope: 'invoices:read', permissions: ['invoices:read'], roles: ['accountant'] });
    expect(JSON.stringify(claims)).not.toContain('ledger');
  });

  it('gives a service account its permissions under client credentials, wildcards expanded', async () => {
    expect(await workerToken('invoices:read invoices:write')).toMatchObject({
      sub: worker.id,
      permissions: ['invoices:read', 'invoices:write'],
      roles: ['billing-worker'],
    });
    expect(await workerToken('invoices:read')).toMatchObject({ permissions: ['invoices:read'] });
  });

  it('applies a role change on the very next token', async () => {
    await server.services.roles.revoke('billing-worker', { clientId: worker.id }, TEST_ACTOR);
    expect(await workerToken('invoices:read')).toMatchObject({ permissions: [], roles: [] });
    await server.services.roles.grant('billing-worker', { clientId: worker.id }, TEST_ACTOR);
    expect(await workerToken('invoices:read')).toMatchObject({ permissions: ['invoices:read'] });
  });

  it('applies a role change made by another process within ROLES_CACHE_MS', async () => {
    const quiet = { info: () => {}, warn: () => {} };
    const other = await createServices(loadConfig({ DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, LOG_LEVEL: 'silent' }), quiet);
    try {
      expect(await workerToken('invoices:read')).toMatchObject({ permissions: ['invoices:read'] });
      await other.roles.revoke('billing-worker', { clientId: worker.id }, TEST_ACTOR);
      const revokedAt = Date.now();
      let claims = await workerToken('invoices:read');
      while ((claims.permissions as string[]).length > 0 && Date.now() - revokedAt < ROLES_CACHE_MS + 2000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        claims = await workerToken('invoices:read');
      }
      expect(claims).toMatchObject({ permissions: [], roles: [] });
      expect(Date.now() - revokedAt).toBeLessThan(ROLES_CACHE_MS + 2000);
    } finally {
      await other.roles.grant('billing-worker', { clientId: worker.id }, TEST_ACTOR);
      await other.close();
      server.services.roles.changed();
    }
  });

  it('puts roles in the ID token and UserInfo only when the roles scope is granted', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const withRoles = await userTokens('openid roles');
    expect(decodeJwt(withRoles.id_token!).roles).toEqual(['accountant', 'ledger-reader']);
    expect((await oidc.fetchUserInfo(rp, withRoles.access_token, userId)).roles).toEqual(['accountant', 'ledger-reader']);
    const without = await userTokens('openid email');
    expect(decodeJwt(without.id_token!)).not.toHaveProperty('roles');
    expect(await oidc.fetchUserInfo(rp, without.access_token, userId)).not.toHaveProperty('roles');
  });
});
