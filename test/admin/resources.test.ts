import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { admin, issueKey } from './support.ts';

describe.each(DATABASES)('admin API resources (%s)', (kind) => {
  let server: TestServer;
  let key: string;
  const call = (method: string, path: string, body?: unknown) => admin(server, key, method, path, body);

  beforeAll(async () => {
    server = await startTestServer(kind);
    key = await issueKey(server, ['admin']);
  });
  afterAll(() => server?.stop());

  it('manages APIs, roles, clients and users end to end', async () => {
    const api = await call('POST', '/apis', { name: 'Billing', audience: 'https://billing.example.com', scopes: ['invoices:read'] });
    expect(api).toMatchObject({ status: 201, body: { name: 'Billing', scopes: ['invoices:read'] } });
    expect((await call('POST', '/roles', { name: 'accountant', permissions: ['invoices:read'] })).status).toBe(201);

    const created = await call('POST', '/clients', {
      client_name: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.com/cb'],
      scope: 'invoices:read',
      roles: ['accountant'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ client_name: 'web', token_endpoint_auth_method: 'client_secret_basic', roles: ['accountant'], scope: expect.stringContaining('invoices:read') });
    expect(created.body.client_secret).toMatch(/^[\w-]{43}$/);
    const id = created.body.client_id as string;

    const fetched = await call('GET', `/clients/${id}`);
    expect(fetched.body).not.toHaveProperty('client_secret');
    expect(fetched.body).toMatchObject({ registered: false, registered_at: null, application_type: 'web' });
    expect((await call('PATCH', `/clients/${id}`, { redirect_uris: ['https://app.example.com/cb2'], first_party: true })).body).toMatchObject({ redirect_uris: ['https://app.example.com/cb2'], first_party: true });
    const rotated = await call('POST', `/clients/${id}/rotate-secret`);
    expect(rotated.body.client_secret).not.toBe(created.body.client_secret);

    const user = await call('POST', '/users', { email: 'Ada@Example.com', password: 'correct horse battery staple', name: 'Ada', roles: ['accountant'] });
    expect(user).toMatchObject({ status: 201, body: { email: 'ada@example.com', roles: ['accountant'] } });
    expect(user.body).not.toHaveProperty('password');
    expect((await call('PATCH', `/users/${user.body.id}`, { disabled: true })).body.disabled).toBe(true);
    expect((await call('POST', `/users/${user.body.id}/password`, { password: 'another long password' })).status).toBe(204);
    expect((await call('GET', `/users/${user.body.id}/grants`)).body).toEqual([]);
    expect((await call('POST', `/users/${user.body.id}/revoke-grants`)).body).toEqual({ revoked: 0 });

    expect((await call('POST', '/roles/accountant/revoke', { user: 'ada@example.com' })).status).toBe(204);
    expect((await call('GET', `/users/${user.body.id}`)).body.roles).toEqual([]);
    expect((await call('POST', '/roles/accountant/grant', { client_id: id })).status).toBe(204);

    expect((await call('DELETE', `/clients/${id}`)).status).toBe(204);
    expect((await call('GET', `/clients/${id}`)).status).toBe(404);
    expect((await call('DELETE', '/roles/accountant')).status).toBe(204);
    expect((await call('DELETE', `/apis/${api.body.id}`)).status).toBe(204);
  });

  it('pages lists with a cursor and a bounded limit, and searches users by email', async () => {
    for (let i = 0; i < 5; i += 1) await server.services.users.create({ email: `page${i}@example.com`, password: 'a long enough password' }, TEST_ACTOR);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof call>> = await call('GET', `/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((u: { email: string }) => u.email));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((e) => e.startsWith('page'))).toHaveLength(5);
    expect((await call('GET', '/users?email=Page3@Example.COM')).body.items.map((u: { email: string }) => u.email)).toEqual(['page3@example.com']);
    expect((await call('GET', '/users?limit=1000')).status).toBe(400);
  });

  it('treats look-alikes of an existing address as the same person or refuses them', async () => {
    const password = 'a long enough password';
    const lin = await call('POST', '/users', { email: 'lin@example.com', password });
    expect(lin.status).toBe(201);
    for (const email of ['ｌｉｎ@example.com', 'lin@example.com.', 'LIN@Example.com']) {
      const response = await call('POST', '/users', { email, password });
      expect(response, email).toMatchObject({ status: 409, body: { detail: expect.stringMatching(/a user with email lin@example\.com already exists/) } });
    }
    for (const [email, reason] of [
      ['lin@exam\u200Bple.com', /U\+200B/],
      ['lin@exаmple.com', /label "exаmple" mixes scripts \(Latin, Cyrillic\)/],
    ] as const) {
      const response = await call('POST', '/users', { email, password });
      expect(response.status, email).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body.detail).toMatch(/^invalid email address /);
      expect(response.body.detail).toMatch(reason);
    }
    const found = (query: string) => call('GET', `/users?email=${encodeURIComponent(query)}`);
    for (const query of ['LIN@Example.com', 'ｌｉｎ@example.com', 'lin@example.com.']) expect((await found(query)).body.items.map((u: { id: string }) => u.id)).toEqual([lin.body.id]);
  });

  it('filters users on the exact address, with no LIKE wildcards', async () => {
    for (const query of ['_', '%', 'lin']) {
      const response = await call('GET', `/users?email=${encodeURIComponent(query)}`);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body.detail).toMatch(/^invalid email address .*exactly one @/);
    }
    for (const query of ['_@example.com', '%@example.com', 'l_n@example.com']) {
      expect((await call('GET', `/users?email=${encodeURIComponent(query)}`)).body.items, query).toEqual([]);
    }
  });

  it('invites an address and resends a verification link', async () => {
    const invited = await call('POST', '/invitations', { email: 'Grace@Example.com' });
    expect(invited).toMatchObject({ status: 201, body: { email: 'grace@example.com', expires_at: expect.any(String) } });
    const user = await call('POST', '/users', { email: 'linus@example.com', password: 'a long enough password' });
    expect(await call('POST', `/users/${user.body.id}/verification`)).toMatchObject({ status: 202, body: { email: 'linus@example.com' } });
    await call('PATCH', `/users/${user.body.id}`, { email_verified: true });
    expect(await call('POST', `/users/${user.body.id}/verification`)).toMatchObject({ status: 409, body: { code: 'user.already_verified' } });
    expect(await call('POST', '/invitations', { email: 'linus@example.com' })).toMatchObject({ status: 409, body: { code: 'user.email_taken' } });
    expect(await call('POST', '/invitations', { email: 'not an address' })).toMatchObject({ status: 400, body: { code: 'user.email_invalid' } });
    const templates = (await server.services.audit.list({ type: 'mail.queued' })).map((e) => (e.details as { template: string }).template);
    expect(templates).toEqual(expect.arrayContaining(['invitation', 'verify-email']));
  });

  it('creates, lists and revokes initial access tokens for dynamic client registration', async () => {
    const created = await call('POST', '/registration-tokens', { max_clients: 3, expires_in_seconds: 3600 });
    expect(created).toMatchObject({ status: 201, body: { id: expect.any(String), max_clients: 3, token: expect.stringMatching(/^[\w-]{43}$/), revoked_at: null } });
    const listed = await call('GET', '/registration-tokens');
    expect(listed.body).toEqual(expect.arrayContaining([expect.objectContaining({ id: created.body.id })]));
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
    expect((await call('POST', `/registration-tokens/${created.body.id}/revoke`)).body).toMatchObject({ id: created.body.id, revoked_at: expect.any(String) });
  });

  it('answers bad input with problem+json naming the problem', async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/clients', { client_name: 'x', grant_types: ['authorization_code'], redirect_uris: ['https://a.example.com/cb'], colour: 'red' }, 400, /unknown field colour/],
      ['POST', '/clients', { client_name: 'x' }, 400, /grant_types/],
      ['POST', '/clients', { client_name: 'x', grant_types: ['implicit'] }, 400, /grant_types/],
      ['POST', '/clients', { client_name: 'x', grant_types: ['authorization_code'], redirect_uris: ['http://evil.example.com/cb'] }, 400, /https/],
      ['POST', '/users', { email: 'not-an-email', password: 'a long enough password' }, 400, /invalid email/],
      ['POST', '/users', { email: 'short@example.com', password: 'short' }, 400, /at least 12/],
      ['POST', '/users', { email: 'weak@example.com', password: 'weak@example.com' }, 400, /too easy to guess/],
      ['POST', '/roles', { name: 'r', permissions: ['inv*oices'] }, 400, /invalid permission/],
      ['POST', '/api-keys', { name: 'k', scopes: ['everything'] }, 400, /unknown scope everything/],
      ['GET', '/clients/nope', undefined, 404, /no client nope/],
      ['PATCH', '/users/nope', { disabled: true }, 404, /no user nope/],
      ['DELETE', '/keys', undefined, 404, /No such admin endpoint/],
      ['POST', '/registration-tokens', { max_clients: 0 }, 400, /max_clients/],
      ['POST', '/registration-tokens', { token: 'chosen' }, 400, /unknown field token/],
      ['POST', '/registration-tokens/nope/revoke', undefined, 404, /no registration token nope/],
    ];
    for (const [method, path, body, status, detail] of cases) {
      const response = await call(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String) });
      expect(response.body.detail).toMatch(detail);
    }
    await call('POST', '/users', { email: 'dup@example.com', password: 'a long enough password' });
    const duplicate = await call('POST', '/users', { email: 'dup@example.com', password: 'a long enough password' });
    expect(duplicate).toMatchObject({ status: 409, body: { detail: expect.stringMatching(/already exists/) } });
  });

  it('gives each refusal its stable code, and a pointer to the body field it is about', async () => {
    const cases: [string, string, unknown, Record<string, unknown>][] = [
      ['POST', '/clients', { client_name: 'x', grant_types: [] }, { status: 400, code: 'client.grant_required', pointer: '/grant_types' }],
      ['POST', '/clients', { client_name: 'x', grant_types: ['authorization_code'] }, { status: 400, code: 'client.redirect_uri_required', pointer: '/redirect_uris' }],
      ['POST', '/clients', { client_name: 'x', grant_types: ['client_credentials'], scope: 'nope:read' }, { status: 400, code: 'client.scope_unknown', pointer: '/scope' }],
      ['POST', '/clients', { client_name: 'x', grant_types: ['client_credentials'], colour: 'red' }, { status: 400, code: 'input.invalid', pointer: '/colour' }],
      ['POST', '/clients', { client_name: 'x' }, { status: 400, code: 'input.invalid', pointer: '/grant_types' }],
      ['POST', '/users', { email: 'short@example.com', password: 'short' }, { status: 400, code: 'user.password_too_short', pointer: '/password' }],
      ['POST', '/users', { email: 'weak@example.com', password: 'iloveyou1234' }, { status: 400, code: 'user.password_too_weak', pointer: '/password' }],
      ['POST', '/api-keys', { name: 'k', scopes: ['clients:read'], allowed_ips: ['10.0.0.0/'] }, { status: 400, code: 'api_key.range_invalid', pointer: '/allowed_ips' }],
      ['GET', '/clients/nope', undefined, { status: 404, code: 'client.not_found' }],
      ['GET', '/users?email=nope', undefined, { status: 400, code: 'user.email_invalid' }],
      ['DELETE', '/roles/nope', undefined, { status: 404, code: 'role.not_found' }],
    ];
    for (const [method, path, body, expected] of cases) {
      const response = await call(method, path, body);
      expect(response.body, `${method} ${path}`).toMatchObject(expected);
      if (!('pointer' in expected)) expect(response.body).not.toHaveProperty('pointer');
    }
    expect((await call('POST', '/clients', { client_name: 'x', grant_types: [] })).body.detail).not.toMatch(/--/);
  });

  it('lists, rotates and revokes signing keys, and reads the audit trail with filters', async () => {
    const keys = await call('GET', '/keys');
    expect(keys.body[0]).toMatchObject({ kid: expect.any(String), state: 'current', alg: 'RS256' });
    const rotated = await call('POST', '/keys/rotate');
    expect(rotated.body).toMatchObject({ rotated: true, retired: keys.body[0].kid });
    const events = await call('GET', '/audit-events?type=signing_key.rotated');
    expect(events.body.items[0]).toMatchObject({ type: 'signing_key.rotated', actor: expect.stringMatching(/^api-key:/) });
    const since = new Date(Date.now() + 60_000).toISOString();
    expect((await call('GET', `/audit-events?since=${since}`)).body.items).toEqual([]);
    const page = await call('GET', '/audit-events?limit=1');
    expect(page.body.items).toHaveLength(1);
    const next = await call('GET', `/audit-events?limit=1&cursor=${page.body.next_cursor}`);
    expect(next.body.items[0].id).not.toBe(page.body.items[0].id);
  });

  it('serves an OpenAPI document of every route', async () => {
    const response = await fetch(`${server.issuer}/admin/api/v1/openapi.json`);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, object> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const route of server.app.ostiary.adminRoutes) {
      const path = route.url.replace('/admin/api/v1', '').replace(/:(\w+)/g, '{$1}');
      expect(doc.paths[path], path).toHaveProperty(route.method.toLowerCase());
    }
  });
});
