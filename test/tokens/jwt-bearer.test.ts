import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, issueKey } from '../admin/support.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { inProcess } from '../support/cli.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, BILLING, createBillingApi, createWebClient, introspect, postForm, type Credentials } from '../support/fixtures.ts';
import { discover, oidc, verifyJwt } from '../support/relying-party.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.example.com';
const REMOTE_IDP = 'https://remote-idp.example.com';

type KeyPair = { privateKey: CryptoKey; publicJwk: JWK };

async function keyPair(kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** Serves `{ keys }` at /jwks on a loopback port: the remote issuer's JWKS URL. */
async function serveJwks(keys: JWK[]): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`, server };
}

describe.each(DATABASES)('JWT bearer grant, RFC 7523 (%s)', (kind) => {
  let server: TestServer;
  let idpKey: KeyPair;
  let remoteKey: KeyPair;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let trusting: Credentials;
  let remote: Credentials;
  let resourceServer: Credentials;
  let adaId: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    const { users, clients } = server.services;
    await createBillingApi(server, ['invoices:read', 'invoices:write']);
    adaId = (await users.create(ADA, TEST_ACTOR)).id;
    idpKey = await keyPair('idp-1');
    remoteKey = await keyPair('remote-1');
    jwks = await serveJwks([remoteKey.publicJwk]);
    const made = await clients.create({ name: 'partner', grantTypes: ['jwt_bearer'], scopes: ['invoices:read'], assertionIssuer: IDP, assertionJwks: { keys: [idpKey.publicJwk] } }, TEST_ACTOR);
    trusting = { id: made.client.clientId, secret: made.clientSecret! };
    const other = await clients.create({ name: 'remote-partner', grantTypes: ['jwt_bearer'], scopes: ['invoices:read'], assertionIssuer: REMOTE_IDP, assertionJwksUri: jwks.url }, TEST_ACTOR);
    remote = { id: other.client.clientId, secret: other.clientSecret! };
    const api = await clients.create({ name: 'billing-api', grantTypes: [], introspectionAudiences: [BILLING] }, TEST_ACTOR);
    resourceServer = { id: api.client.clientId, secret: api.clientSecret! };
  });
  afterAll(async () => {
    await new Promise((resolve) => jwks?.server.close(resolve));
    await server?.stop();
  });

  /** An assertion as a trusted issuer makes it: for Ada, to us, two minutes, a fresh jti; `claims` override (undefined drops one). */
  async function assertion(claims: Record<string, unknown> = {}, key: KeyPair = idpKey, alg = 'ES256'): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: IDP, aud: server.issuer, sub: adaId, jti: randomUUID(), iat: now, exp: now + 120, ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg, kid: key.publicJwk.kid }).sign(key.privateKey);
  }

  const grant = (client: Credentials, fields: Record<string, string>, on: TestServer = server) => postForm(on, '/token', client, { grant_type: JWT_BEARER, resource: BILLING, ...fields });

  async function refused(response: Response, error = 'invalid_grant') {
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).toBe(400);
    expect(body).toMatchObject({ error });
    expect(body.access_token).toBeUndefined();
  }

  it('is advertised in discovery', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(metadata.grant_types_supported).toContain(JWT_BEARER);
  });

  it("gives an access token for the person the assertion names: Ada's sub, the API as aud, its scopes, no refresh or ID token; it ends with her grants", async () => {
    const rp = await discover(server.issuer, trusting.id, trusting.secret);
    const tokens = await oidc.genericGrantRequest(rp, JWT_BEARER, { assertion: await assertion(), resource: BILLING });
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.id_token).toBeUndefined();
    expect(tokens.scope).toBe('invoices:read');
    const { payload } = await verifyJwt(server.issuer, tokens.access_token, BILLING, 'at+jwt');
    expect(payload).toMatchObject({ sub: adaId, aud: BILLING, client_id: trusting.id, scope: 'invoices:read' });

    expect(await introspect(server, resourceServer, tokens.access_token)).toMatchObject({ active: true, sub: adaId, aud: BILLING });
    await server.services.users.revokeGrants(ADA.email, trusting.id, TEST_ACTOR);
    expect(await introspect(server, resourceServer, tokens.access_token)).toMatchObject({ active: false });

    await server.services.audit.flush();
    const issued = await server.services.db.auditEvent.findMany({ where: { type: 'token.issued', clientId: trusting.id } });
    expect(issued.map((e) => e.details)).toContainEqual({ grantType: JWT_BEARER, api: BILLING });
  });

  it("takes the issuer's keys from its JWKS URL, through the guarded fetch", async () => {
    const response = await grant(remote, { assertion: await assertion({ iss: REMOTE_IDP }, remoteKey) });
    expect(response.status, await response.clone().text()).toBe(200);
    const { payload } = await verifyJwt(server.issuer, ((await response.json()) as { access_token: string }).access_token, BILLING, 'at+jwt');
    expect(payload).toMatchObject({ sub: adaId, client_id: remote.id });

    // Keys that cannot be fetched verify nothing.
    const dead = await server.services.clients.create({ name: 'dead-keys', grantTypes: ['jwt_bearer'], scopes: ['invoices:read'], assertionIssuer: REMOTE_IDP, assertionJwksUri: `http://127.0.0.1:${await freePort()}/jwks` }, TEST_ACTOR);
    await refused(await grant({ id: dead.client.clientId, secret: dead.clientSecret! }, { assertion: await assertion({ iss: REMOTE_IDP }, remoteKey) }));
    await server.services.audit.flush();
    const [event] = await server.services.db.auditEvent.findMany({ where: { type: 'jwt_bearer.refused', clientId: dead.client.clientId } });
    expect(event?.details).toEqual({ reason: 'keys_unavailable' });
  });

  it('refuses, with invalid_grant and no token, every assertion that is not for us, not from the trusted issuer, unsigned, too old or too long-lived', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stranger = await keyPair('idp-1');
    const header = base64url.encode(JSON.stringify({ alg: 'none' }));
    const unsigned = `${header}.${base64url.encode(JSON.stringify({ iss: IDP, aud: server.issuer, sub: adaId, jti: randomUUID(), iat: now, exp: now + 60 }))}.`;
    const hs256 = await new SignJWT({ iss: IDP, aud: server.issuer, sub: adaId, jti: randomUUID(), iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));
    const refusals: [string, Credentials, string][] = [
      ['aud the token endpoint', trusting, await assertion({ aud: `${server.issuer}/token` })],
      ['aud another issuer', trusting, await assertion({ aud: 'https://elsewhere.example.com' })],
      ['aud us and another', trusting, await assertion({ aud: [server.issuer, 'https://elsewhere.example.com'] })],
      ['no aud', trusting, await assertion({ aud: undefined })],
      ['another iss', trusting, await assertion({ iss: 'https://evil.example.com' })],
      ['an untrusted key', trusting, await assertion({}, stranger)],
      ["the other client's issuer", trusting, await assertion({ iss: REMOTE_IDP }, remoteKey)],
      ['alg none', trusting, unsigned],
      ['HS256', trusting, hs256],
      ['expired', trusting, await assertion({ iat: now - 200, exp: now - 100 })],
      ['valid too long', trusting, await assertion({ exp: now + 3600 })],
      ['issued long ago', trusting, await assertion({ iat: now - 600, exp: now + 60 })],
      ['no exp', trusting, await assertion({ exp: undefined })],
      ['no jti', trusting, await assertion({ jti: undefined })],
      ['no sub', trusting, await assertion({ sub: undefined })],
      ['an unknown person', trusting, await assertion({ sub: 'no-such-user' })],
      ['not a JWT', trusting, 'not-a-jwt'],
    ];
    for (const [what, client, value] of refusals) {
      const response = await grant(client, { assertion: value });
      expect(response.status, what).toBe(400);
      await refused(response);
    }
    await server.services.users.update(ADA.email, { disabled: true }, TEST_ACTOR);
    await refused(await grant(trusting, { assertion: await assertion() }));
    await server.services.users.update(ADA.email, { disabled: false }, TEST_ACTOR);

    await server.services.audit.flush();
    const reasons = (await server.services.db.auditEvent.findMany({ where: { type: 'jwt_bearer.refused', clientId: trusting.id } })).map((e) => (e.details as { reason: string }).reason);
    expect(new Set(reasons)).toEqual(new Set(['audience', 'issuer', 'signature', 'algorithm', 'expired', 'lifetime', 'claims', 'subject', 'malformed']));
  });

  it('takes an assertion once: its jti is refused the second time', async () => {
    const value = await assertion();
    expect((await grant(trusting, { assertion: value })).status).toBe(200);
    await refused(await grant(trusting, { assertion: value }));
    await server.services.audit.flush();
    const replays = await server.services.db.auditEvent.findMany({ where: { type: 'jwt_bearer.refused', clientId: trusting.id } });
    expect(replays.map((e) => (e.details as { reason: string }).reason)).toContain('replayed');
    // A request refused for another reason does not use the assertion up.
    const kept = await assertion();
    await refused(await grant(trusting, { assertion: kept, scope: 'invoices:write' }), 'invalid_scope');
    expect((await grant(trusting, { assertion: kept })).status).toBe(200);
  });

  it("forgets a jti once its assertion has expired: the cleanup job removes it", async () => {
    const { assertionJtis, cleanup } = server.services;
    expect(await assertionJtis.take(IDP, 'expired-jti', new Date(Date.now() - 1000))).toBe(true);
    expect(await assertionJtis.take(IDP, 'expired-jti', new Date(Date.now() - 1000))).toBe(false);
    expect(await assertionJtis.take(IDP, 'live-jti', new Date(Date.now() + 60_000))).toBe(true);
    expect((await cleanup.run()).expiredAssertions).toBeGreaterThanOrEqual(1);
    expect(await assertionJtis.take(IDP, 'expired-jti', new Date(Date.now() + 60_000))).toBe(true);
    expect(await assertionJtis.take(IDP, 'live-jti', new Date(Date.now() + 60_000))).toBe(false);
  });

  it('takes an assertion once across instances on one database', async () => {
    const second = await startTestServer(kind, { ISSUER: server.issuer }, { database: server.database });
    try {
      const value = await assertion();
      expect((await grant(trusting, { assertion: value }, second)).status).toBe(200);
      await refused(await grant(trusting, { assertion: value }));
    } finally {
      await second.stop();
    }
  });

  it('answers malformed requests and clients without the grant as the token endpoint does', async () => {
    await refused(await grant(trusting, {}), 'invalid_request');
    await refused(await postForm(server, '/token', trusting, { grant_type: JWT_BEARER, assertion: await assertion() }), 'invalid_target');
    await refused(await grant(trusting, { assertion: await assertion(), resource: 'https://unknown.example.com' }), 'invalid_target');
    const web = await createWebClient(server);
    const response = await grant(web, { assertion: await assertion() });
    expect(await response.json()).toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
    // Without client authentication there is no client to trust an issuer for.
    expect((await postForm(server, '/token', null, { grant_type: JWT_BEARER, client_id: trusting.id, assertion: await assertion(), resource: BILLING })).status).toBe(401);
  });

  it('is given only to a confidential client with a trusted issuer and its public keys', async () => {
    const { clients } = server.services;
    const base = { name: 'x', grantTypes: ['jwt_bearer'] };
    const keys = { keys: [idpKey.publicJwk] };
    await expect(clients.create(base, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.assertion_issuer_required' });
    await expect(clients.create({ ...base, assertionIssuer: IDP }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.assertion_issuer_required' });
    await expect(clients.create({ ...base, assertionJwks: keys }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.assertion_issuer_required' });
    await expect(clients.create({ ...base, public: true, assertionIssuer: IDP, assertionJwks: keys }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.public_jwt_bearer' });
    const invalid: Record<string, unknown>[] = [
      { assertionJwks: keys, assertionJwksUri: 'https://idp.example.com/jwks' },
      { assertionJwksUri: 'http://idp.example.com/jwks' },
      { assertionJwksUri: 'not a url' },
      { assertionJwks: { keys: [{ ...idpKey.publicJwk, d: 'private' }] } },
      { assertionJwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } },
      { assertionJwks: { keys: [] } },
      { assertionJwks: '{not json' },
    ];
    for (const fields of invalid) {
      await expect(clients.create({ ...base, assertionIssuer: IDP, ...fields }, TEST_ACTOR), JSON.stringify(fields).slice(0, 80)).rejects.toMatchObject({ code: 'client.assertion_keys_invalid' });
    }
    // Trust can be changed: a JWKS URL replaces the keys; the grant cannot stay without trust.
    await clients.update(trusting.id, { assertionJwksUri: jwks.url }, TEST_ACTOR);
    expect(await clients.show(trusting.id)).toMatchObject({ assertionIssuer: IDP, assertionJwksUri: jwks.url, assertionJwks: null });
    await expect(clients.update(trusting.id, { assertionIssuer: null }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.assertion_issuer_required' });
    await clients.update(trusting.id, { assertionJwks: { keys: [idpKey.publicJwk] } }, TEST_ACTOR);
    expect((await grant(trusting, { assertion: await assertion() })).status).toBe(200);
  });

  it('is configured from the command line: issuer and a JWKS file', async () => {
    const file = join(server.database.dataDir, 'idp-jwks.json');
    await writeFile(file, JSON.stringify({ keys: [idpKey.publicJwk] }));
    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, LOG_LEVEL: 'silent' };
    const cli = await inProcess(['clients', 'create', '--name', 'cli-partner', '--grant', 'jwt_bearer', '--scope', 'invoices:read', '--assertion-issuer', IDP, '--assertion-jwks-file', file, '--json'], env);
    expect(cli.code, cli.stderr).toBe(0);
    const created = JSON.parse(cli.stdout) as { client_id: string; client_secret: string; grant_types: string[]; assertion_issuer: string; assertion_jwks: unknown };
    expect(created).toMatchObject({ grant_types: ['jwt_bearer'], assertion_issuer: IDP, assertion_jwks: { keys: [idpKey.publicJwk] }, assertion_jwks_uri: null });
    expect((await grant({ id: created.client_id, secret: created.client_secret }, { assertion: await assertion() })).status).toBe(200);

    const missing = await inProcess(['clients', 'create', '--name', 'cli-partner-2', '--grant', 'jwt_bearer', '--assertion-issuer', IDP, '--json'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--assertion');
    const both = await inProcess(['clients', 'create', '--name', 'cli-partner-3', '--grant', 'jwt_bearer', '--assertion-issuer', IDP, '--assertion-jwks-file', file, '--assertion-jwks-uri', 'https://idp.example.com/jwks', '--json'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
  });

  it('is configured through the admin API: trust in the client body, refusals as problems pointing at the field', async () => {
    const key = await issueKey(server, ['clients:write', 'clients:read']);
    const body = { client_name: 'api-partner', grant_types: ['jwt_bearer'], scope: 'invoices:read', assertion_issuer: IDP, assertion_jwks: { keys: [idpKey.publicJwk] } };
    const made = await admin(server, key, 'POST', '/clients', body);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ assertion_issuer: IDP, assertion_jwks: { keys: [idpKey.publicJwk] }, assertion_jwks_uri: null });
    const id = (made.body as { client_id: string }).client_id;
    const patched = await admin(server, key, 'PATCH', `/clients/${id}`, { assertion_jwks_uri: jwks.url });
    expect(patched.body).toMatchObject({ assertion_jwks_uri: jwks.url, assertion_jwks: null });

    const privateKey = await admin(server, key, 'POST', '/clients', { ...body, assertion_jwks: { keys: [{ ...idpKey.publicJwk, d: 'x' }] } });
    expect(privateKey.status).toBe(400);
    expect(privateKey.body).toMatchObject({ code: 'client.assertion_keys_invalid', pointer: '/assertion_jwks' });
    const noTrust = await admin(server, key, 'POST', '/clients', { client_name: 'x', grant_types: ['jwt_bearer'] });
    expect(noTrust.body).toMatchObject({ code: 'client.assertion_issuer_required', pointer: '/assertion_issuer' });
    const insecure = await admin(server, key, 'PATCH', `/clients/${id}`, { assertion_jwks_uri: 'http://idp.example.com/jwks' });
    expect(insecure.body).toMatchObject({ code: 'client.assertion_keys_invalid', pointer: '/assertion_jwks_uri' });
  });
});
