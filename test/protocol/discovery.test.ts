import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** A GET with any Host header (fetch would send the URL's). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { host } }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

describe.each(DATABASES)('discovery and JWKS (%s)', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(() => server?.stop());

  it('publishes a complete OpenID Provider configuration with our policy', async () => {
    const response = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const meta = (await response.json()) as Record<string, string[]>;
    const at = (path: string) => `${server.issuer}${path}`;
    expect(meta).toMatchObject({
      issuer: server.issuer,
      authorization_endpoint: at('/auth'),
      token_endpoint: at('/token'),
      userinfo_endpoint: at('/me'),
      jwks_uri: at('/jwks'),
      end_session_endpoint: at('/session/end'),
      introspection_endpoint: at('/token/introspection'),
      revocation_endpoint: at('/token/revocation'),
      pushed_authorization_request_endpoint: at('/request'),
      device_authorization_endpoint: at('/device/auth'),
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      authorization_response_iss_parameter_supported: true,
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
    });
    expect(meta.grant_types_supported?.sort()).toEqual(['authorization_code', 'client_credentials', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:token-exchange']);
    // Client ID metadata documents are off unless CIMD says otherwise (test/protocol/client-metadata-documents.test.ts).
    expect(meta).not.toHaveProperty('client_id_metadata_document_supported');
    expect(meta.token_endpoint_auth_methods_supported?.sort()).toEqual(['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt']);
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'offline_access']));
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'email_verified', 'name']));
    expect(meta.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
    // Dynamic client registration is off by default (test/protocol/dynamic-registration.test.ts has it on).
    expect(meta).not.toHaveProperty('registration_endpoint');
  });

  it('serves the RFC 8414 metadata location too', async () => {
    const response = await fetch(`${server.issuer}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { issuer: string }).issuer).toBe(server.issuer);
  });

  it('publishes only public RS256 key material in the JWKS', async () => {
    const response = await fetch(`${server.issuer}/jwks`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/jwk-set+json');
    const { keys } = (await response.json()) as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
      expect(key.kid).toEqual(expect.any(String));
      expect(Buffer.from(key.n!, 'base64url').length).toBe(256);
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
    }
  });

  it("names the issuer's endpoints whatever Host a request carries", async () => {
    const { status, body } = await getWithHost(`${server.issuer}/.well-known/openid-configuration`, 'evil.example');
    expect(status).toBe(200);
    const meta = JSON.parse(body) as Record<string, unknown>;
    expect(meta.token_endpoint).toBe(`${server.issuer}/token`);
    expect(body).not.toContain('evil.example');
  });

  it('lets any origin read discovery and revalidate it by ETag, HEAD included', async () => {
    const response = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: { origin: 'https://spa.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = response.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: { 'if-none-match': `W/"other", ${etag}`, 'cache-control': 'max-age=0' } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const head = await fetch(`${server.issuer}/jwks`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toContain('application/jwk-set+json');
    expect(await head.text()).toBe('');
  });

  it('answers CORS preflights and other methods on the documents through the provider', async () => {
    const preflight = await fetch(`${server.issuer}/jwks`, {
      method: 'OPTIONS',
      headers: { origin: 'https://spa.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
    expect((await fetch(`${server.issuer}/jwks`, { method: 'POST' })).status).toBeGreaterThanOrEqual(400);
  });

  it('leaves other paths to Fastify', async () => {
    const response = await fetch(`${server.issuer}/no-such-path`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'not_found', error_description: 'No such endpoint.' });
  });
});
