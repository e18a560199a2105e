import { createServer, type Server } from 'node:http';
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { admin, issueKey } from '../admin/support.ts';
import { inProcess } from '../support/cli.ts';
import { DATABASES } from '../support/databases.ts';
import { REDIRECT } from '../support/flows.ts';
import { startHttpsOrigin, type HttpsOrigin } from '../support/https-origin.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { authorize, UserAgent } from '../support/user-agent.ts';

const ADA = { email: 'ada.cimd@example.com', password: 'saffron lighthouse orbit pebble' };
const PUBLIC_CLIENT = { redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };

/** The token endpoint's answer to a code that was never issued, for the client this URL names. */
async function tokenAnswer(server: TestServer, clientId: string): Promise<{ status: number; error: string }> {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code: 'never-issued', redirect_uri: REDIRECT, code_verifier: 'v'.repeat(43) }),
  });
  return { status: response.status, error: ((await response.json()) as { error: string }).error };
}

/** An MCP server whose API publishes its metadata at Ostiary; it accepts Ostiary's tokens for its audience. */
async function startMcpServer(port: number, audience: string, issuer: string, metadataUrl: () => string): Promise<Server> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const server = createServer((request, response) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const challenge = () => response.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${metadataUrl()}", scope="mcp:tools"` }).end();
    if (!token) return challenge();
    jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt' })
      .then(({ payload }) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: payload.client_id, scope: payload.scope })))
      .catch(challenge);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** The MCP SDK's OAuth client, known to the authorization server only by its metadata document URL. */
function urlClient(clientMetadataUrl: string, onAuthorize: (url: URL) => void): OAuthClientProvider & { saved?: OAuthTokens } {
  let verifier = '';
  let information: OAuthClientInformationMixed | undefined;
  const provider: OAuthClientProvider & { saved?: OAuthTokens } = {
    clientMetadataUrl,
    get redirectUrl() {
      return REDIRECT;
    },
    get clientMetadata() {
      return { client_name: 'Tool Agent', ...PUBLIC_CLIENT };
    },
    clientInformation: () => information,
    saveClientInformation: (value) => {
      information = value;
    },
    tokens: () => provider.saved,
    saveTokens: (tokens) => {
      provider.saved = tokens;
    },
    redirectToAuthorization: onAuthorize,
    saveCodeVerifier: (value) => {
      verifier = value;
    },
    codeVerifier: () => verifier,
  };
  return provider;
}

