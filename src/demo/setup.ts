import type { Actor } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { OstiaryError } from '../errors.ts';
import { createServices, type Services } from '../services.ts';

/** What the demo creates in Ostiary, and the credentials it prints. */
export const DEMO = Object.freeze({
  email: 'demo@example.com',
  password: 'ostiary-demo',
  name: 'Demo User',
  clientId: 'ostiary-demo',
  clientName: 'Ostiary demo app',
  apiName: 'Ostiary demo API',
  audience: 'urn:ostiary:demo',
  permission: 'demo:read',
  role: 'demo-reader',
});

/** How the demo's own changes are named in the audit trail. */
const DEMO_ACTOR: Actor = { id: 'demo' };

const quiet = { info: () => {}, warn: () => {} };

export interface DemoUrls {
  redirectUri: string;
  postLogoutRedirectUri: string;
}

/** `undefined` for a service's "not found" error, which means "create it". */
const unlessMissing = (code: 'client.not_found') => (error: unknown) => {
  if (error instanceof OstiaryError && error.code === code) return undefined;
  throw error;
};

async function ensureApi(services: Services): Promise<void> {
  if (await services.apis.findByAudience(DEMO.audience)) return;
  await services.apis.create({ name: DEMO.apiName, audience: DEMO.audience, scopes: [DEMO.permission] }, DEMO_ACTOR);
}

/** The role that gives the demo user the API's permission (the access token's `permissions`). */
async function ensureRole(services: Services): Promise<void> {
  if ((await services.roles.list()).some((role) => role.name === DEMO.role)) return;
  await services.roles.create({ name: DEMO.role, permissions: [DEMO.permission] }, DEMO_ACTOR);
}

async function ensureUser(services: Services): Promise<void> {
  const found = (await services.users.page({ email: DEMO.email, limit: 1 })).items[0];
  const user = found ?? (await services.users.create({ email: DEMO.email, password: DEMO.password, name: DEMO.name, emailVerified: true }, DEMO_ACTOR));
  await services.roles.grant(DEMO.role, { userId: user.id }, DEMO_ACTOR);
}

/**
 * The demo app's client: confidential, first-party (no consent page), redirecting to the demo
 * app's port of this run. Its secret is kept nowhere: each start rotates it and hands it to the app.
 */
async function ensureClient(services: Services, urls: DemoUrls): Promise<string> {
  const wanted = {
    name: DEMO.clientName,
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [urls.redirectUri],
    postLogoutRedirectUris: [urls.postLogoutRedirectUri],
    scopes: [DEMO.permission],
    firstParty: true,
  };
  const current = await services.clients.show(DEMO.clientId).catch(unlessMissing('client.not_found'));
  if (!current) return (await services.clients.create({ ...wanted, clientId: DEMO.clientId }, DEMO_ACTOR)).clientSecret!;
  const same =
    current.redirectUris.join(' ') === urls.redirectUri &&
    current.postLogoutRedirectUris.join(' ') === urls.postLogoutRedirectUri &&
    current.firstParty &&
    current.scope.split(' ').includes(DEMO.permission);
  if (!same) await services.clients.update(DEMO.clientId, wanted, DEMO_ACTOR);
  return (await services.clients.rotateSecret(DEMO.clientId, DEMO_ACTOR)).clientSecret;
}

/**
 * Migrates the database and creates the demo's API, role, user and client where missing, through
 * the services (with their checks and audit events). Returns the client secret for this run.
 */
export async function prepareDemo(config: Config, urls: DemoUrls): Promise<{ clientSecret: string }> {
  const services = await createServices(config, quiet, { migrate: true });
  try {
    await ensureApi(services);
    await ensureRole(services);
    await ensureUser(services);
    return { clientSecret: await ensureClient(services, urls) };
  } finally {
    await services.close();
  }
}
