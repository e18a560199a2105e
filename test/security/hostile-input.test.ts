import { TEST_ACTOR } from '../support/actor.ts';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_PARAMS } from '../../src/observability/index.ts';
import { admin, issueKey } from '../admin/support.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, basicAuth, BILLING, createWebClient, setUpWorker } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { authorize, UserAgent } from '../support/user-agent.ts';

/** Tables whose contents hostile input must leave exactly as they were. AuditEvent is left out: refusals are audited. */
const TABLES = ['Client', 'User', 'Api', 'ApiScope', 'Role', 'RolePermission', 'UserRole', 'ClientRole', 'TotpFactor', 'RecoveryCode', 'Passkey', 'PasskeyChallenge', 'AssertionJti', 'SigningKey', 'OidcPayload', 'Lock', 'OneTimeToken', 'MailMessage', 'ClientMetadataDocument', 'RegistrationToken', 'Upstream', 'UpstreamIdentity'];
/** What must never reach a client: stack frames, paths, library and database names. */
const LEAKS = /\bat \S+ \(|node_modules|\/work\/|\/tmp\/|prisma|sqlite|postgres|libsql|TypeError|ReferenceError|SyntaxError: |stack|koa|fastify/i;

interface Hostile {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Sent with the cookies of a live sign-in page. */
  withInteraction?: boolean;
  /** Sent with the cookies of a browser signed in to the account page, and its forms' CSRF token. */
  withAccount?: boolean;
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };
const RESET = '/account/password/reset';
const big = (n: number) => 'a'.repeat(n);
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Dynamic client registration: malformed requests, tokens that are not ours, metadata the policy refuses. */
function registrationCorpus(initialAccessToken: string): Hostile[] {
  const json = { 'content-type': 'application/json' };
  const withToken = { ...json, authorization: `Bearer ${initialAccessToken}` };
  const app = { redirect_uris: [REDIRECT], grant_types: ['authorization_code'] };
  const inputs: Hostile[] = [
    { name: 'registration without a token', path: '/reg', method: 'POST', headers: json, body: JSON.stringify(app) },
    { name: 'registration with a token not ours', path: '/reg', method: 'POST', headers: { ...json, authorization: `Bearer ${big(43)}` }, body: JSON.stringify(app) },
    { name: 'registration with an overlong token', path: '/reg', method: 'POST', headers: { ...json, authorization: `Bearer ${big(5000)}` }, body: JSON.stringify(app) },
    { name: 'registration with a malformed authorization', path: '/reg', method: 'POST', headers: { ...json, authorization: 'Bearer' }, body: JSON.stringify(app) },
    { name: 'registration read of an unknown client', path: '/reg/x', headers: { authorization: `Bearer ${big(43)}` } },
    { name: 'registration read of an overlong id', path: `/reg/${big(3000)}`, headers: { authorization: `Bearer ${big(43)}` } },
    { name: 'registration update without a token', path: '/reg/x', method: 'PUT', headers: json, body: JSON.stringify({ ...app, client_id: 'x' }) },
    { name: 'registration delete with the initial access token', path: '/reg/x', method: 'DELETE', headers: { authorization: `Bearer ${initialAccessToken}` } },
    { name: 'registration path traversal', path: '/reg/..%2f..%2fjwks', headers: { authorization: `Bearer ${big(43)}` } },
  ];
  const bodies: [string, string, Record<string, string>?][] = [
    ['empty body', ''],
    ['bad JSON', '{"redirect_uris":'],
    ['a JSON array', '[]'],
    ['a huge body', JSON.stringify({ ...app, client_name: big(200_000) })],
    ['null bytes', JSON.stringify({ ...app, client_name: 'a\u0000b', redirect_uris: ['https://app.example.com/%00'] })],
    ['a form body', 'redirect_uris=https%3A%2F%2Fapp.example.com%2Fcb', form],
    ['client_credentials', JSON.stringify({ grant_types: ['client_credentials'] })],
    ['token exchange', JSON.stringify({ ...app, grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:token-exchange'] })],
    ['implicit', JSON.stringify({ ...app, response_types: ['id_token'], grant_types: ['implicit'] })],
    ['a fragment', JSON.stringify({ ...app, redirect_uris: ['https://app.example.com/cb#x'] })],
    ['a javascript: redirect', JSON.stringify({ ...app, redirect_uris: ['javascript:alert(1)'] })],
    ['an http redirect for the web', JSON.stringify({ ...app, redirect_uris: ['http://app.example.com/cb'] })],
    ['redirect_uris not an array', JSON.stringify({ ...app, redirect_uris: 'https://app.example.com/cb' })],
    ['first_party', JSON.stringify({ ...app, first_party: true })],
    ['api_scopes', JSON.stringify({ ...app, api_scopes: 'invoices:read' })],
    ['a long lifetime', JSON.stringify({ ...app, access_token_ttl: 31_622_400 })],
    ['a jwks_uri', JSON.stringify({ ...app, jwks_uri: 'http://169.254.169.254/latest' })],
    ['a sector identifier', JSON.stringify({ ...app, sector_identifier_uri: 'https://app.example.com/sector', subject_type: 'pairwise' })],
    ['an unknown scope', JSON.stringify({ ...app, scope: 'openid nope:read' })],
    ['client_name with control characters', JSON.stringify({ ...app, client_name: '\u001b[31mred' })],
  ];
  for (const [what, body, headers] of bodies) inputs.push({ name: `registration with ${what}`, path: '/reg', method: 'POST', headers: headers ?? withToken, body });
  return inputs;
}

function corpus(client: { id: string; secret: string }, partner: { id: string; secret: string }): Hostile[] {
  const basic = { authorization: basicAuth(client.id, client.secret) };
  const authParams = (extra: Record<string, string>) =>
    `/auth?${new URLSearchParams({ client_id: client.id, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', redirect_uri: REDIRECT, ...extra })}`;
  const inputs: Hostile[] = [];
  const endpoints = ['/auth', '/token', '/me', '/jwks', '/.well-known/openid-configuration', '/token/introspection', '/token/revocation', '/request', '/session/end', '/interaction/x', '/interaction/x/signup', '/assets/ostiary.css', '/assets/brand.css', '/device', '/device/auth', '/device/x', RESET, `${RESET}/${'A'.repeat(43)}`, `/account/verify/${'A'.repeat(43)}`, `/account/invitation/${'A'.repeat(43)}`, '/account', '/account/callback', '/account/name', '/account/delete', `/account/email/${'A'.repeat(43)}`, '/.well-known/oauth-protected-resource/x', '/reg'];
  for (const path of endpoints) {
    for (const method of ['PUT', 'DELETE', 'PATCH']) inputs.push({ name: `${method} ${path}`, path, method });
  }
  for (const path of ['/token', '/token/introspection', '/token/revocation', '/request', '/device/auth']) {
    inputs.push(
      { name: `empty body ${path}`, path, method: 'POST', headers: { ...form, ...basic }, body: '' },
      { name: `huge body ${path}`, path, method: 'POST', headers: { ...form, ...basic }, body: `token=${big(200_000)}&grant_type=client_credentials` },
      { name: `bad JSON ${path}`, path, method: 'POST', headers: { 'content-type': 'application/json', ...basic }, body: '{"grant_type":' },
      { name: `text/plain ${path}`, path, method: 'POST', headers: { 'content-type': 'text/plain', ...basic }, body: 'grant_type=client_credentials' },
      { name: `multipart ${path}`, path, method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x', ...basic }, body: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nabc\r\n--x--' },
      { name: `bad percent-encoding ${path}`, path, method: 'POST', headers: { ...form, ...basic }, body: 'token=%ZZ%&grant_type=%E0%A4%A' },
      { name: `invalid UTF-8 ${path}`, path, method: 'POST', headers: { ...form, ...basic }, body: new Uint8Array([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xff, 0xfe, 0xc3]) },
      { name: `null bytes ${path}`, path, method: 'POST', headers: { ...form, ...basic }, body: 'token=abc%00def&grant_type=client%00credentials' },
      { name: `duplicate parameters ${path}`, path, method: 'POST', headers: { ...form, ...basic }, body: 'token=a&token=b&grant_type=client_credentials&grant_type=refresh_token' },
      { name: `no client authentication ${path}`, path, method: 'POST', headers: form, body: 'token=abc&grant_type=client_credentials' },
      { name: `wrong secret ${path}`, path, method: 'POST', headers: { ...form, authorization: basicAuth(client.id, 'nope') }, body: 'token=abc&grant_type=client_credentials' },
      { name: `malformed basic ${path}`, path, method: 'POST', headers: { ...form, authorization: 'Basic %%%not-base64' }, body: 'token=abc' },
    );
  }
  for (const id of ['x', big(3000), '..%2f..%2fjwks', '%00', '%3Cscript%3E']) {
    inputs.push({ name: `protected resource metadata ${id.slice(0, 20)}`, path: `/.well-known/oauth-protected-resource/${id}` });
  }
  for (const grant of ['authorization_code', 'refresh_token', 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange', JWT_BEARER, big(300)]) {
    inputs.push({ name: `grant ${grant.slice(0, 40)}`, path: '/token', method: 'POST', headers: { ...form, ...basic }, body: `grant_type=${encodeURIComponent(grant)}&code=x&refresh_token=y&username=a&password=b` });
  }
  // The JWT bearer grant, as a client that holds it: assertions that are no assertions, or unsigned, or not alone.
  const asPartner = { ...form, authorization: basicAuth(partner.id, partner.secret) };
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${b64({ alg: 'none' })}.${b64({ iss: 'https://idp.example.com', sub: 'x', aud: 'x', jti: 'x', exp: 9999999999 })}.`;
  for (const [what, assertion] of [['none', ''], ['garbage', 'a.b.c'], ['huge', big(60_000)], ['unsigned', unsigned], ['null bytes', 'eyJ%00.eyJ.%00'], ['JSON', '{"alg":"RS256"}'], ['two', 'a&assertion=b']] as const) {
    inputs.push({ name: `jwt bearer ${what}`, path: '/token', method: 'POST', headers: asPartner, body: `grant_type=${encodeURIComponent(JWT_BEARER)}&resource=${encodeURIComponent(BILLING)}&assertion=${assertion}` });
  }
  inputs.push(
    { name: 'jwt bearer two resources', path: '/token', method: 'POST', headers: asPartner, body: `grant_type=${encodeURIComponent(JWT_BEARER)}&resource=${encodeURIComponent(BILLING)}&resource=https%3A%2F%2Fx.example.com&assertion=${unsigned}` },
    { name: 'jwt bearer as a public client', path: '/token', method: 'POST', headers: form, body: `grant_type=${encodeURIComponent(JWT_BEARER)}&client_id=${encodeURIComponent(partner.id)}&assertion=${unsigned}` },
  );
  const redirects = [
    'https://evil.example.com/cb',
    'https://app.example.com.evil.example.com/cb',
    'https://app.example.com/cb/../../evil',
    'https://app.example.com/cb?extra=1',
    'https://app.example.com/cb#frag',
    'HTTPS://APP.EXAMPLE.COM/cb',
    '//evil.example.com/cb',
    'javascript:alert(1)',
    'https://app.example.com/cb%00.evil.example.com',
    'https://app.example.com@evil.example.com/cb',
    `https://app.example.com/cb/${big(3000)}`,
  ];
  for (const redirect_uri of redirects) inputs.push({ name: `open redirect ${redirect_uri.slice(0, 50)}`, path: authParams({ redirect_uri }) });
  for (const [name, extra] of [
    ['unknown client', { client_id: 'no-such-client' }],
    ['null byte client', { client_id: 'abc\u0000def' }],
    ['implicit', { response_type: 'token' }],
    ['hybrid', { response_type: 'code id_token' }],
    ['plain PKCE', { code_challenge_method: 'plain' }],
    ['short challenge', { code_challenge: 'abc' }],
    ['overlong scope', { scope: `openid ${big(20_000)}` }],
    ['unknown resource', { resource: 'https://unknown.example.com' }],
    ['resource with fragment', { resource: `${BILLING}#x` }],
    ['request object', { request: 'eyJhbGciOiJub25lIn0.e30.' }],
    ['request_uri', { request_uri: 'https://evil.example.com/req' }],
    ['bad prompt', { prompt: 'none login' }],
    ['junk ui_locales, unknown client', { client_id: 'no-such-client', ui_locales: `de\u0000 ${big(5000)} <script>` }],
  ] as const) {
    inputs.push({ name: `authorize ${name}`, path: authParams(extra) });
  }
  inputs.push(
    ...[
      'https://evil.example.com/client.json',
      'https://user:pw@tools.example.net/client.json',
      'https://tools.example.net/a/../client.json',
      'https://tools.example.net/client.json#x',
      'https://tools.example.net/',
      `https://tools.example.net/${big(3000)}`,
      'http://tools.example.net/client.json',
    ].flatMap((clientId): Hostile[] => [
      { name: `authorize metadata document ${clientId.slice(0, 50)}`, path: authParams({ client_id: clientId }) },
      { name: `token metadata document ${clientId.slice(0, 50)}`, path: '/token', method: 'POST', headers: form, body: `grant_type=authorization_code&code=x&code_verifier=${big(43)}&client_id=${encodeURIComponent(clientId)}` },
    ]),
    { name: 'authorize duplicate client_id', path: `${authParams({})}&client_id=other` },
    { name: 'authorize POST form', path: '/auth', method: 'POST', headers: form, body: authParams({}).slice(6) },
    { name: 'userinfo forged token', path: '/me', headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' } },
    { name: 'userinfo overlong token', path: '/me', headers: { authorization: `Bearer ${big(10_000)}` } },
    { name: 'userinfo token in query', path: '/me?access_token=abc' },
    { name: 'logout open redirect', path: `/session/end?post_logout_redirect_uri=${encodeURIComponent('https://evil.example.com/')}&client_id=${client.id}` },
    { name: 'logout bad id_token_hint', path: `/session/end?id_token_hint=not.a.jwt&post_logout_redirect_uri=${encodeURIComponent('https://evil.example.com/')}` },
    { name: 'logout confirm without xsrf', path: '/session/end/confirm', method: 'POST', headers: form, body: 'logout=yes' },
    { name: 'unknown interaction', path: '/interaction/does-not-exist' },
    { name: 'junk Accept-Language', path: '/interaction/does-not-exist', headers: { 'accept-language': `de;q=x,,${big(8000)};q=2,*-*,\u00ff` } },
    { name: 'sign-up post while sign-up is closed', path: 'signup', method: 'POST', withInteraction: true, headers: form, body: 'email=a%40b.c&name=x&password=y' },
    { name: 'device code post without xsrf', path: '/device', method: 'POST', headers: form, body: 'user_code=BCDF-GHJK' },
    { name: 'device confirm without xsrf', path: '/device', method: 'POST', headers: form, body: 'user_code=BCDF-GHJK&confirm=yes' },
    { name: 'device abort without xsrf', path: '/device', method: 'POST', headers: form, body: 'user_code=BCDF-GHJK&abort=yes' },
    { name: 'device code post bad JSON', path: '/device', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user_code":' },
    { name: 'device code post huge body', path: '/device', method: 'POST', headers: form, body: `user_code=${big(200_000)}` },
    { name: 'device code post duplicate', path: '/device', method: 'POST', headers: form, body: 'user_code=a&user_code=b&xsrf=x&xsrf=y' },
    { name: 'device code post null bytes', path: '/device', method: 'POST', headers: form, body: 'user_code=BCDF%00GHJK&xsrf=%00' },
    { name: 'device resume unknown', path: '/device/does-not-exist' },
    { name: 'device resume path traversal', path: '/device/..%2f..%2fetc%2fpasswd' },
    { name: 'device authorization unknown client', path: '/device/auth', method: 'POST', headers: form, body: 'client_id=no-such-client&scope=openid' },
    { name: 'device authorization without grant', path: '/device/auth', method: 'POST', headers: form, body: `client_id=${encodeURIComponent(client.id)}&scope=openid` },
    { name: 'device token unknown code', path: '/token', method: 'POST', headers: form, body: `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:device_code')}&device_code=${big(64)}&client_id=${encodeURIComponent(client.id)}` },
    { name: 'unknown interaction login post', path: '/interaction/does-not-exist/login', method: 'POST', headers: form, body: 'email=a%40b.c&password=x' },
    { name: 'path traversal', path: '/interaction/..%2f..%2fetc%2fpasswd' },
    { name: 'unknown path', path: '/admin/../../etc/passwd' },
    { name: 'long query', path: `/jwks?${big(10_000)}` },
  );
  // Secret-bearing parameters where they do not belong: refused, echoed nowhere.
  for (const name of SECRET_PARAMS) {
    inputs.push(
      { name: `${name} on UserInfo`, path: `/me?${name}=hostile-secret-value` },
      { name: `${name} on the admin API`, path: `/admin/api/v1/clients?${name}=osk_0123456789abcdef_${big(43)}` },
    );
  }
  for (const action of ['login', 'consent', 'abort', 'signup', 'second-factor', 'second-factor/setup', 'second-factor/continue', 'second-factor/recovery', 'passkey', 'passkey/options', `verify/${'A'.repeat(43)}`]) {
    inputs.push(
      { name: `${action} without CSRF`, path: action, method: 'POST', headers: form, body: 'email=ada%40example.com&password=x', withInteraction: true },
      { name: `${action} bad JSON`, path: action, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":', withInteraction: true },
      { name: `${action} huge body`, path: action, method: 'POST', headers: form, body: `email=${big(100_000)}`, withInteraction: true },
      { name: `${action} text/plain`, path: action, method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello', withInteraction: true },
      { name: `${action} wrong method`, path: action, method: 'PUT', headers: form, body: 'x=1', withInteraction: true },
    );
  }
  // Signing in through an upstream: unknown upstreams, forged answers, link forms that are not ours.
  for (const action of ['upstreams/nope', 'upstreams/nope/link', 'upstreams/%3Cscript%3E']) {
    inputs.push(
      { name: `${action} without CSRF`, path: action, method: 'POST', headers: form, body: 'x=1', withInteraction: true },
      { name: `${action} huge body`, path: action, method: 'POST', headers: form, body: `pending=${big(100_000)}`, withInteraction: true },
      { name: `${action} bad JSON`, path: action, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pending":', withInteraction: true },
    );
  }
  inputs.push(
    { name: 'upstream return without a pending sign-in', path: 'upstreams/nope/return?code=abc&state=def&iss=x', withInteraction: true },
    { name: 'upstream return with junk', path: `upstreams/nope/return?code=${big(5000)}&state=%00&error=%3Cscript%3E`, withInteraction: true },
    { name: 'upstream callback without a pending sign-in', path: '/upstreams/nope/callback?code=abc&state=def' },
    { name: 'upstream callback with an error and markup', path: '/upstreams/nope/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E' },
    { name: 'upstream callback with a forged cookie', path: '/upstreams/nope/callback?code=abc&state=def', headers: { cookie: `ostiary_upstream=${big(60)}.${'A'.repeat(43)}` } },
    { name: 'upstream callback path traversal', path: '/upstreams/..%2f..%2fetc/callback?code=x' },
    { name: 'upstream form_post answer with junk', path: '/upstreams/nope/callback', method: 'POST', headers: form, body: `code=${big(5000)}&state=%0d%0aX-Injected:%201&extra=${big(100)}` },
    { name: 'upstream key set unknown', path: '/upstreams/nope/jwks.json' },
    { name: 'upstream key set junk slug', path: `/upstreams/${big(300)}/jwks.json` },
  );
  inputs.push(
    { name: 'verification link of the sign-in request, unknown token', path: `verify/${'A'.repeat(43)}`, withInteraction: true },
    { name: 'verification link of the sign-in request, bad token', path: `verify/${'%3Cscript%3E'.padEnd(43, 'x')}`, withInteraction: true },
    { name: 'sign-up post, name with control characters', path: 'signup', method: 'POST', headers: form, body: 'email=x%40example.com&name=%00%1b&password=x', withInteraction: true },
  );
  // The password reset, verification, invitation and account pages: no CSRF cookie or token, malformed bodies, links that are not ours.
  const aToken = `${RESET}/${'A'.repeat(43)}`;
  const accountForms = ['/account/name', '/account/password', '/account/email', '/account/apps/revoke', '/account/sessions/end', '/account/delete', '/account/totp', '/account/totp/confirm', '/account/totp/remove', '/account/recovery-codes', '/account/passkeys', '/account/passkeys/options', '/account/passkeys/remove', `/account/email/${'A'.repeat(43)}`];
  for (const path of [RESET, aToken, `/account/verify/${'A'.repeat(43)}`, `/account/invitation/${'A'.repeat(43)}`, ...accountForms]) {
    inputs.push(
      { name: `${path} without CSRF`, path, method: 'POST', headers: form, body: 'email=ada%40example.com&password=a+long+enough+password' },
      { name: `${path} forged CSRF`, path, method: 'POST', headers: { ...form, cookie: `ostiary.account-csrf=${'B'.repeat(43)}` }, body: `email=ada%40example.com&password=a+long+enough+password&csrf=${'C'.repeat(43)}` },
      { name: `${path} bad JSON`, path, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":' },
      { name: `${path} huge body`, path, method: 'POST', headers: form, body: `email=${big(100_000)}` },
      { name: `${path} text/plain`, path, method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'email=ada@example.com' },
      { name: `${path} duplicate fields`, path, method: 'POST', headers: form, body: 'email=a%40b.c&email=ada%40example.com&csrf=x&csrf=y' },
      { name: `${path} null bytes`, path, method: 'POST', headers: form, body: 'email=ada%00%40example.com&csrf=%00' },
    );
  }
  inputs.push(
    { name: 'reset link unknown token', path: aToken },
    { name: 'reset link short token', path: `${RESET}/abc` },
    { name: 'reset link overlong token', path: `${RESET}/${big(500)}` },
    { name: 'reset link bad characters', path: `${RESET}/${'%3Cscript%3E'.padEnd(43, 'x')}` },
    { name: 'reset link path traversal', path: `${RESET}/..%2f..%2fetc%2fpasswd` },
    { name: 'reset link null byte', path: `${RESET}/${'A'.repeat(20)}%00${'A'.repeat(22)}` },
  );
  // A browser signed in to the account page, with its CSRF token: fields that are wrong in form.
  inputs.push(
    { name: 'account name with control characters', path: '/account/name', method: 'POST', headers: form, body: 'name=%00%1b%5b31m', withAccount: true },
    { name: 'account name overlong', path: '/account/name', method: 'POST', headers: form, body: `name=${big(5000)}`, withAccount: true },
    { name: 'account new address malformed', path: '/account/email', method: 'POST', headers: form, body: `email=not+an+address&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account new address overlong', path: '/account/email', method: 'POST', headers: form, body: `email=${big(400)}%40example.com&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account new password overlong', path: '/account/password', method: 'POST', headers: form, body: `password=${big(300)}&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account new password empty', path: '/account/password', method: 'POST', headers: form, body: `password=&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'second step without a signed field', path: 'second-factor', method: 'POST', headers: form, body: 'code=123456', withInteraction: true },
    { name: 'second step with a forged signed field', path: 'second-factor', method: 'POST', headers: form, body: `pending=e30.${'A'.repeat(43)}&code=123456`, withInteraction: true },
    { name: 'account app confirmed without a setup', path: '/account/totp/confirm', method: 'POST', headers: form, body: 'code=123456', withAccount: true },
    { name: 'account app code overlong', path: '/account/totp/confirm', method: 'POST', headers: form, body: `code=${big(5000)}`, withAccount: true },
    { name: 'account passkey answer not JSON', path: '/account/passkeys', method: 'POST', headers: form, body: `name=Laptop&response=%7Bnot+json&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account passkey answer of the wrong shape', path: '/account/passkeys', method: 'POST', headers: form, body: `name=Laptop&response=${encodeURIComponent('{"id":"AAAAAAAAAAAAAAAAAAAA","rawId":"AAAAAAAAAAAAAAAAAAAA","type":"public-key","response":{"attestationObject":"%%%","clientDataJSON":1}}')}&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account passkey answer overlong', path: '/account/passkeys', method: 'POST', headers: form, body: `name=Laptop&response=${big(20_000)}&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account passkey without a name', path: '/account/passkeys', method: 'POST', headers: form, body: `name=%00&response=x&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'account passkey removal of an unknown one', path: '/account/passkeys/remove', method: 'POST', headers: form, body: `passkey=${big(3000)}&current_password=${encodeURIComponent(ADA.password)}`, withAccount: true },
    { name: 'second step recovery with a forged signed field', path: 'second-factor/recovery', method: 'POST', headers: form, body: `pending=e30.${'A'.repeat(43)}`, withInteraction: true },
    { name: 'account callback not started here', path: '/account/callback?code=abc&state=def&iss=x' },
    { name: 'account callback with an error', path: '/account/callback?error=access_denied&error_description=%3Cscript%3E' },
    { name: 'account callback with junk', path: `/account/callback?code=${big(3000)}` },
  );
  for (const base of ['/account/verify', '/account/invitation', '/account/email']) {
    inputs.push(
      { name: `${base} unknown token`, path: `${base}/${'A'.repeat(43)}` },
      { name: `${base} short token`, path: `${base}/abc` },
      { name: `${base} overlong token`, path: `${base}/${big(500)}` },
      { name: `${base} bad characters`, path: `${base}/${'%3Cscript%3E'.padEnd(43, 'x')}` },
      { name: `${base} path traversal`, path: `${base}/..%2f..%2fetc%2fpasswd` },
    );
  }
  return inputs;
}

async function snapshot(server: TestServer): Promise<string> {
  const rows = await Promise.all(TABLES.map((t) => server.services.db.$queryRawUnsafe<unknown[]>(`SELECT * FROM "${t}"`)));
  return JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

describe.each(DATABASES)('hostile input (%s)', (kind) => {
  let server: TestServer;
  let web: { id: string; secret: string };
  let partner: { id: string; secret: string };

  beforeAll(async () => {
    server = await startTestServer(kind, { SIGNUP: 'open', REQUIRE_VERIFIED_EMAIL: 'false', CIMD: 'allowlist', CIMD_ALLOWED_HOSTS: 'tools.example.net', RATE_LIMIT_AUTHORIZE_PER_IP: '10000', RATE_LIMIT_TOKEN_PER_IP: '10000', RATE_LIMIT_TOKEN_PER_CLIENT: '10000', DYNAMIC_REGISTRATION: 'token', RATE_LIMIT_REGISTRATION_PER_IP: '10000' });
    await setUpWorker(server);
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { postLogoutRedirectUris: ['https://app.example.com/bye'] });
    const idpKey = await exportJWK((await generateKeyPair('ES256')).publicKey);
    const made = await server.services.clients.create({ name: 'partner', grantTypes: ['jwt_bearer'], scopes: ['invoices:read'], assertionIssuer: 'https://idp.example.com', assertionJwks: { keys: [idpKey] } }, TEST_ACTOR);
    partner = { id: made.client.clientId, secret: made.clientSecret! };
  });
  afterAll(() => server?.stop());

  it('answers every malformed request with a generic 4xx and changes nothing', async () => {
    const { token: initialAccessToken } = await server.services.registrationTokens.create({}, TEST_ACTOR);
    const inputs = [...corpus(web, partner), ...registrationCorpus(initialAccessToken)];
    // A live sign-in page whose cookies the interaction inputs carry; opening it wrote its rows already.
    const agent = new UserAgent();
    const page = await agent.follow((await startFlow(await discover(server.issuer, web.id, web.secret))).url, REDIRECT);
    // A browser signed in to the account page (its sign-in wrote its rows already).
    const account = new UserAgent();
    const login = await account.follow(`${server.issuer}/account`, REDIRECT);
    const accountPage = await account.submit(login.url, login.body!, /<form method="post" action="([^"]+\/login)"/, ADA, REDIRECT);
    const accountCsrf = accountPage.body!.match(/name="csrf" value="([^"]+)"/)![1]!;
    const before = await snapshot(server);
    const failures: string[] = [];

    for (const input of inputs) {
      const url = input.withInteraction ? new URL(`${page.url}/${input.path}`) : new URL(`${server.issuer}${input.path}`);
      const body = input.withAccount ? `${input.body}&csrf=${accountCsrf}` : input.body;
      const init = { method: input.method ?? 'GET', headers: input.headers, body };
      let response: Response;
      try {
        const browser = input.withInteraction ? agent : input.withAccount ? account : undefined;
        response = browser ? await browser.request(url, init) : await fetch(url, { ...init, redirect: 'manual' });
      } catch (error) {
        failures.push(`${input.name}: request failed (${(error as Error).message})`);
        continue;
      }
      const text = await response.text();
      const location = response.headers.get('location') ?? '';
      // An authorization error goes back to the registered redirect URI (RFC 6749 4.1.2.1); nothing else redirects.
      const errorRedirect = response.status === 303 && /^[?#]error=|[?#&]error=/.test(location.slice(REDIRECT.length)) && location.startsWith(REDIRECT);
      // Introspecting or revoking a token that is not one of ours is answered 200 (RFC 7662 2.2, RFC 7009 2.2).
      const unknownToken = response.status === 200 && /^\/token\/(introspection|revocation)$/.test(input.path) && (text === '' || text === '{"active":false}');
      // A form_post answer at an upstream's redirect URI becomes the same page's GET (which then refuses it).
      const ownGet = response.status === 303 && input.method === 'POST' && /^\/upstreams\/[^/]+\/callback$/.test(input.path) && location.startsWith(`${input.path}?`);
      if (!(response.status >= 400 && response.status < 500) && !errorRedirect && !unknownToken && !ownGet) failures.push(`${input.name}: status ${response.status} ${location}`);
      if (LEAKS.test(text)) failures.push(`${input.name}: body leaks internals: ${text.slice(0, 200)}`);
      if (response.headers.get('x-injected') || response.headers.getSetCookie().some((c) => c.startsWith('pwned'))) failures.push(`${input.name}: header injected`);
      if (location && !location.startsWith(REDIRECT) && !location.startsWith('/')) failures.push(`${input.name}: redirects to ${location}`);
    }

    console.info(`hostile input (${kind}): ${inputs.length} requests tried, ${failures.length} failed`);
    expect(inputs.length).toBeGreaterThan(120);
    expect(failures).toEqual([]);
    expect(await snapshot(server)).toBe(before);
  });

  it('refuses look-alike addresses and keys that ask for more than they hold on the admin API, changing nothing', async () => {
    const writer = await issueKey(server, ['users:write', 'users:read', 'api-keys:write', 'clients:read', 'clients:write'], { allowedIps: ['127.0.0.0/8'] });
    const stronger = await issueKey(server, ['admin']);
    const keysBefore = await server.services.db.apiKey.count();
    const before = await snapshot(server);
    const cases: [string, string, unknown, number][] = [
      ['POST', '/users', { email: 'ａｄａ@example.com', password: 'a long enough password' }, 409],
      ['POST', '/users', { email: 'ada@example.com.', password: 'a long enough password' }, 409],
      ['POST', '/users', { email: 'ADA@EXAMPLE.COM', password: 'a long enough password' }, 409],
      ['POST', '/users', { email: 'ada@exam\u200bple.com', password: 'a long enough password' }, 400],
      ['POST', '/users', { email: 'ada@exаmple.com', password: 'a long enough password' }, 400],
      ['POST', '/users', { email: 'ada\u202e@example.com', password: 'a long enough password' }, 400],
      ['POST', '/users', { email: `${big(40_000)}@example.com`, password: 'a long enough password' }, 400],
      ['GET', '/users?email=_', undefined, 400],
      ['GET', '/users?email=%25', undefined, 400],
      ['POST', '/api-keys', { name: 'escalate', scopes: ['admin'] }, 403],
      ['POST', '/api-keys', { name: 'escalate', scopes: ['users:write'], allowed_ips: ['0.0.0.0/0'] }, 403],
      ['POST', '/api-keys', { name: 'escalate', scopes: ['users:write'], allowed_ips: ['10.0.0.0/'] }, 400],
      ['POST', `/api-keys/${stronger.slice(4, 20)}/rotate`, undefined, 403],
      ['POST', '/client-metadata-documents/block', { url: 'javascript:alert(1)' }, 400],
      ['POST', '/client-metadata-documents/block', { url: `https://tools.example.net/${big(3000)}` }, 400],
      ['POST', '/client-metadata-documents/block', { url: 'https://tools.example.net/a/../b' }, 400],
      ['POST', '/client-metadata-documents/block', { url: 'https://tools.example.net/c.json', extra: true }, 400],
      ['POST', '/client-metadata-documents/block', {}, 400],
      ['POST', '/client-metadata-documents/unblock', { url: 'https://tools.example.net/c.json' }, 409],
      ['GET', '/client-metadata-documents?limit=0', undefined, 400],
      ['POST', '/registration-tokens', { max_clients: 0 }, 400],
      ['POST', '/registration-tokens', { max_clients: 1, extra: true }, 400],
      ['POST', '/registration-tokens/x/revoke', undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const response = await admin(server, writer, method, path, body);
      expect(response.status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}`).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(response.body)).not.toMatch(LEAKS);
    }
    expect(await snapshot(server)).toBe(before);
    expect(await server.services.db.apiKey.count()).toBe(keysBefore);
  });

  it('refuses registration token requests that are not what they should be on the admin API, changing nothing', async () => {
    const clientsKey = await issueKey(server, ['clients:write', 'clients:read']);
    const before = await snapshot(server);
    const tokenCases: [string, string, unknown, number][] = [
      ['POST', '/registration-tokens', { max_clients: -1 }, 400],
      ['POST', '/registration-tokens', { max_clients: 1.5 }, 400],
      ['POST', '/registration-tokens', { expires_in_seconds: 0 }, 400],
      ['POST', '/registration-tokens', { token: big(43) }, 400],
      ['POST', `/registration-tokens/${big(300)}/revoke`, undefined, 414],
      ['POST', '/registration-tokens/%00/revoke', undefined, 400],
      ['POST', '/registration-tokens/unknown/revoke', undefined, 404],
    ];
    for (const [method, path, body, status] of tokenCases) {
      const response = await admin(server, clientsKey, method, path, body);
      expect(response.status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}`).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await snapshot(server)).toBe(before);
  });

  it('refuses upstream requests that are not what they should be on the admin API, changing nothing', async () => {
    const upstreamsKey = await issueKey(server, ['upstreams:write', 'upstreams:read']);
    // One upstream already there, for the taken slug and the changes to it.
    await server.services.upstreams.create({ slug: 'corp', name: 'Corp', issuer: 'https://sso.corp.example', clientId: 'ostiary', clientSecret: 'corp-secret-never-answered' }, TEST_ACTOR);
    const before = await snapshot(server);
    const base = { name: 'X', issuer: 'https://idp.example.com', client_id: 'x', client_secret: 'a-client-secret' };
    const raw = (body: string): [string, string, string, number] => ['POST', '/upstreams', body, 400];
    const cases: ([string, string, unknown, number] | [string, string, string, number])[] = [
      ['POST', '/upstreams', { ...base, slug: '../jwks' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'Corp' }, 400],
      ['POST', '/upstreams', { ...base, slug: big(300) }, 400],
      ['POST', '/upstreams', { ...base, slug: 'a\u0000b' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'corp' }, 409],
      ['POST', '/upstreams', { ...base, slug: 'x', name: '<script>alert(1)</script>' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', name: '\u001b[31mred' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', name: 'Ev\u202eil' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', name: big(5000) }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: 'javascript:alert(1)' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: 'http://169.254.169.254/latest/meta-data' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: 'file:///etc/passwd' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: 'https://user:pw@idp.example.com' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: 'https://idp.example.com/#frag' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: `https://idp.example.com/${big(3000)}` }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: undefined, kind: 'oauth2', authorization_url: 'https://idp.example.com/a', token_url: 'https://idp.example.com/t' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', issuer: undefined, preset: 'github', userinfo_url: 'http://10.0.0.1/user' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', preset: '__proto__' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', preset: 'okta' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', kind: 'constructor' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', preset: 'github', kind: 'oidc' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', client_secret: big(5000) }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', client_secret: '' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', client_id: 'a b' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', client_auth: 'none' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', scope: 'openid\r\nX-Injected: 1' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', scope: big(5000) }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: { subject: [] } }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: { subject: ['<script>'] } }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: { subject: ['a', 'b', 'c', 'd', 'e', 'f'] } }, 400],
      raw(JSON.stringify({ ...base, slug: 'x' }).replace('}', ',"claim_mapping":{"__proto__":["x"]}}')),
      raw(JSON.stringify({ ...base, slug: 'x' }).replace('}', ',"__proto__":{"jit":true}}')),
      ['POST', '/upstreams', { ...base, slug: 'x', claim_mapping: 'sub' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', default_roles: ['nope'] }, 403],
      ['POST', '/upstreams', { ...base, slug: 'x', jit: 'yes' }, 400],
      ['POST', '/upstreams', { ...base, slug: 'x', client_secret_sealed: 'x' }, 400],
      ['POST', '/upstreams', [], 400],
      raw('{"slug":'),
      raw(''),
      ['PATCH', '/upstreams/corp', {}, 400],
      ['PATCH', '/upstreams/corp', { slug: 'other' }, 400],
      ['PATCH', '/upstreams/corp', { preset: 'github' }, 400],
      ['PATCH', '/upstreams/corp', { client_auth: 'private_key_jwt' }, 400],
      ['PATCH', '/upstreams/corp', { issuer: 'http://evil.example.com' }, 400],
      ['PATCH', '/upstreams/corp', { kind: 'oauth2' }, 400],
      ['PATCH', '/upstreams/corp', { name: '' }, 400],
      ['PATCH', '/upstreams/corp', { client_secret: '' }, 400],
      ['PATCH', '/upstreams/corp', { default_roles: ['staff'] }, 403],
      ['PATCH', '/upstreams/nope', { name: 'X' }, 404],
      ['PATCH', '/upstreams/%00', { name: 'X' }, 400],
      ['GET', '/upstreams/..%2f..%2fjwks', undefined, 404],
      ['GET', '/upstreams/%3Cscript%3E', undefined, 404],
      ['GET', `/upstreams/${big(300)}`, undefined, 414],
      ['DELETE', '/upstreams/nope', undefined, 404],
      ['DELETE', '/upstreams/%00', undefined, 400],
      ['DELETE', `/upstreams/${big(300)}`, undefined, 414],
    ];
    for (const [method, path, body, status] of cases) {
      const response = typeof body === 'string'
        ? await fetch(`${server.issuer}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${upstreamsKey}`, 'content-type': 'application/json' }, body })
            .then(async (r) => ({ status: r.status, headers: r.headers, body: await r.json() as unknown }))
        : await admin(server, upstreamsKey, method, path, body);
      expect(response.status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}`).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const text = JSON.stringify(response.body);
      expect(text).not.toMatch(LEAKS);
      expect(text).not.toContain('a-client-secret');
      expect(response.headers.get('x-injected')).toBeNull();
    }
    expect(await snapshot(server)).toBe(before);
  });

  it('carries a state with line breaks through to the client encoded, injecting no header', async () => {
    const rp = await discover(server.issuer, web.id, web.secret);
    const state = 'x\r\nX-Injected: 1\r\nSet-Cookie: pwned=1';
    const agent = new UserAgent();
    const flow = await startFlow(rp, { state });
    const { callbackUrl } = await authorize(agent, flow.url, REDIRECT, ADA);
    expect(callbackUrl).not.toMatch(/[\r\n]/);
    expect(new URL(callbackUrl).searchParams.get('state')).toBe(state);
  });
});