describe.each(DATABASES)('client ID metadata documents (%s)', (kind) => {
  let origin: HttpsOrigin;
  let server: TestServer;
  let mcp: Server;
  let audience: string;
  let metadataUrl: string;
  let env: Record<string, string>;
  const documentUrl = (path: string) => `${origin.origin}${path}`;
  const serve = (path: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    origin.json(path, { client_id: documentUrl(path), client_name: 'Tool Agent', ...PUBLIC_CLIENT, ...extra }, headers);

  beforeAll(async () => {
    origin = await startHttpsOrigin();
    server = await startTestServer(kind, { CIMD: 'allowlist', CIMD_ALLOWED_HOSTS: 'localhost', CIMD_ALLOW_LOOPBACK: 'true' }, { outbound: { ca: [origin.ca] } });
    env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, ISSUER: server.issuer, LOG_LEVEL: 'silent' };
    const port = await freePort();
    audience = `http://127.0.0.1:${port}/mcp`;
    mcp = await startMcpServer(port, audience, server.issuer, () => metadataUrl);
    const api = await server.services.apis.create({ name: 'Tools', audience, scopes: ['mcp:tools'], publishMetadata: true }, TEST_ACTOR);
    metadataUrl = `${server.issuer}/.well-known/oauth-protected-resource/${api.id}`;
    await server.services.apis.create({ name: 'Payroll', audience: 'https://payroll.example.com', scopes: ['payroll:read'] }, TEST_ACTOR);
    await server.services.users.create({ ...ADA, emailVerified: true }, TEST_ACTOR);
  });
  afterAll(async () => {
    await new Promise((resolve) => mcp?.close(resolve));
    await server?.stop();
    await origin?.close();
  });

  it('advertises client_id_metadata_document_supported', async () => {
    const meta = (await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.client_id_metadata_document_supported).toBe(true);
  });

  it("signs an MCP client in by its document URL alone (the MCP SDK's auth()), and shares the document through the database", async () => {
    serve('/agent.json', {}, { 'cache-control': 'max-age=600' });
    const clientId = documentUrl('/agent.json');
    let authorizationUrl: URL | undefined;
    const client = urlClient(clientId, (url) => {
      authorizationUrl = url;
    });
    const resourceMetadataUrl = new URL(metadataUrl);
    await expect(auth(client, { serverUrl: audience, resourceMetadataUrl })).resolves.toBe('REDIRECT');
    expect(authorizationUrl!.searchParams.get('client_id')).toBe(clientId);

    const { callbackUrl, sawConsent } = await authorize(new UserAgent(), authorizationUrl!, REDIRECT, ADA);
    expect(sawConsent).toBe(true);
    const code = new URL(callbackUrl).searchParams.get('code')!;
    await expect(auth(client, { serverUrl: audience, resourceMetadataUrl, authorizationCode: code })).resolves.toBe('AUTHORIZED');
    const called = await fetch(audience, { headers: { authorization: `Bearer ${client.saved!.access_token}` } });
    expect(called.status).toBe(200);
    expect(await called.json()).toEqual({ client_id: clientId, scope: 'mcp:tools' });
    expect(origin.hits.get('/agent.json')).toBe(1);

    const [record] = (await server.services.metadataDocuments.list()).filter((d) => d.url === clientId);
    expect(record).toMatchObject({ clientName: 'Tool Agent', blockedAt: null, lastError: null });
    const cachedFor = (record!.expiresAt!.getTime() - record!.fetchedAt!.getTime()) / 1000;
    expect(cachedFor).toBe(600);
    const fetched = await server.services.audit.page({ type: 'client.metadata_document_fetched', clientId });
    expect(fetched.items).toHaveLength(1);

    // Another instance on the same database uses the stored document: no second fetch.
    const second = await startTestServer(kind, { CIMD: 'allowlist', CIMD_ALLOWED_HOSTS: 'localhost', CIMD_ALLOW_LOOPBACK: 'true' }, { database: server.database, outbound: { ca: [origin.ca] } });
    try {
      expect(await tokenAnswer(second, clientId)).toEqual({ status: 400, error: 'invalid_grant' });
      expect(origin.hits.get('/agent.json')).toBe(1);
    } finally {
      await second.stop();
    }
  });

  it('never gives a document client the scopes of an API that does not publish its metadata', async () => {
    serve('/greedy.json');
    const url = new URL(`${server.issuer}/auth`);
    const params = { client_id: documentUrl('/greedy.json'), response_type: 'code', redirect_uri: REDIRECT, scope: 'payroll:read', resource: 'https://payroll.example.com', code_challenge: 'c'.repeat(43), code_challenge_method: 'S256', state: 's' };
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(303);
    const callback = new URL(response.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('error')).toBe('invalid_scope');
  });

  it('refuses documents that redirect, are too large, answer too slowly or say something else, and keeps none of them', async () => {
    origin.route('/moved.json', (_request, response) => response.writeHead(302, { location: documentUrl('/agent.json') }).end());
    origin.json('/large.json', { client_id: documentUrl('/large.json'), ...PUBLIC_CLIENT, client_name: 'x'.repeat(6000) });
    origin.route('/slow.json', () => {});
    origin.route('/broken.json', (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"client_id": '));
    origin.json('/impostor.json', { client_id: documentUrl('/agent.json'), ...PUBLIC_CLIENT });
    serve('/secret.json', { token_endpoint_auth_method: 'client_secret_basic' });
    serve('/first-party.json', { first_party: true });
    serve('/introspector.json', { introspection_audiences: [audience] });
    serve('/machine.json', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [] } });
    const cases: [string, string, string | RegExp][] = [
      ['/moved.json', 'invalid_client', 'redirect'],
      ['/large.json', 'invalid_client', 'too_large'],
      ['/slow.json', 'invalid_client', 'timeout'],
      ['/broken.json', 'invalid_client', 'not_a_json_object'],
      ['/missing.json', 'invalid_client', 'status_404'],
      ['/impostor.json', 'invalid_client_metadata', /client_id does not match/],
      ['/secret.json', 'invalid_client_metadata', /shared-secret/],
      ['/first-party.json', 'invalid_client_metadata', /first_party cannot be set by a client ID metadata document/],
      ['/introspector.json', 'invalid_client_metadata', /introspection_audiences cannot be set/],
      ['/machine.json', 'invalid_client', /grant_type client_credentials is not for a client known by its document/],
    ];
    for (const [path, error, reason] of cases) {
      const clientId = documentUrl(path);
      const answer = await tokenAnswer(server, clientId);
      expect(answer.error, path).toBe(error);
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      expect(answer.status, path).toBeLessThan(500);
      const refused = await server.services.audit.page({ type: 'client.metadata_document_refused', clientId });
      expect(refused.items.length, path).toBeGreaterThan(0);
      expect(String((refused.items[0]!.details as { reason: string }).reason), path).toMatch(reason);
      expect((await server.services.metadataDocuments.fresh(clientId)), path).toBeUndefined();
    }
    // Fixed, the same URL is fetched again and accepted: the refusal was not kept.
    serve('/first-party.json');
    expect(await tokenAnswer(server, documentUrl('/first-party.json'))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('refuses client ids the library would take as documents but Ostiary does not (root path, query on the root, odd spaces)', async () => {
    for (const clientId of [`${origin.origin}`, `${origin.origin}/`, `${origin.origin}?x=1`, `${origin.origin}/a\u00a0b.json`]) {
      expect((await tokenAnswer(server, clientId)).error, clientId).toBe('invalid_client');
    }
  });

  it('fetches only from the allowed hosts', async () => {
    const elsewhere = `https://127.0.0.1:${origin.port}/agent.json`;
    const before = origin.hits.get('/agent.json');
    expect((await tokenAnswer(server, elsewhere)).error).toBe('invalid_client');
    expect(origin.hits.get('/agent.json')).toBe(before);
    const refused = await server.services.audit.page({ type: 'client.metadata_document_refused', clientId: elsewhere });
    expect(refused.items[0]?.details).toEqual({ reason: 'host_not_allowed' });
  });

  it('lists documents, and a blocked URL is neither fetched nor served on any instance until unblocked (CLI and admin API)', async () => {
    serve('/blockable.json');
    const clientId = documentUrl('/blockable.json');
    expect((await tokenAnswer(server, clientId)).error).toBe('invalid_grant');

    const listed = await inProcess(['clients', 'list', '--metadata-documents', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ url: clientId, client_name: 'Tool Agent', blocked: false, last_error: null })]));

    const blocked = await inProcess(['clients', 'block-metadata-document', clientId, '--json'], env);
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(JSON.parse(blocked.stdout)).toMatchObject({ url: clientId, blocked: true, expires_at: null });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await tokenAnswer(server, clientId)).error).toBe('invalid_client');
    expect((await server.services.audit.page({ type: 'client.metadata_document_blocked', clientId })).items[0]).toMatchObject({ actor: 'cli', outcome: 'success' });

    const key = await issueKey(server, ['clients:read', 'clients:write']);
    const page = await admin(server, key, 'GET', '/client-metadata-documents?limit=200');
    expect(page.status).toBe(200);
    expect(page.body.items).toEqual(expect.arrayContaining([expect.objectContaining({ url: clientId, blocked: true })]));
    const unblocked = await admin(server, key, 'POST', '/client-metadata-documents/unblock', { url: clientId });
    expect(unblocked).toMatchObject({ status: 200, body: { url: clientId, blocked: false } });
    expect((await tokenAnswer(server, clientId)).error).toBe('invalid_grant');

    const again = await admin(server, key, 'POST', '/client-metadata-documents/unblock', { url: clientId });
    expect(again).toMatchObject({ status: 409, body: { code: 'client.metadata_document_not_blocked' } });
    for (const url of ['http://localhost/x.json', 'https://localhost/', 'https://localhost/a#b', 'not a url']) {
      const bad = await admin(server, key, 'POST', '/client-metadata-documents/block', { url });
      expect(bad, url).toMatchObject({ status: 400, body: { code: 'client.metadata_document_url_invalid' } });
    }
    const cli = await inProcess(['clients', 'block-metadata-document', 'https://localhost/'], env);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('is not a client ID metadata document URL');
  });
});

