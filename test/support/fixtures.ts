import { TEST_ACTOR } from './actor.ts';
import type { ClientInput } from '../../src/clients/index.ts';
import { REDIRECT } from './flows.ts';
import type { TestServer } from './server.ts';

export const BILLING = 'https://billing.example.com';

/** The test user most suites sign in as. */
export const ADA: Readonly<{ email: string; password: string }> = Object.freeze({ email: 'ada@example.com', password: 'correct horse battery staple' });

/** A confidential client's id and secret. */
export type Credentials = { id: string; secret: string };
export type Worker = Credentials;

/** Only `services` is used: a TestServer, or `{ services }` around services made another way. */
type WithServices = Pick<TestServer, 'services'>;

/**
 * The Billing API (audience BILLING) with `scopes`; `name` only where a suite has named it its own way.
 */
export async function createBillingApi(server: WithServices, scopes: readonly string[] = ['invoices:read'], name = 'Billing'): Promise<void> {
  await server.services.apis.create({ name, audience: BILLING, scopes }, TEST_ACTOR);
}

/**
 * The confidential web client: code flow and refresh tokens, redirecting to REDIRECT. `overrides`
 * replaces any field (other grants, scopes, logout URIs, lifetimes, name).
 */
export async function createWebClient(server: WithServices, overrides: Partial<ClientInput> = {}): Promise<Credentials> {
  const created = await server.services.clients.create({ name: 'web', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], ...overrides }, TEST_ACTOR);
  return { id: created.client.clientId, secret: created.clientSecret! };
}

export async function jwksKids(server: TestServer): Promise<string[]> {
  const { keys } = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
  return keys.map((k) => k.kid);
}

/** A Billing API and a client_credentials client allowed `invoices:read` on it. */
export async function setUpWorker(server: TestServer): Promise<Worker> {
  await createBillingApi(server);
  const created = await server.services.clients.create({ name: 'worker', grantTypes: ['client_credentials'], scopes: ['invoices:read'] }, TEST_ACTOR);
  return { id: created.client.clientId, secret: created.clientSecret! };
}

/** A client_credentials access token for the Billing API, from `server`. */
export async function m2mToken(server: TestServer, worker: Worker): Promise<string> {
  const response = await postForm(server, '/token', worker, { grant_type: 'client_credentials', scope: 'invoices:read', resource: BILLING });
  if (response.status !== 200) throw new Error(`token endpoint answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** HTTP Basic client authentication, the client id and secret form-encoded first (RFC 6749, 2.3.1). */
export const basicAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** POSTs a form to one of the server's endpoints, authenticated as a confidential client. */
export async function postForm(server: TestServer, path: string, client: { id: string; secret: string } | null, form: Record<string, string>) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(client ? { authorization: basicAuth(client.id, client.secret) } : {}) },
    body: new URLSearchParams(form),
  });
}

/** RFC 7662 introspection as `client`. */
export async function introspect(server: TestServer, client: { id: string; secret: string }, token: string): Promise<Record<string, unknown>> {
  const response = await postForm(server, '/token/introspection', client, { token });
  if (response.status !== 200) throw new Error(`introspection answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}
