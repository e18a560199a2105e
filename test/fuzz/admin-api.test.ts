import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_SCOPES } from '../../src/api-keys/index.ts';
import { GRANT_TYPES } from '../../src/clients/index.ts';
import { admin, issueKey } from '../admin/support.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { ADA, BILLING, createBillingApi } from '../support/fixtures.ts';
import { DATABASES } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { anyJson, fuzzParameters, nastyString } from './support.ts';

const text = fc.oneof(nastyString, fc.constantFrom('web', 'invoices:read', 'invoices:*', 'admin', 'billing', BILLING, ADA.email));
const texts = fc.oneof(fc.array(text, { maxLength: 4 }), anyJson);
const url = fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), text, fc.constantFrom('https://app.example.com/cb', 'http://localhost/cb', 'javascript:alert(1)', 'https://[::1]/cb'));
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 60, 2 ** 31, Number.MAX_SAFE_INTEGER));
/** Mostly the fields an endpoint knows, with values of every kind; sometimes any JSON at all. */
const bodyOf = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fc.oneof({ weight: 3, arbitrary: v }, { weight: 1, arbitrary: anyJson })])), { requiredKeys: [] }) },
    { weight: 1, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.record({ [Object.keys(fields)[0]!]: fields[Object.keys(fields)[0]!]!, extra: anyJson }) },
  );

const clientFields = {
  client_name: text,
  grant_types: fc.oneof(fc.subarray([...GRANT_TYPES]), texts),
  redirect_uris: fc.array(url, { maxLength: 3 }),
  post_logout_redirect_uris: fc.array(url, { maxLength: 3 }),
  scope: text,
  first_party: fc.boolean(),
  roles: texts,
};
const ENDPOINTS = {
  'POST /clients': bodyOf({
    ...clientFields,
    token_endpoint_auth_method: fc.constantFrom('client_secret_basic', 'none', 'private_key_jwt'),
    introspection_audiences: fc.array(fc.oneof(url, fc.constant(BILLING)), { maxLength: 2 }),
    access_token_ttl: number,
    id_token_ttl: number,
    refresh_token_ttl: number,
  }),
  'PATCH /clients/:id': bodyOf(clientFields),
  'POST /users': bodyOf({ email: fc.oneof(fc.emailAddress(), text), password: text, name: text, email_verified: fc.boolean(), roles: texts }),
  'PATCH /users/:id': bodyOf({ name: fc.option(text), email_verified: fc.boolean(), disabled: fc.boolean(), roles: texts }),
  'POST /users/:id/password': bodyOf({ password: text }),
  'POST /roles': bodyOf({ name: text, permissions: texts }),
  'POST /roles/:id/grant': bodyOf({ user: fc.oneof(fc.constant(ADA.email), text), client_id: text }),
  'POST /roles/:id/revoke': bodyOf({ user: fc.oneof(fc.constant(ADA.email), text), client_id: text }),
  'POST /apis': bodyOf({ name: text, audience: url, scopes: texts }),
  'POST /api-keys': bodyOf({ name: text, scopes: fc.oneof(fc.subarray([...API_KEY_SCOPES], { minLength: 1 }), texts), expires_in_seconds: number, allowed_ips: fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), text), { maxLength: 3 }) }),
};

describe.each(DATABASES)('admin API bodies (%s)', (kind) => {
  let server: TestServer;
  let key: string;
  const ids: Record<string, string[]> = { clients: [], users: [], roles: [] };

  beforeAll(async () => {
    server = await startTestServer(kind, { RATE_LIMIT_ADMIN_PER_KEY: '1000000' });
    await createBillingApi(server, ['invoices:read', 'invoices:write']);
    const { users, clients, roles } = server.services;
    ids.users!.push((await users.create(ADA, TEST_ACTOR)).id);
    ids.clients!.push((await clients.create({ name: 'web', grantTypes: ['client_credentials'] }, TEST_ACTOR)).client.clientId);
    ids.roles!.push((await roles.create({ name: 'billing', permissions: ['invoices:*'] }, TEST_ACTOR)).id);
    key = await issueKey(server, ['admin']);
  });
  afterAll(() => server?.stop());

  /** Every row an admin write may touch, and the changes the audit trail records (API keys without their last use). */
  async function snapshot() {
    const { db, audit } = server.services;
    await audit.flush();
    const apiKeys = (await db.apiKey.findMany({ orderBy: { id: 'asc' } })).map(({ lastUsedAt: _at, lastUsedIp: _ip, ...rest }) => rest);
    const tables = [db.client, db.user, db.role, db.rolePermission, db.userRole, db.clientRole, db.api, db.apiScope] as unknown as { findMany(): Promise<unknown[]> }[];
    const rows = await Promise.all(tables.map((table) => table.findMany()));
    const changes = await db.auditEvent.count({ where: { type: { notIn: ['api_key.used', 'api_key.refused'] } } });
    return JSON.stringify({ rows, apiKeys, changes });
  }

  const request = fc.tuple(
    fc.constantFrom(...(Object.keys(ENDPOINTS) as (keyof typeof ENDPOINTS)[])),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: nastyString.map((id) => encodeURIComponent(Buffer.from(id).toString())) },
      // Sent as they are: broken percent-encoding and dot segments.
      { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '..%2F..', '.', '..') },
    ),
  ).chain(([endpoint, id]) => ENDPOINTS[endpoint].map((body) => ({ endpoint, id, body })));

  it('any JSON body answers 2xx, or 4xx problem+json that changed nothing; never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ endpoint, id, body }) => {
        const [method, template] = endpoint.split(' ') as [string, string];
        const noun = template.split('/')[1]!;
        const target = id ?? encodeURIComponent(ids[noun]?.[0] ?? 'none');
        const path = template.replace(':id', target);
        const before = await snapshot();
        const response = await admin(server, key, method, path, body);
        expect(response.status, JSON.stringify(response.body)).toBeLessThan(500);
        // 431: Node's HTTP parser refuses a request line over 16 KB before any route sees it.
        if (response.status >= 400 && response.status !== 431) {
          expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
          expect(response.body).toMatchObject({ status: response.status });
          expect(await snapshot()).toBe(before);
        }
      }),
      fuzzParameters(100),
    );
  });
});