describe('client ID metadata documents: where they may come from', () => {
  let origin: HttpsOrigin;
  beforeAll(async () => {
    origin = await startHttpsOrigin();
    origin.json('/agent.json', { client_id: 'filled in below', ...PUBLIC_CLIENT });
  });
  afterAll(() => origin?.close());

  it('with CIMD=open and no loopback allowance, refuses a host that resolves to a loopback address', async () => {
    // tools.example.net resolves (in this test) to 127.0.0.1, where the document is served.
    const resolve = async () => [{ address: '127.0.0.1', family: 4 as const }];
    const server = await startTestServer('sqlite', { CIMD: 'open' }, { outbound: { resolve, ca: [origin.ca] } });
    try {
      for (const clientId of [`https://tools.example.net:${origin.port}/agent.json`, `${origin.origin}/agent.json`, `https://127.0.0.1:${origin.port}/agent.json`]) {
        expect((await tokenAnswer(server, clientId)).error, clientId).toBe('invalid_client');
        const refused = await server.services.audit.page({ type: 'client.metadata_document_refused', clientId });
        expect(refused.items[0]?.details, clientId).toEqual({ reason: 'address' });
      }
      expect(origin.hits.get('/agent.json')).toBeUndefined();
    } finally {
      await server.stop();
    }
  });

  it('with CIMD off (the default), an https client_id is just an unknown client', async () => {
    const server = await startTestServer('sqlite');
    try {
      expect(await tokenAnswer(server, `${origin.origin}/agent.json`)).toEqual({ status: 401, error: 'invalid_client' });
      expect(origin.hits.get('/agent.json')).toBeUndefined();
    } finally {
      await server.stop();
    }
  });
});
