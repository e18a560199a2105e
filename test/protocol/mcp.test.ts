import { createServer, type Server } from 'node:http';
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { inProcess } from '../support/cli.ts';
import { REDIRECT } from '../support/flows.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { authorize, UserAgent } from '../support/user-agent.ts';

const ADA = { email: 'ada.mcp@example.com', password: 'saffron lighthouse orbit pebble' };

/**
 * An MCP server without an authorization server of its own (the shape of the MCP authorization
 * spec): `/mcp` answers 401 with a `WWW-Authenticate` challenge pointing at the metadata Ostiary
 * publishes for it, and 200 to a bearer token Ostiary issued for its audience.
 */
async function startResourceServer(port: number, audience: string, issuer: string, metadataUrl: () => string): Promise<Server> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const server = createServer((request, response) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const challenge = () => response.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${metadataUrl()}", scope="mcp:tools"` }).end();
    if (!token) return challenge();
    jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt' })
      .then(({ payload }) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: payload.sub, scope: payload.scope })))
      .catch(challenge);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** The MCP SDK's client side of OAuth, for a client registered ahead (no dynamic registration). */
function clientProvider(clientId: string, onAuthorize: (url: URL) => void): OAuthClientProvider & { saved?: OAuthTokens } {
  let verifier = '';
  const provider: OAuthClientProvider & { saved?: OAuthTokens } = {
    get redirectUrl() {
      return REDIRECT;
    },
    get clientMetadata() {
      return { client_name: 'Test MCP client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
    },
    clientInformation: (): OAuthClientInformationMixed => ({ client_id: clientId }),
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

describe('an MCP client (the MCP SDK) gets a token for an MCP server whose metadata Ostiary publishes', () => {
  let server: TestServer;
  let resource: Server;
  let audience: string;
  let metadataUrl: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    const port = await freePort();
    audience = `http://127.0.0.1:${port}/mcp`;
    resource = await startResourceServer(port, audience, server.issuer, () => metadataUrl);
    await server.services.users.create({ ...ADA, emailVerified: true }, TEST_ACTOR);
  });
  afterAll(async () => {
    await new Promise((resolve) => resource?.close(resolve));
    await server?.stop();
  });

  it('publishes RFC 9728 metadata for an API created with --publish-metadata, and not for others', async () => {
    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, ISSUER: server.issuer, LOG_LEVEL: 'silent' };
    const created = await inProcess(['apis', 'create', '--name', 'Tools', '--audience', audience, '--scope', 'mcp:tools', '--publish-metadata', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const api = JSON.parse(created.stdout) as { id: string; publish_metadata: boolean; metadata_url: string };
    expect(api).toMatchObject({ publish_metadata: true, metadata_url: `${server.issuer}/.well-known/oauth-protected-resource/${api.id}` });
    metadataUrl = api.metadata_url;

    const response = await fetch(metadataUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await response.json()).toEqual({ resource: audience, authorization_servers: [server.issuer], scopes_supported: ['mcp:tools'], bearer_methods_supported: ['header'], resource_name: 'Tools' });

    const unpublished = await server.services.apis.create({ name: 'Billing', audience: 'https://billing.example.com', scopes: [] }, TEST_ACTOR);
    for (const id of [unpublished.id, 'no-such-api', '..%2f..%2fjwks']) {
      const missing = await fetch(`${server.issuer}/.well-known/oauth-protected-resource/${id}`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: 'not_found' });
    }
    const urn = await inProcess(['apis', 'create', '--name', 'Ledger', '--audience', 'urn:example:ledger', '--publish-metadata'], env);
    expect(urn.code).not.toBe(0);
    expect(urn.stderr).toContain('protected resource metadata needs an https audience');
  });

  it('runs the SDK\'s auth(): discovery from the 401 challenge, PKCE, the resource indicator, a JWT the MCP server accepts', async () => {
    const created = await server.services.clients.create({ name: 'Test MCP client', public: true, grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], scopes: ['mcp:tools'] }, TEST_ACTOR);
    const serverUrl = audience;
    const challenge = await fetch(serverUrl);
    expect(challenge.status).toBe(401);
    const resourceMetadataUrl = new URL(/resource_metadata="([^"]+)"/.exec(challenge.headers.get('www-authenticate')!)![1]!);

    let authorizationUrl: URL | undefined;
    const provider = clientProvider(created.client.clientId, (url) => {
      authorizationUrl = url;
    });
    await expect(auth(provider, { serverUrl, resourceMetadataUrl })).resolves.toBe('REDIRECT');
    expect(authorizationUrl!.origin).toBe(new URL(server.issuer).origin);
    expect(authorizationUrl!.searchParams.get('resource')).toBe(audience);
    expect(authorizationUrl!.searchParams.get('code_challenge_method')).toBe('S256');

    const { callbackUrl, sawConsent } = await authorize(new UserAgent(), authorizationUrl!, REDIRECT, ADA);
    expect(sawConsent).toBe(true);
    const callback = new URL(callbackUrl);
    expect(callback.searchParams.get('iss')).toBe(server.issuer);
    await expect(auth(provider, { serverUrl, resourceMetadataUrl, authorizationCode: callback.searchParams.get('code')! })).resolves.toBe('AUTHORIZED');

    const called = await fetch(serverUrl, { headers: { authorization: `Bearer ${provider.saved!.access_token}` } });
    expect(called.status).toBe(200);
    expect(await called.json()).toMatchObject({ scope: 'mcp:tools' });
  });
});
