import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, BILLING, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { authorize, UserAgent } from '../support/user-agent.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type Answer = { status: number; body: Record<string, unknown> };

async function send(server: TestServer, method: string, path: string, bearer?: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const WEB_APP = { client_name: 'Self-registered app', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };

async function discovery(server: TestServer): Promise<Record<string, unknown>> {
  return (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
}

describe.each(DATABASES)('dynamic client registration with an initial access token (%s)', (kind) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(kind, { DYNAMIC_REGISTRATION: 'token', RATE_LIMIT_REGISTRATION_PER_IP: '1000' });
    await server.services.users.create(ADA, TEST_ACTOR);
    // Billing invites clients that register themselves (it publishes its metadata); Payroll does not.
    await server.services.apis.create({ name: 'Billing', audience: BILLING, scopes: ['invoices:read'], publishMetadata: true }, TEST_ACTOR);
    await server.services.apis.create({ name: 'Payroll', audience: 'https://payroll.example.com', scopes: ['payroll:read'] }, TEST_ACTOR);
  });
  afterAll(() => server?.stop());

  const newToken = async (maxClients?: number) => (await server.services.registrationTokens.create({ maxClients }, TEST_ACTOR)).token;

  it('advertises the registration endpoint', async () => {
    expect(await discovery(server)).toMatchObject({ registration_endpoint: `${server.issuer}/reg` });
  });

  it('refuses a registration without a token, or with a token it did not issue', async () => {
    const none = await send(server, 'POST', '/reg', undefined, WEB_APP);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: 'invalid_token' });
    const wrong = await send(server, 'POST', '/reg', 'not-a-token-we-issued', WEB_APP);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: 'invalid_token' });
    expect((await server.services.clients.list()).filter((c) => c.registeredAt)).toHaveLength(0);
  });

  it('registers a client that then signs a person in with the code flow and PKCE, always with consent, for an API', async () => {
    const answer = await send(server, 'POST', '/reg', await newToken(), { ...WEB_APP, scope: 'openid email invoices:read' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const { client_id: clientId, client_secret: secret } = answer.body as { client_id: string; client_secret: string };
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(answer.body).toMatchObject({ client_name: 'Self-registered app', registration_client_uri: `${server.issuer}/reg/${clientId}`, token_endpoint_auth_method: 'client_secret_basic' });
    expect(answer.body.registration_access_token).toEqual(expect.any(String));
    expect(answer.body.first_party).toBeUndefined();

    const stored = await server.services.clients.show(clientId);
    expect(stored).toMatchObject({ firstParty: false, roles: [], registeredAt: expect.any(Date) });
    expect(await server.services.clients.secretIs(clientId, secret)).toBe(true);

    const rp = await discover(server.issuer, clientId, secret);
    const flow = await startFlow(rp, { scope: 'openid email invoices:read', resource: BILLING });
    const { callbackUrl, sawConsent } = await authorize(new UserAgent(), flow.url, REDIRECT, ADA);
    expect(sawConsent).toBe(true);
    const checks = { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce };
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callbackUrl), checks, { resource: BILLING });
    expect(tokens.claims()).toMatchObject({ aud: clientId, email: ADA.email });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: BILLING, client_id: clientId, scope: expect.stringContaining('invoices:read') });
    expect(tokens.refresh_token).toEqual(expect.any(String));
  });

  it('reads (never with the stored secret), updates and deletes a registration with its registration access token', async () => {
    const created = await send(server, 'POST', '/reg', await newToken(), WEB_APP);
    const { client_id: clientId, client_secret: secret, registration_access_token: firstToken } = created.body as { client_id: string; client_secret: string; registration_access_token: string };
    const path = `/reg/${clientId}`;

    const read = await send(server, 'GET', path, firstToken);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ client_id: clientId, redirect_uris: [REDIRECT] });
    expect(read.body.client_secret).toBeUndefined();
    expect(JSON.stringify(read.body)).not.toMatch(/[0-9a-f]{64}/);
    expect((await send(server, 'GET', path, 'another-token')).status).toBe(401);

    const updated = await send(server, 'PUT', path, firstToken, { ...WEB_APP, client_id: clientId, client_name: 'Renamed app', redirect_uris: [REDIRECT, 'https://app.example.com/other'] });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.client_secret).toBeUndefined();
    expect(updated.body).toMatchObject({ client_name: 'Renamed app' });
    const secondToken = String(updated.body.registration_access_token);
    expect(secondToken).not.toBe(firstToken);
    expect((await send(server, 'GET', path, firstToken)).status).toBe(401);
    expect(await server.services.clients.show(clientId)).toMatchObject({ name: 'Renamed app', redirectUris: [REDIRECT, 'https://app.example.com/other'] });
    // The secret did not change with the update.
    expect(await server.services.clients.secretIs(clientId, secret)).toBe(true);

    expect((await send(server, 'DELETE', path, secondToken)).status).toBe(204);
    await expect(server.services.clients.show(clientId)).rejects.toMatchObject({ code: 'client.not_found' });
    expect((await send(server, 'GET', path, secondToken)).status).toBe(401);
  });

  it('never reaches an operator\'s client through /reg', async () => {
    const operators: Credentials = await createWebClient(server);
    const registered = await send(server, 'POST', '/reg', await newToken(), WEB_APP);
    const token = String(registered.body.registration_access_token);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const answer = await send(server, method, `/reg/${operators.id}`, token, method === 'PUT' ? { ...WEB_APP, client_id: operators.id } : undefined);
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: 'invalid_token' });
    }
    // The clients service itself refuses to change or delete it as a registration.
    const registration = { metadata: { ...WEB_APP, client_id: operators.id }, asked: {}, actor: TEST_ACTOR };
    await expect(server.services.clients.updateRegistered(registration)).rejects.toMatchObject({ code: 'client.not_registered' });
    await expect(server.services.clients.removeRegistered(operators.id, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.not_registered' });
    expect(await server.services.clients.show(operators.id)).toMatchObject({ registeredAt: null });
    expect(await server.services.clients.secretIs(operators.id, operators.secret)).toBe(true);
  });

  it('refuses a registration past the token\'s maximum, and with a revoked or expired token', async () => {
    const token = await newToken(1);
    expect((await send(server, 'POST', '/reg', token, WEB_APP)).status).toBe(201);
    const second = await send(server, 'POST', '/reg', token, WEB_APP);
    expect(second.status).toBe(403);
    expect(second.body).toMatchObject({ error: 'access_denied' });

    const { registrationToken, token: revoked } = await server.services.registrationTokens.create({}, TEST_ACTOR);
    await server.services.registrationTokens.revoke(registrationToken.id, TEST_ACTOR);
    expect(await send(server, 'POST', '/reg', revoked, WEB_APP)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });

    const { registrationToken: soon, token: expiring } = await server.services.registrationTokens.create({ expiresAt: new Date(Date.now() + 60_000) }, TEST_ACTOR);
    await server.services.database.db.registrationToken.update({ where: { id: soon.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await send(server, 'POST', '/reg', expiring, WEB_APP)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
  });

  it('keeps to the policy: sign-in grants only, redirect URIs by application type, no fragments, nothing it would not keep', async () => {
    const token = await newToken();
    const refused: [Record<string, unknown>, string][] = [
      [{ ...WEB_APP, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, 'invalid_client_metadata'],
      [{ ...WEB_APP, grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] }, 'invalid_client_metadata'],
      [{ ...WEB_APP, redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
      [{ ...WEB_APP, redirect_uris: ['http://127.0.0.1:8080/cb'] }, 'invalid_redirect_uri'],
      [{ ...WEB_APP, application_type: 'native', redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
      [{ ...WEB_APP, application_type: 'native', redirect_uris: ['myapp:/cb'] }, 'invalid_redirect_uri'],
      [{ ...WEB_APP, redirect_uris: ['https://app.example.com/cb#part'] }, 'invalid_redirect_uri'],
      [{ ...WEB_APP, first_party: true }, 'invalid_client_metadata'],
      [{ ...WEB_APP, jwks_uri: 'https://app.example.com/jwks' }, 'invalid_client_metadata'],
      [{ ...WEB_APP, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
      [{ ...WEB_APP, scope: 'openid unknown:scope' }, 'invalid_client_metadata'],
      [{ ...WEB_APP, scope: 'openid payroll:read' }, 'invalid_client_metadata'],
    ];
    for (const [metadata, error] of refused) {
      const answer = await send(server, 'POST', '/reg', token, metadata);
      expect(answer.status, JSON.stringify(metadata)).toBe(400);
      expect(answer.body, JSON.stringify(metadata)).toMatchObject({ error });
    }
    const native = await send(server, 'POST', '/reg', token, {
      ...WEB_APP,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1:33418/cb', 'com.example.app:/cb', 'https://app.example.com/native'],
      scope: 'openid invoices:read',
    });
    expect(native.status, JSON.stringify(native.body)).toBe(201);
    expect(native.body.client_secret).toBeUndefined();
    expect(native.body.scope).toBe('openid invoices:read');
    const stored = await server.services.clients.show(String(native.body.client_id));
    expect(stored).toMatchObject({ applicationType: 'native', tokenEndpointAuthMethod: 'none' });
    expect(stored.scope.split(' ')).toContain('invoices:read');
  });
});

describe.each(DATABASES)('open dynamic client registration (%s)', (kind) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(kind, { DYNAMIC_REGISTRATION: 'open', RATE_LIMIT_REGISTRATION_PER_IP: '4' });
  });
  afterAll(() => server?.stop());

  it('registers without a token, audited, and operators see and delete the client', async () => {
    const answer = await send(server, 'POST', '/reg', undefined, { ...WEB_APP, token_endpoint_auth_method: 'client_secret_post' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const clientId = String(answer.body.client_id);
    expect(await server.services.database.db.oidcPayload.count({ where: { type: 'RegistrationAccessToken', clientId } })).toBe(1);
    const listed = await server.services.clients.list();
    expect(listed.find((c) => c.clientId === clientId)).toMatchObject({ registeredAt: expect.any(Date), tokenEndpointAuthMethod: 'client_secret_post' });
    await server.services.audit.flush();
    const events = await server.services.database.db.auditEvent.findMany({ where: { type: 'client.registered', clientId } });
    expect(events).toHaveLength(1);
    await server.services.clients.delete(clientId, TEST_ACTOR);
    expect(await server.services.database.db.oidcPayload.count({ where: { type: 'RegistrationAccessToken', clientId } })).toBe(0);
    expect((await send(server, 'GET', `/reg/${clientId}`, String(answer.body.registration_access_token))).status).toBe(401);
  });

  it('limits registration requests per IP address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await send(server, 'POST', '/reg', undefined, { redirect_uris: 'not a list' })).status);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.filter((status) => status !== 429).every((status) => status === 400)).toBe(true);
  });
});

describe.each(DATABASES)('dynamic client registration off (%s)', (kind) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(() => server?.stop());

  it('has no registration endpoint and says none', async () => {
    expect((await discovery(server)).registration_endpoint).toBeUndefined();
    expect((await send(server, 'POST', '/reg', undefined, WEB_APP)).status).toBe(404);
    expect((await send(server, 'GET', '/reg/some-client')).status).toBe(404);
  });
});
