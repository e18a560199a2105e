import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { ostiary, type CliRun } from '../support/cli.ts';
import { DATABASES } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const GOOGLE_SECRET = 'GOCSPX-google-client-secret-value';
const GITHUB_SECRET = 'github-client-secret-0123456789abcdef';
const CORP_SECRET = 'corp-keycloak-client-secret';
const ROTATED_SECRET = 'corp-keycloak-rotated-secret';
const SECRETS = [GOOGLE_SECRET, GITHUB_SECRET, CORP_SECRET, ROTATED_SECRET];

// Each step starts a real `ostiary` process on the database of a running server, as an operator
// beside it would (on PostgreSQL a command takes several seconds: the pool lingers before exit).
describe.each(DATABASES)('ostiary upstreams (%s)', (kind) => {
  const SLOW = 240_000;
  let server: TestServer;
  let env: Record<string, string>;
  /** Every output of every command, searched for the secrets at the end. */
  const outputs: CliRun[] = [];
  const run = async (args: string[], stdin?: string) => {
    const result = await ostiary(args, env, stdin);
    outputs.push(result);
    return result;
  };
  /** A successful --json command: exactly one JSON document on stdout. */
  async function json(args: string[], stdin?: string) {
    const result = await run([...args, '--json'], stdin);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  }
  const callback = (slug: string) => `${server.issuer}/upstreams/${slug}/callback`;
  const sealedColumn = async () => server.services.db.$queryRawUnsafe<{ id: string; clientSecretSealed: string }[]>('SELECT "id", "clientSecretSealed" FROM "Upstream" ORDER BY "id"');

  beforeAll(async () => {
    server = await startTestServer(kind);
    // The same issuer and data directory (its development key-encryption key) as the server.
    env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, ISSUER: server.issuer };
    await server.services.roles.create({ name: 'staff', permissions: ['wiki:read'] }, TEST_ACTOR);
  });
  afterAll(() => server?.stop());

  it('creates upstreams from the Google and GitHub presets and by issuer, printing the redirect URI to register and never the secret', async () => {
    const [google, github, corp, keyed] = await Promise.all([
      run(['upstreams', 'create', '--slug', 'google', '--name', 'Google', '--preset', 'google', '--client-id', 'google-client.apps.example', '--client-secret-stdin'], `${GOOGLE_SECRET}\n`),
      json(['upstreams', 'create', '--slug', 'github', '--name', 'GitHub', '--preset', 'github', '--client-id', 'Iv1.github-client', '--client-secret-stdin', '--jit'], GITHUB_SECRET),
      json([
        'upstreams', 'create', '--slug', 'corp', '--name', 'Corp SSO', '--kind', 'oidc', '--issuer', 'https://sso.corp.example/realms/corp',
        '--client-id', 'ostiary', '--client-secret-stdin', '--scope', 'openid email', '--scope', 'profile', '--jit',
        '--map', 'name=preferred_username,name', '--map', 'email_verified=', '--default-role', 'staff', '--disabled',
      ], `${CORP_SECRET}\n`),
      // No secret: Ostiary authenticates with a key of its own; plain http to loopback outside production.
      run(['upstreams', 'create', '--slug', 'dev', '--name', 'Dev IdP', '--issuer', 'http://127.0.0.1:9/', '--client-id', 'ostiary-dev', '--client-auth', 'private_key_jwt']),
    ]);

    // Human output: what was made and the redirect URI to register at Google.
    expect(google.code, google.stderr).toBe(0);
    expect(google.stdout).toMatch(/^created upstream google {2}Google {2}oidc \(google\) {2}https:\/\/accounts\.google\.com {2}client google-client\.apps\.example$/m);
    expect(google.stdout).toContain(`redirect URI: ${callback('google')}\n`);
    expect(google.stdout).toMatch(/Register this redirect URI at the upstream/);

    // The GitHub preset is a plain OAuth 2.0 provider with its endpoints and mapping filled in.
    expect(github).toEqual({
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

    // A generic OpenID Provider by its issuer, with the flags' scope, mapping, roles and state.
    expect(corp).toMatchObject({
      slug: 'corp',
      kind: 'oidc',
      preset: null,
      issuer: 'https://sso.corp.example/realms/corp',
      authorization_url: null,
      scope: 'openid email profile',
      claim_mapping: { subject: ['sub'], email: ['email'], email_verified: [], name: ['preferred_username', 'name'] },
      jit: true,
      default_roles: ['staff'],
      enabled: false,
      redirect_uri: callback('corp'),
    });
    expect(corp).not.toHaveProperty('client_secret');

    // private_key_jwt: the JWKS URI to register is printed beside the redirect URI; its key is public.
    expect(keyed.code, keyed.stderr).toBe(0);
    expect(keyed.stdout).toContain(`redirect URI: ${callback('dev')}\n`);
    expect(keyed.stdout).toContain(`jwks URI: ${server.issuer}/upstreams/dev/jwks.json\n`);
    const dev = await json(['upstreams', 'show', 'dev']);
    expect(dev).toMatchObject({ client_auth: 'private_key_jwt', jwks_uri: `${server.issuer}/upstreams/dev/jwks.json`, jwks: { keys: [expect.objectContaining({ kty: 'RSA' })] } });
    expect(dev.jwks.keys[0]).not.toHaveProperty('d');

    // Sealed in the database: the column never holds the secret, and it opens to it again.
    const rows = await sealedColumn();
    expect(rows.map((r) => r.id)).toEqual(['corp', 'dev', 'github', 'google']);
    for (const row of rows.filter((r) => r.id !== 'dev')) for (const secret of SECRETS) expect(row.clientSecretSealed).not.toContain(secret);
    expect((await server.services.upstreams.runtime('google'))?.clientSecret).toBe(GOOGLE_SECRET);
    expect((await server.services.upstreams.runtime('github'))?.clientSecret).toBe(GITHUB_SECRET);
    expect(await server.services.upstreams.runtime('corp')).toBeUndefined();

    const created = await server.services.audit.list({ type: 'upstream.created' });
    expect(created.map((e) => [e.actor, (e.details as { upstream: string }).upstream]).sort()).toEqual([['cli', 'corp'], ['cli', 'dev'], ['cli', 'github'], ['cli', 'google']]);
  }, SLOW);

  it('lists, shows, updates and deletes upstreams', async () => {
    const [listed, listText, shown, showText] = await Promise.all([
      json(['upstreams', 'list']),
      run(['upstreams', 'list']),
      json(['upstreams', 'show', 'github']),
      run(['upstreams', 'show', 'corp']),
    ]);
    expect(listed.map((u: { slug: string; redirect_uri: string }) => [u.slug, u.redirect_uri])).toEqual([['corp', callback('corp')], ['dev', callback('dev')], ['github', callback('github')], ['google', callback('google')]]);
    expect(listText.stdout.trim().split('\n')).toEqual([
      'corp  Corp SSO  oidc  https://sso.corp.example/realms/corp  client ostiary  jit  (disabled)',
      'dev  Dev IdP  oidc  http://127.0.0.1:9/  client ostiary-dev',
      'github  GitHub  oauth2 (github)  https://github.com/login/oauth/authorize  client Iv1.github-client  jit',
      'google  Google  oidc (google)  https://accounts.google.com  client google-client.apps.example',
    ]);
    expect(shown).toMatchObject({ slug: 'github', kind: 'oauth2', redirect_uri: callback('github') });
    expect(showText.stdout).toContain(`redirect URI: ${callback('corp')}`);
    expect(showText.stdout).toContain('mapping: subject=sub email=email email_verified=- name=preferred_username,name');
    expect(showText.stdout).toContain('default roles: staff');

    // A new secret, the upstream on, just-in-time accounts off, one mapping member changed, no default roles.
    const updated = await json(['upstreams', 'update', 'corp', '--client-secret-stdin', '--enabled', '--no-jit', '--map', 'email_verified=email_verified', '--name', 'Corp', '--default-role', ''], ROTATED_SECRET);
    expect(updated).toMatchObject({ slug: 'corp', name: 'Corp', enabled: true, jit: false, default_roles: [], claim_mapping: { subject: ['sub'], email_verified: ['email_verified'], name: ['preferred_username', 'name'] }, redirect_uri: callback('corp') });
    expect((await server.services.upstreams.runtime('corp'))?.clientSecret).toBe(ROTATED_SECRET);
    const [audited] = await server.services.audit.list({ type: 'upstream.updated' });
    expect(audited).toMatchObject({ actor: 'cli', details: { upstream: 'corp', fields: expect.stringContaining('client_secret') } });

    const textUpdate = await run(['upstreams', 'update', 'google', '--disabled', '--scope', 'openid email']);
    expect(textUpdate.code, textUpdate.stderr).toBe(0);
    expect(textUpdate.stdout).toContain(`redirect URI: ${callback('google')}`);
    expect(await server.services.upstreams.show('google')).toMatchObject({ enabled: false, scope: 'openid email' });

    expect(await json(['upstreams', 'delete', 'github'])).toEqual({ deleted: 'github', unlinked: 0 });
    const [gone, deleteAgain] = await Promise.all([run(['upstreams', 'show', 'github']), run(['upstreams', 'delete', 'github'])]);
    expect(gone).toMatchObject({ code: 3, stdout: '', stderr: expect.stringMatching(/no upstream github/) });
    expect(deleteAgain.code).toBe(3);
    expect((await server.services.upstreams.list()).map((u) => u.slug)).toEqual(['corp', 'dev', 'google']);
  }, SLOW);

  it('refuses bad input with a clear message and its exit code, printing nothing on stdout and changing nothing', async () => {
    const create = (...flags: string[]) => ['upstreams', 'create', '--client-id', 'x', '--client-secret-stdin', ...flags];
    const cases: [string[], number, RegExp][] = [
      [create('--slug', 'Bad_Slug', '--name', 'X', '--issuer', 'https://idp.example.com'), 2, /a slug is 1 to 40 lowercase letters, digits and inner hyphens/],
      [create('--slug', 'plain', '--name', 'X', '--issuer', 'http://idp.example.com'), 2, /issuer must be an https URL .*\(http only to localhost\)/],
      [create('--slug', 'okta', '--name', 'Okta', '--preset', 'okta'), 2, /no preset okta \(google, microsoft, github, gitlab, apple\)/],
      [create('--slug', 'bare', '--name', 'Bare', '--kind', 'oauth2', '--authorization-url', 'https://idp.example.com/authorize'), 2, /an oauth2 upstream needs its authorization, token and userinfo URLs/],
      [create('--slug', 'google', '--name', 'Another Google', '--preset', 'google'), 4, /another upstream has the slug google/],
      [create('--slug', 'gh', '--name', 'GitHub', '--preset', 'github', '--kind', 'oidc'), 2, /the github preset is of kind oauth2/],
      [create('--slug', 'ms', '--name', 'Microsoft', '--preset', 'microsoft'), 2, /an oidc upstream needs its issuer URL/],
      [create('--slug', 'corp2', '--name', 'X', '--issuer', 'https://idp.example.com', '--map', 'colour=blue'), 2, /--map takes FIELD=MEMBER\[,MEMBER\.\.\.\] with FIELD one of subject, email, email_verified, name/],
      [create('--slug', 'corp2', '--name', 'X', '--issuer', 'https://idp.example.com', '--map', 'subject=<script>'), 2, /the mapping of subject must be up to five member names/],
      [create('--slug', 'corp2', '--name', 'X', '--issuer', 'https://idp.example.com', '--default-role', 'nope'), 3, /no role nope/],
      [['upstreams', 'create', '--slug', 'corp2', '--name', 'X', '--issuer', 'https://idp.example.com', '--client-id', 'x'], 2, /--client-secret-stdin is required/],
      [create('--slug', 'corp2', '--name', 'X', '--issuer', 'https://idp.example.com', '--client-auth', 'private_key_jwt'), 2, /--client-auth private_key_jwt takes no client secret/],
      [create('--slug', 'corp2', '--name', 'X', '--issuer', 'https://idp.example.com', '--client-auth', 'mtls'), 2, /the client authentication is client_secret or private_key_jwt/],
      [['upstreams', 'create', '--slug', 'gh2', '--name', 'X', '--preset', 'github', '--client-id', 'x', '--client-auth', 'private_key_jwt'], 2, /private_key_jwt is for oidc upstreams/],
      [['upstreams', 'update', 'dev', '--client-secret-stdin'], 2, /authenticates with private_key_jwt, not a secret/],
      [['upstreams', 'create', '--name', 'X', '--issuer', 'https://idp.example.com', '--client-id', 'x', '--client-secret-stdin'], 2, /--slug is required/],
      [['upstreams', 'update', 'corp', '--jit', '--no-jit'], 2, /--jit or --no-jit, not both/],
      [['upstreams', 'update', 'corp', '--enabled', '--disabled'], 2, /--enabled or --disabled, not both/],
      [['upstreams', 'update', 'corp'], 2, /nothing to change/],
      [['upstreams', 'update', 'corp', '--preset', 'google'], 2, /preset/],
      [['upstreams', 'update', 'corp', '--issuer', 'https://user:pw@sso.corp.example/'], 2, /without credentials or a fragment/],
      [['upstreams', 'update', 'corp', '--kind', 'oauth2'], 2, /an oauth2 upstream needs its authorization, token and userinfo URLs/],
      [['upstreams', 'update', 'nope', '--name', 'X'], 3, /no upstream nope/],
      [['upstreams', 'rename', 'corp'], 2, /usage: ostiary upstreams create\|list\|show\|update\|delete/],
    ];
    const before = { rows: await server.services.db.upstream.findMany({ orderBy: { id: 'asc' } }), events: await server.services.db.auditEvent.count({ where: { type: { startsWith: 'upstream.' } } }) };
    // A few processes at a time, not twenty at once on a small machine.
    const results: CliRun[] = [];
    for (let i = 0; i < cases.length; i += 5) {
      results.push(...(await Promise.all(cases.slice(i, i + 5).map(([args]) => run([...args, '--json'], 'a-client-secret-never-stored\n')))));
    }
    cases.forEach(([args, code, message], i) => {
      const result = results[i]!;
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr).not.toContain('a-client-secret-never-stored');
    });
    expect(await server.services.db.upstream.findMany({ orderBy: { id: 'asc' } })).toEqual(before.rows);
    expect(await server.services.db.auditEvent.count({ where: { type: { startsWith: 'upstream.' } } })).toBe(before.events);
  }, SLOW);

  it('never printed a client secret, in any output of any command', () => {
    expect(outputs.length).toBeGreaterThan(20);
    for (const { stdout, stderr } of outputs) for (const secret of SECRETS) expect(`${stdout}${stderr}`).not.toContain(secret);
  });
});
