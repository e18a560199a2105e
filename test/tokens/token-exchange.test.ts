import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, BILLING, createBillingApi, createWebClient, introspect, postForm, type Credentials } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const LEDGER = 'urn:example:ledger';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

describe.each(DATABASES)('token exchange, RFC 8693 (%s)', (kind) => {
  let server: TestServer;
  let web: Credentials;
  let billing: Credentials;
  let outsider: Credentials;

  beforeAll(async () => {
    server = await startTestServer(kind);
    const { users, clients, apis } = server.services;
    await createBillingApi(server);
    await apis.create({ name: 'Ledger', audience: LEDGER, scopes: ['ledger:read', 'ledger:write'] }, TEST_ACTOR);
    await users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { scopes: ['invoices:read'] });
    // The Billing API's backend: it serves Billing tokens and calls the Ledger for the same person.
    const created = await clients.create({ name: 'billing-backend', grantTypes: ['token_exchange'], introspectionAudiences: [BILLING], scopes: ['ledger:read'] }, TEST_ACTOR);
    billing = { id: created.client.clientId, secret: created.clientSecret! };
    const other = await clients.create({ name: 'outsider', grantTypes: ['token_exchange'], introspectionAudiences: [LEDGER], scopes: ['ledger:read'] }, TEST_ACTOR);
    outsider = { id: other.client.clientId, secret: other.clientSecret! };
  });
  afterAll(() => server?.stop());

  /** A Billing access token of Ada's, from a sign-in to the web app. */
  async function billingToken(): Promise<string> {
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA, { extra: { scope: 'openid invoices:read', resource: BILLING }, tokenParameters: { resource: BILLING } });
    return tokens.access_token;
  }

  const exchange = (client: Credentials, fields: Record<string, string>) =>
    postForm(server, '/token', client, { grant_type: EXCHANGE, subject_token_type: ACCESS_TOKEN, resource: LEDGER, ...fields });

  it('is advertised in discovery', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(metadata.grant_types_supported).toContain(EXCHANGE);
  });

  it('exchanges a person\'s Billing token for a Ledger token: same sub, the service in act, only the scopes it may hold, no refresh token', async () => {
    const subject = await billingToken();
    const response = await exchange(billing, { subject_token: subject });
    expect(response.status, await response.clone().text()).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'ledger:read' });
    expect(body.refresh_token).toBeUndefined();
    const original = decodeJwt(subject);
    const exchanged = decodeJwt(String(body.access_token));
    expect(exchanged).toMatchObject({ sub: original.sub, aud: LEDGER, client_id: billing.id, act: { sub: billing.id }, scope: 'ledger:read', grant_id: original.grant_id });
    expect(exchanged.exp!).toBeLessThanOrEqual(original.exp!);

    // The Ledger's resource server sees it as live; revoking the person's grant ends it.
    const ledgerServer = await server.services.clients.create({ name: 'ledger-api', grantTypes: [], introspectionAudiences: [LEDGER] }, TEST_ACTOR);
    const ledger = { id: ledgerServer.client.clientId, secret: ledgerServer.clientSecret! };
    expect(await introspect(server, ledger, String(body.access_token))).toMatchObject({ active: true, sub: original.sub, aud: LEDGER });
    await server.services.users.revokeGrants(ADA.email, web.id, TEST_ACTOR);
    expect(await introspect(server, ledger, String(body.access_token))).toMatchObject({ active: false });
    // The revoked grant's tokens are not exchanged any more.
    expect(await (await exchange(billing, { subject_token: subject })).json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses what it must: another API\'s token, a forged or refresh token, scopes the service may not hold, actor tokens, impersonation of a client, unknown APIs', async () => {
    const subject = await billingToken();
    const refusals: [Credentials, Record<string, string>, string][] = [
      [outsider, { subject_token: subject }, 'invalid_grant'],
      [billing, { subject_token: `${subject.slice(0, -4)}AAAA` }, 'invalid_grant'],
      [billing, { subject_token: 'not-a-token' }, 'invalid_grant'],
      [billing, { subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, 'invalid_request'],
      [billing, { subject_token: subject, scope: 'ledger:write' }, 'invalid_scope'],
      [billing, { subject_token: subject, actor_token: subject, actor_token_type: ACCESS_TOKEN }, 'invalid_request'],
      [billing, { subject_token: subject, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, 'invalid_request'],
      [billing, { subject_token: subject, resource: 'https://unknown.example.com' }, 'invalid_target'],
      [billing, { subject_token: subject, resource: BILLING }, 'invalid_target'],
    ];
    for (const [client, fields, error] of refusals) {
      const response = await exchange(client, fields);
      expect(response.status, JSON.stringify(fields).slice(0, 80)).toBe(400);
      expect(await response.json()).toMatchObject({ error });
    }
    // A client's own token (client credentials) names no person: nothing to exchange.
    const worker = await server.services.clients.create({ name: 'worker', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
    const own = (await (await postForm(server, '/token', { id: worker.client.clientId, secret: worker.clientSecret! }, { grant_type: 'client_credentials', resource: BILLING })).json()) as { access_token: string };
    expect(await (await exchange(billing, { subject_token: own.access_token })).json()).toMatchObject({ error: 'invalid_grant' });
    // OpenID Connect scopes are not carried into an API token.
    const mixed = (await (await exchange(billing, { subject_token: subject, scope: 'openid ledger:read ledger:read' })).json()) as { scope: string };
    expect(mixed.scope).toBe('ledger:read');
    // A disabled person's tokens are not exchanged.
    await server.services.users.update(ADA.email, { disabled: true }, TEST_ACTOR);
    expect(await (await exchange(billing, { subject_token: subject })).json()).toMatchObject({ error: 'invalid_grant' });
    await server.services.users.update(ADA.email, { disabled: false }, TEST_ACTOR);
    // Only clients holding the grant may exchange (the provider's answer for any grant a client lacks).
    expect(await (await exchange(web, { subject_token: await billingToken() })).json()).toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
  });

  it('is given only to a confidential client that serves an API', async () => {
    await expect(server.services.clients.create({ name: 'x', grantTypes: ['token_exchange'] }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.exchange_needs_resource_server' });
    await expect(server.services.clients.create({ name: 'y', grantTypes: ['token_exchange'], public: true, introspectionAudiences: [BILLING] }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.exchange_needs_resource_server' });
  });
});
