import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_SCOPES } from '../../src/api-keys/index.ts';
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
    await server.services.apiKeys.revoke(revoked.slice(4, 20));
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
    const created = await admin(server, await issueKey(server, ['api-keys:write', 'api-keys:read']), 'POST', '/api-keys', { name: 'ci', scopes: ['clients:read'], expires_in_seconds: 3600 });
    expect(created.status).toBe(201);
    const secret = (created.body.api_key as string).split('_')[2]!;
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
