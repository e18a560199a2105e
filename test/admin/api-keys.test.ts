import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_SCOPES } from '../../src/api-keys/index.ts';
import { DATABASES } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { admin, issueKey } from './support.ts';

const GENERIC_401 = { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'The API key is not valid.' };

describe('admin API keys', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { API_KEY_ROTATION_GRACE_SECONDS: '2', RATE_LIMIT_ADMIN_PER_KEY: '1000' });
  });
  afterAll(() => server?.stop());

  it('refuses every route without its scope and allows it with exactly that scope', async () => {
    const routes = server.app.ostiary.adminRoutes;
    expect(routes.length).toBeGreaterThanOrEqual(25);
    for (const route of routes) {
      const others = API_KEY_SCOPES.filter((s) => s !== route.scope && s !== 'admin');
      const path = route.url.replace('/admin/api/v1', '').replace(/:(\w+)/g, 'x');
      const body = ['POST', 'PATCH'].includes(route.method) ? {} : undefined;
      const without = await admin(server, await issueKey(server, others), route.method, path, body);
      expect(without.status, `${route.method} ${route.url} without ${route.scope}`).toBe(403);
      expect(without.body.detail).toBe(`This API key lacks the scope ${route.scope}.`);
      const withIt = await admin(server, await issueKey(server, [route.scope]), route.method, path, body);
      expect([401, 403], `${route.method} ${route.url} with ${route.scope}`).not.toContain(withIt.status);
    }
  });

  it('answers a missing key with a challenge, and every bad key with the same 401', async () => {
    const missing = await admin(server, null, 'GET', '/clients');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="ostiary-admin"');
    const good = await issueKey(server, ['clients:read']);
    const revoked = await issueKey(server, ['clients:read']);
    await server.services.apiKeys.revoke(revoked.slice(4, 20), TEST_ACTOR);
    const expired = await issueKey(server, ['clients:read']);
    await server.services.db.apiKey.update({ where: { id: expired.slice(4, 20) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const wrongIp = await issueKey(server, ['clients:read'], { allowedIps: ['10.0.0.0/8'] });
    const bad = [`${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`, 'osk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'not-a-key', revoked, expired, wrongIp];
    for (const key of bad) {
      const response = await admin(server, key, 'GET', '/clients');
      expect(response.status).toBe(401);
      expect(response.body).toEqual(GENERIC_401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="ostiary-admin", error="invalid_token"');
    }
    expect((await admin(server, null, 'GET', '/clients', undefined, { 'x-api-key': good })).status).toBe(200);
    const refusals = await server.services.audit.list({ type: 'api_key.refused' });
    expect(refusals.map((e) => (e.details as { reason: string }).reason)).toEqual(expect.arrayContaining(['wrong_secret', 'unknown', 'malformed', 'revoked', 'expired', 'ip_not_allowed']));
    expect((await server.services.audit.list({ type: 'api_key.used' })).length).toBeGreaterThan(0);
  });

  it('takes a revocation into account on the very next request', async () => {
    const key = await issueKey(server, ['api-keys:write', 'clients:read']);
    expect((await admin(server, key, 'GET', '/clients')).status).toBe(200);
    expect((await admin(server, key, 'DELETE', `/api-keys/${key.slice(4, 20)}`)).status).toBe(204);
    expect((await admin(server, key, 'GET', '/clients')).status).toBe(401);
  });

  it('keeps both keys of a rotation working inside the grace window, then only the new one', async () => {
    const old = await issueKey(server, ['api-keys:write', 'clients:read']);
    const rotated = await admin(server, old, 'POST', `/api-keys/${old.slice(4, 20)}/rotate`);
    expect(rotated.status).toBe(201);
    expect(rotated.body).toMatchObject({ scopes: ['api-keys:write', 'clients:read'], api_key: expect.stringMatching(/^osk_[0-9a-f]{16}_[\w-]{43}$/) });
    const successor = rotated.body.api_key as string;
    expect((await admin(server, old, 'GET', '/clients')).status).toBe(200);
    expect((await admin(server, successor, 'GET', '/clients')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await admin(server, old, 'GET', '/clients')).status).toBe(401);
    expect((await admin(server, successor, 'GET', '/clients')).status).toBe(200);
  });

  it('stores no key secret in the clear and never returns one after creation', async () => {
    const created = await admin(server, await issueKey(server, ['api-keys:write', 'api-keys:read', 'clients:read']), 'POST', '/api-keys', { name: 'ci', scopes: ['clients:read'], expires_in_seconds: 3600 });
    expect(created.status).toBe(201);
    const secret = (created.body.api_key as string).slice('osk_0123456789abcdef_'.length);
    const table = JSON.stringify(await server.services.db.apiKey.findMany());
    expect(table).toContain(created.body.id);
    expect(table).not.toContain(secret);
    const listed = await admin(server, await issueKey(server, ['api-keys:read']), 'GET', '/api-keys');
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(listed.body[0]).not.toHaveProperty('api_key');
  });
});

describe('admin API behind a trusted proxy, with a per-key limit', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { TRUST_PROXY: 'true', RATE_LIMIT_ADMIN_PER_KEY: '3' });
  });
  afterAll(() => server?.stop());

  it('checks the allowed ranges against the address the proxy reports', async () => {
    const key = await issueKey(server, ['clients:read'], { allowedIps: ['10.0.0.0/8', '2001:db8::/32'] });
    expect((await admin(server, key, 'GET', '/clients', undefined, { 'x-forwarded-for': '10.1.2.3' })).status).toBe(200);
    expect((await admin(server, key, 'GET', '/clients', undefined, { 'x-forwarded-for': '2001:db8::1' })).status).toBe(200);
    expect((await admin(server, key, 'GET', '/clients', undefined, { 'x-forwarded-for': '192.168.1.1' })).status).toBe(401);
  });

  it('limits each key, with Retry-After', async () => {
    const key = await issueKey(server, ['clients:read']);
    for (let i = 0; i < 3; i += 1) expect((await admin(server, key, 'GET', '/clients')).status).toBe(200);
    const limited = await admin(server, key, 'GET', '/clients');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/problem\+json/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await admin(server, await issueKey(server, ['clients:read']), 'GET', '/clients')).status).toBe(200);
  });
});

