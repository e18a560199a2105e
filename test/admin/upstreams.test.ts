import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { admin, issueKey } from './support.ts';

const GOOGLE_SECRET = 'GOCSPX-admin-google-secret';
const GITHUB_SECRET = 'admin-github-secret-0123456789';
const CORP_SECRET = 'admin-corp-keycloak-secret';
const ROTATED_SECRET = 'admin-corp-rotated-secret';
const SECRETS = [GOOGLE_SECRET, GITHUB_SECRET, CORP_SECRET, ROTATED_SECRET];

describe.each(DATABASES)('admin API upstreams (%s)', (kind) => {
  let server: TestServer;
  let key: string;
  /** Every answer, searched for the secrets at the end. */
  const answers: string[] = [];
  const call = async (method: string, path: string, body?: unknown, as = key) => {
    const response = await admin(server, as, method, path, body);
    answers.push(JSON.stringify(response.body));
    return response;
  };
  const callback = (slug: string) => `${server.issuer}/upstreams/${slug}/callback`;
  const sealedColumn = async () => server.services.db.$queryRawUnsafe<{ id: string; clientSecretSealed: string | null }[]>('SELECT "id", "clientSecretSealed" FROM "Upstream" ORDER BY "id"');
  const state = async () => ({
    upstreams: await server.services.db.upstream.findMany({ orderBy: { id: 'asc' } }),
    identities: await server.services.db.upstreamIdentity.count(),
    events: await server.services.db.auditEvent.count({ where: { type: { startsWith: 'upstream.' } } }),
  });

  beforeAll(async () => {
    server = await startTestServer(kind);
    key = await issueKey(server, ['admin']);
    await server.services.roles.create({ name: 'staff', permissions: ['wiki:read'] }, TEST_ACTOR);
  });
  afterAll(() => server?.stop());

  it('creates upstreams from the Google and GitHub presets and by issuer, answering the redirect URI and never the secret', async () => {
    const google = await call('POST', '/upstreams', { slug: 'google', name: 'Google', preset: 'google', client_id: 'google-client.apps.example', client_secret: GOOGLE_SECRET });
    expect(google).toMatchObject({ status: 201, body: { slug: 'google', kind: 'oidc', preset: 'google', issuer: 'https://accounts.google.com', scope: 'openid email profile', client_auth: 'client_secret', jit: false, enabled: true, redirect_uri: callback('google') } });
    expect(google.body.claim_mapping).toEqual({ subject: ['sub'], email: ['email'], email_verified: ['email_verified'], name: ['name'] });

    const github = await call('POST', '/upstreams', { slug: 'github', name: 'GitHub', preset: 'github', client_id: 'Iv1.github-client', client_secret: GITHUB_SECRET, jit: true });
    expect(github.status).toBe(201);
    expect(github.body).toEqual({
      slug: 'github',
      name: 'GitHub',
      kind: 'oauth2',
      preset: 'github',
      issuer: null,
      authorization_url: 'https://github.com/login/oauth/authorize',
      token_url: 'https://github.com/login/oauth/access_token',
      userinfo_url: 'https://api.github.com/user',
      emails_url: 'https://api.github.com/user/emails',
      client_id: 'Iv1.github-client',
      client_auth: 'client_secret',
      scope: 'read:user user:email',
      claim_mapping: { subject: ['id'], email: [], email_verified: [], name: ['name', 'login'] },
      jit: true,
      default_roles: [],
      enabled: true,
      redirect_uri: callback('github'),
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });

    const corp = await call('POST', '/upstreams', {
      slug: 'corp',
      name: 'Corp SSO',
      kind: 'oidc',
      issuer: 'https://sso.corp.example/realms/corp',
      client_id: 'ostiary',
      client_secret: CORP_SECRET,
      scope: 'openid email profile groups',
      claim_mapping: { name: ['preferred_username', 'name'] },
      jit: true,
      default_roles: ['staff'],
      enabled: false,
    });
    expect(corp).toMatchObject({
      status: 201,
      body: { kind: 'oidc', preset: null, scope: 'openid email profile groups', claim_mapping: { subject: ['sub'], email: ['email'], email_verified: ['email_verified'], name: ['preferred_username', 'name'] }, default_roles: ['staff'], enabled: false, redirect_uri: callback('corp') },
    });

    // A stand-in on this machine: http to loopback is allowed outside production.
    const keyed = await call('POST', '/upstreams', { slug: 'dev', name: 'Dev IdP', issuer: 'http://localhost:9/', client_id: 'ostiary-dev', client_auth: 'private_key_jwt' });
    expect(keyed).toMatchObject({ status: 201, body: { client_auth: 'private_key_jwt', jwks_uri: `${server.issuer}/upstreams/dev/jwks.json`, jwks: { keys: [expect.objectContaining({ kty: 'RSA' })] } } });
    expect(keyed.body.jwks.keys[0]).not.toHaveProperty('d');

    for (const answer of [google, github, corp]) expect(answer.body).not.toHaveProperty('client_secret');
    const rows = await sealedColumn();
    expect(rows.map((r) => r.id)).toEqual(['corp', 'dev', 'github', 'google']);
    for (const row of rows) for (const secret of SECRETS) expect(row.clientSecretSealed ?? '').not.toContain(secret);
    expect((await server.services.upstreams.runtime('google'))?.clientSecret).toBe(GOOGLE_SECRET);
    expect((await server.services.upstreams.runtime('github'))?.clientSecret).toBe(GITHUB_SECRET);

    const created = await server.services.audit.list({ type: 'upstream.created' });
    expect(created).toHaveLength(4);
    expect(created.every((e) => e.actor === `api-key:${key.slice(4, 20)}`)).toBe(true);
  });

  it('lists, shows, updates and deletes upstreams', async () => {
    const listed = await call('GET', '/upstreams');
    expect(listed.status).toBe(200);
    expect(listed.body.map((u: { slug: string; redirect_uri: string }) => [u.slug, u.redirect_uri])).toEqual([['corp', callback('corp')], ['dev', callback('dev')], ['github', callback('github')], ['google', callback('google')]]);
    expect((await call('GET', '/upstreams/github')).body).toMatchObject({ slug: 'github', kind: 'oauth2' });

    const updated = await call('PATCH', '/upstreams/corp', { name: 'Corp', client_secret: ROTATED_SECRET, enabled: true, jit: false, claim_mapping: { email_verified: [] }, default_roles: [] });
    expect(updated).toMatchObject({ status: 200, body: { name: 'Corp', enabled: true, jit: false, default_roles: [], claim_mapping: { subject: ['sub'], email_verified: [], name: ['preferred_username', 'name'] } } });
    expect(updated.body).not.toHaveProperty('client_secret');
    expect((await server.services.upstreams.runtime('corp'))?.clientSecret).toBe(ROTATED_SECRET);
    const [audited] = await server.services.audit.list({ type: 'upstream.updated' });
    expect(audited).toMatchObject({ details: { upstream: 'corp', fields: expect.stringContaining('client_secret') } });
    expect(JSON.stringify(audited)).not.toContain(ROTATED_SECRET);

    expect((await call('PATCH', '/upstreams/google', { issuer: 'https://accounts.google.com/', scope: 'openid email' })).body).toMatchObject({ issuer: 'https://accounts.google.com/', scope: 'openid email' });

    expect((await call('DELETE', '/upstreams/github')).status).toBe(204);
    expect(await call('GET', '/upstreams/github')).toMatchObject({ status: 404, body: { code: 'upstream.not_found' } });
    expect(await call('DELETE', '/upstreams/github')).toMatchObject({ status: 404, body: { code: 'upstream.not_found' } });
    expect((await server.services.upstreams.list()).map((u) => u.slug)).toEqual(['corp', 'dev', 'google']);
  });

  it('refuses bad input with problem+json, its code and the field, and changes nothing', async () => {
    const base = { name: 'X', issuer: 'https://idp.example.com', client_id: 'x', client_secret: 'a-client-secret-never-stored' };
    const cases: [string, string, unknown, Record<string, unknown>][] = [
      ['POST', '/upstreams', { ...base, slug: 'Bad_Slug' }, { status: 400, code: 'upstream.slug_invalid', pointer: '/slug' }],
      ['POST', '/upstreams', { ...base, slug: '-x' }, { status: 400, code: 'upstream.slug_invalid', pointer: '/slug' }],
      ['POST', '/upstreams', { ...base, slug: 'plain', issuer: 'http://idp.example.com' }, { status: 400, code: 'upstream.url_invalid', pointer: '/issuer' }],
      ['POST', '/upstreams', { ...base, slug: 'meta', issuer: 'http://169.254.169.254/latest' }, { status: 400, code: 'upstream.url_invalid', pointer: '/issuer' }],
      ['POST', '/upstreams', { ...base, slug: 'okta', preset: 'okta' }, { status: 400, code: 'upstream.preset_unknown', pointer: '/preset' }],
      ['POST', '/upstreams', { ...base, slug: 'saml', kind: 'saml' }, { status: 400, code: 'upstream.kind_invalid', pointer: '/kind' }],
      ['POST', '/upstreams', { ...base, slug: 'bare', issuer: undefined, kind: 'oauth2', authorization_url: 'https://idp.example.com/authorize' }, { status: 400, code: 'upstream.endpoints_missing', pointer: '/authorization_url' }],
      ['POST', '/upstreams', { ...base, slug: 'bare', issuer: undefined }, { status: 400, code: 'upstream.endpoints_missing', pointer: '/issuer' }],
      ['POST', '/upstreams', { ...base, slug: 'google', preset: 'google', issuer: undefined }, { status: 409, code: 'upstream.slug_taken', pointer: '/slug' }],
      ['POST', '/upstreams', { ...base, slug: 'x', client_secret: '' }, { status: 400, code: 'upstream.client_invalid', pointer: '/client_secret' }],
      ['POST', '/upstreams', { ...base, slug: 'x', client_id: 'has space' }, { status: 400, code: 'upstream.client_invalid', pointer: '/client_id' }],
      ['POST', '/upstreams', { ...base, slug: 'x', name: '<b>X</b>' }, { status: 400, code: 'upstream.name_invalid', pointer: '/name' }],
      ['POST', '/upstreams', { ...base, slug: 'x', scope: 'openid "email"' }, { status: 400, code: 'upstream.scope_invalid', pointer: '/scope' }],
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: { subject: [] } }, { status: 400, code: 'upstream.mapping_invalid' }],
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: { subject: ['a b'] } }, { status: 400, code: 'upstream.mapping_invalid' }],
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: { groups: ['g'] } }, { status: 400, code: 'input.invalid', pointer: '/claim_mapping', detail: 'unknown field groups' }],
      ['POST', '/upstreams', { ...base, slug: 'x', default_roles: ['nope'] }, { status: 404, code: 'role.not_found' }],
      ['POST', '/upstreams', { ...base, slug: 'x', colour: 'red' }, { status: 400, code: 'input.invalid', pointer: '/colour' }],
      ['POST', '/upstreams', { ...base, slug: 'x', client_auth: 'mtls' }, { status: 400, code: 'upstream.client_invalid', pointer: '/client_auth' }],
      ['POST', '/upstreams', { name: 'X', issuer: 'https://idp.example.com', client_id: 'x' }, { status: 400, code: 'input.invalid', pointer: '/slug' }],
      ['PATCH', '/upstreams/corp', {}, { status: 400, code: 'input.invalid' }],
      ['PATCH', '/upstreams/corp', { slug: 'other' }, { status: 400, code: 'input.invalid', pointer: '/slug' }],
      ['PATCH', '/upstreams/corp', { preset: 'google' }, { status: 400, code: 'input.invalid', pointer: '/preset' }],
      ['PATCH', '/upstreams/corp', { kind: 'oauth2' }, { status: 400, code: 'upstream.endpoints_missing' }],
      ['PATCH', '/upstreams/corp', { issuer: 'https://sso.corp.example/#x' }, { status: 400, code: 'upstream.url_invalid', pointer: '/issuer' }],
      ['PATCH', '/upstreams/dev', { client_secret: 'a-client-secret-never-stored' }, { status: 400, code: 'upstream.client_invalid', pointer: '/client_secret' }],
      ['PATCH', '/upstreams/nope', { name: 'X' }, { status: 404, code: 'upstream.not_found' }],
      ['GET', '/upstreams/nope', undefined, { status: 404, code: 'upstream.not_found' }],
      ['DELETE', '/upstreams/nope', undefined, { status: 404, code: 'upstream.not_found' }],
    ];
    const before = await state();
    for (const [method, path, body, expected] of cases) {
      const response = await call(method, path, body);
      expect(response.body, `${method} ${path} ${JSON.stringify(body)}`).toMatchObject({ type: 'about:blank', title: expect.any(String), detail: expect.any(String), ...expected });
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await call('POST', '/upstreams', { ...base, slug: 'x', issuer: 'ftp://idp.example.com' })).body.detail).toMatch(/issuer must be an https URL without credentials or a fragment \(http only to localhost\)/);
    expect(await state()).toEqual(before);
  });

  it('sets default roles only with roles:write, and lists and changes upstreams only with the upstreams scopes', async () => {
    const writer = await issueKey(server, ['upstreams:write', 'upstreams:read']);
    const reader = await issueKey(server, ['upstreams:read']);
    const before = await state();
    const body = { slug: 'staff-idp', name: 'Staff', issuer: 'https://idp.example.com', client_id: 'x', client_secret: 'a-client-secret-never-stored', default_roles: ['staff'] };
    expect(await call('POST', '/upstreams', body, writer)).toMatchObject({ status: 403, body: { code: 'api_key.scope_missing', detail: expect.stringMatching(/roles:write/) } });
    expect(await call('PATCH', '/upstreams/corp', { default_roles: ['staff'] }, writer)).toMatchObject({ status: 403, body: { code: 'api_key.scope_missing' } });
    expect(await call('POST', '/upstreams', { ...body, default_roles: undefined }, reader)).toMatchObject({ status: 403, body: { detail: 'This API key lacks the scope upstreams:write.' } });
    expect(await call('DELETE', '/upstreams/corp', undefined, reader)).toMatchObject({ status: 403 });
    expect((await call('GET', '/upstreams', undefined, reader)).status).toBe(200);
    expect(await state()).toEqual(before);
    expect(await call('POST', '/upstreams', { ...body, default_roles: undefined }, writer)).toMatchObject({ status: 201, body: { slug: 'staff-idp', default_roles: [] } });
  });

  it('describes the routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${server.issuer}/admin/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/upstreams']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/upstreams/{slug}']!).sort()).toEqual(['delete', 'get', 'patch']);
    expect(JSON.stringify(doc.paths['/upstreams']!.get)).not.toContain('client_secret');
  });

  it('never answered a client secret', () => {
    expect(answers.length).toBeGreaterThan(30);
    for (const answer of answers) for (const secret of [...SECRETS, 'a-client-secret-never-stored']) expect(answer).not.toContain(secret);
  });
});
