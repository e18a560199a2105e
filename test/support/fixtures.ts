import { discover, oidc } from './relying-party.ts';
import type { TestServer } from './server.ts';

export const BILLING = 'https://billing.example.com';

export type Worker = { id: string; secret: string };

export async function jwksKids(server: TestServer): Promise<string[]> {
  const { keys } = (await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string }[] };
  return keys.map((k) => k.kid);
}

/** A Billing API and a client_credentials client allowed `invoices:read` on it. */
export async function setUpWorker(server: TestServer): Promise<Worker> {
  await server.services.apis.create({ name: 'Billing', audience: BILLING, scopes: ['invoices:read'] });
  const created = await server.services.clients.create({ name: 'worker', grantTypes: ['client_credentials'], scopes: ['invoices:read'] });
  return { id: created.client.clientId, secret: created.clientSecret! };
}

/** A client_credentials access token for the Billing API, from `server`. */
export async function m2mToken(server: TestServer, worker: Worker): Promise<string> {
  const rp = await discover(server.issuer, worker.id, worker.secret);
  return (await oidc.clientCredentialsGrant(rp, { scope: 'invoices:read', resource: BILLING })).access_token;
}