describe.each(DATABASES)('what a key may hand on (%s)', (kind) => {
  let server: TestServer;
  const inAnHour = () => new Date(Date.now() + 3_600_000);
  const keyId = (key: string) => key.slice(4, 20);
  const keyCount = () => server.services.db.apiKey.count();
  beforeAll(async () => {
    server = await startTestServer(kind, { RATE_LIMIT_ADMIN_PER_KEY: '1000' });
  });
  afterAll(() => server?.stop());

  /** A refused request: 403 problem+json naming what was asked for, audited, and nothing written. */
  async function expectRefused(key: string, method: string, path: string, body: unknown, names: RegExp) {
    const before = { keys: await keyCount(), refusals: (await server.services.audit.list({ type: 'api_key.refused' })).length };
    const response = await admin(server, key, method, path, body);
    expect(response.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(403);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body.detail).toMatch(names);
    expect(await keyCount()).toBe(before.keys);
    const refusals = await server.services.audit.list({ type: 'api_key.refused' });
    expect(refusals.length).toBe(before.refusals + 1);
    expect(refusals.find((e) => (e.details as { reason?: string }).reason === 'exceeds_authority' && e.actor === `api-key:${keyId(key)}`)).toBeTruthy();
  }

  it('creates no key with a scope, expiry or address range beyond its own', async () => {
    const expiresAt = inAnHour();
    const narrow = await issueKey(server, ['api-keys:write', 'clients:read'], { allowedIps: ['127.0.0.0/8'], expiresAt });
    const create = (body: Record<string, unknown>) => ({ name: 'made by a key', scopes: ['clients:read'], ...body });
    await expectRefused(narrow, 'POST', '/api-keys', create({ scopes: ['admin'] }), /scope admin.*admin only by admin/);
    await expectRefused(narrow, 'POST', '/api-keys', create({ scopes: ['clients:read', 'users:write'] }), /scope users:write/);
    await expectRefused(narrow, 'POST', '/api-keys', create({ expires_in_seconds: 7200 }), /expire no later than this key/);
    await expectRefused(narrow, 'POST', '/api-keys', create({ allowed_ips: ['0.0.0.0/0'] }), /0\.0\.0\.0\/0.*127\.0\.0\.0\/8/);
    await expectRefused(narrow, 'POST', '/api-keys', create({ allowed_ips: ['127.0.0.1', '10.0.0.0/8'] }), /10\.0\.0\.0\/8/);
    await expectRefused(narrow, 'POST', '/api-keys', create({ allowed_ips: ['::1'] }), /::1/);

    const inherited = await admin(server, narrow, 'POST', '/api-keys', create({}));
    expect(inherited.status).toBe(201);
    expect(inherited.body).toMatchObject({ scopes: ['clients:read'], allowed_ips: ['127.0.0.0/8'], expires_at: expiresAt.toISOString() });
    const narrower = await admin(server, narrow, 'POST', '/api-keys', create({ scopes: ['api-keys:write'], allowed_ips: ['127.0.0.1'], expires_in_seconds: 600 }));
    expect(narrower.status).toBe(201);
    expect(narrower.body).toMatchObject({ allowed_ips: ['127.0.0.1'] });

    const root = await issueKey(server, ['admin']);
    const strong = await admin(server, root, 'POST', '/api-keys', { name: 'second admin', scopes: ['admin'] });
    expect(strong).toMatchObject({ status: 201, body: { scopes: ['admin'], expires_at: null, allowed_ips: [] } });
    // admin is every scope, not freedom from its own limits.
    const boundedAdmin = await issueKey(server, ['admin'], { expiresAt });
    await expectRefused(boundedAdmin, 'POST', '/api-keys', { name: 'forever', scopes: ['clients:read'], expires_in_seconds: 86_400 }, /expire no later/);
  });

  it('rotates only keys it could have created', async () => {
    const writer = await issueKey(server, ['api-keys:write', 'clients:read']);
    const adminKey = await issueKey(server, ['admin']);
    const bounded = await issueKey(server, ['clients:read'], { expiresAt: inAnHour() });
    const elsewhere = await issueKey(server, ['clients:read'], { allowedIps: ['10.0.0.0/8'], expiresAt: new Date(Date.now() + 600_000) });
    const limitedWriter = await issueKey(server, ['api-keys:write', 'clients:read'], { allowedIps: ['127.0.0.0/8'], expiresAt: inAnHour() });
    await expectRefused(writer, 'POST', `/api-keys/${keyId(adminKey)}/rotate`, undefined, /rotate a key with the scope admin/);
    await expectRefused(limitedWriter, 'POST', `/api-keys/${keyId(writer)}/rotate`, undefined, /expires never/);
    await expectRefused(limitedWriter, 'POST', `/api-keys/${keyId(elsewhere)}/rotate`, undefined, /10\.0\.0\.0\/8/);
    expect((await server.services.apiKeys.get(keyId(adminKey))).rotatedTo).toBeNull();
    expect((await admin(server, adminKey, 'GET', '/clients')).status).toBe(200);

    expect((await admin(server, writer, 'POST', `/api-keys/${keyId(bounded)}/rotate`)).status).toBe(201);
    expect((await admin(server, limitedWriter, 'POST', `/api-keys/${keyId(limitedWriter)}/rotate`)).status).toBe(201);
  });

  it('sets roles only with roles:write, on every route that carries them', async () => {
    await server.services.roles.create({ name: 'auditor', permissions: ['audit:read'] }, TEST_ACTOR);
    const usersOnly = await issueKey(server, ['users:write', 'users:read']);
    const clientsOnly = await issueKey(server, ['clients:write']);
    const person = { email: 'roles@example.com', password: 'correct horse battery staple' };
    const client = { client_name: 'svc', grant_types: ['client_credentials'] };
    const refused = [
      [usersOnly, 'POST', '/users', { ...person, roles: ['auditor'] }],
      [clientsOnly, 'POST', '/clients', { ...client, roles: ['auditor'] }],
    ] as const;
    for (const [key, method, path, body] of refused) {
      const response = await admin(server, key, method, path, body);
      expect(response).toMatchObject({ status: 403, body: { detail: 'This API key lacks the scope roles:write, needed to set roles.' } });
    }
    expect(await server.services.db.user.count({ where: { email: person.email } })).toBe(0);
    expect(await server.services.db.client.count({ where: { name: 'svc' } })).toBe(0);

    const user = await admin(server, usersOnly, 'POST', '/users', person);
    const made = await admin(server, clientsOnly, 'POST', '/clients', client);
    expect([user.status, made.status]).toEqual([201, 201]);
    for (const [key, path] of [[usersOnly, `/users/${user.body.id}`], [clientsOnly, `/clients/${made.body.client_id}`]] as const) {
      const response = await admin(server, key, 'PATCH', path, { roles: ['auditor'] });
      expect(response.status, path).toBe(403);
      expect(response.body.detail).toMatch(/roles:write/);
    }
    expect((await server.services.users.resolve(user.body.id)).roles).toEqual([]);
    expect((await server.services.clients.show(made.body.client_id)).roles).toEqual([]);

    const both = await issueKey(server, ['users:write', 'clients:write', 'roles:write']);
    expect((await admin(server, both, 'PATCH', `/users/${user.body.id}`, { roles: ['auditor'] })).body.roles).toEqual(['auditor']);
    expect((await admin(server, both, 'PATCH', `/clients/${made.body.client_id}`, { roles: ['auditor'] })).body.roles).toEqual(['auditor']);
  });
});
