import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, issueKey } from '../admin/support.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { ostiary } from '../support/cli.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';
import { postForm } from '../support/fixtures.ts';
import { verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const URN = 'urn:example:api';
const REFUSED = ['billing', '/billing', '//billing.example.com', 'https://billing.example.com/#part', 'urn:example:api#part', 'https:', 'urn example', ''];

describe('API audiences on the command line', () => {
  let database: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    env = { DATA_DIR: database.dataDir, DATABASE_URL: database.url };
  });
  afterAll(() => database?.drop());

  it('accepts a urn: audience and refuses relative ones and fragments', async () => {
    const created = await ostiary(['apis', 'create', '--name', 'Example', '--audience', URN, '--scope', 'things:read', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ audience: URN, scopes: ['things:read'] });
    for (const audience of ['relative/path', 'https://billing.example.com/#part']) {
      const refused = await ostiary(['apis', 'create', '--name', 'Bad', '--audience', audience, '--json'], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('absolute URI without a fragment');
    }
    const list = await ostiary(['apis', 'list', '--json'], env);
    expect(JSON.parse(list.stdout).map((api: { audience: string }) => api.audience)).toEqual([URN]);
  });
});

describe.each(DATABASES)('API audiences (%s)', (kind) => {
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    server = await startTestServer(kind, { DEFAULT_RESOURCE: URN });
    key = await issueKey(server, ['admin']);
  });
  afterAll(() => server?.stop());

  it('the admin API takes any absolute URI as an audience and refuses the rest, storing nothing', async () => {
    const created = await admin(server, key, 'POST', '/apis', { name: 'Example', audience: URN, scopes: ['things:read'] });
    expect(created).toMatchObject({ status: 201, body: { audience: URN } });
    for (const audience of REFUSED) {
      const refused = await admin(server, key, 'POST', '/apis', { name: 'Bad', audience });
      expect(refused.status, audience).toBe(400);
      expect(refused.body.code).toBe('api.audience_invalid');
    }
    expect((await server.services.apis.list()).map((api) => api.audience)).toEqual([URN]);
  });

  it('issues tokens for a urn: audience, by resource and as the default resource', async () => {
    const worker = await server.services.clients.create({ name: 'worker', grantTypes: ['client_credentials'], scopes: ['things:read'] }, TEST_ACTOR);
    const credentials = { id: worker.client.clientId, secret: worker.clientSecret! };
    for (const form of [{ resource: URN }, {}] as Record<string, string>[]) {
      const response = await postForm(server, '/token', credentials, { grant_type: 'client_credentials', scope: 'things:read', ...form });
      expect(response.status).toBe(200);
      const { access_token } = (await response.json()) as { access_token: string };
      const { payload } = await verifyJwt(server.issuer, access_token, URN, 'at+jwt');
      expect(payload).toMatchObject({ aud: URN, scope: 'things:read', client_id: credentials.id });
    }
  });
});
