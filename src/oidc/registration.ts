import { AsyncLocalStorage } from 'node:async_hooks';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { EXTRA_METADATA, generateClientSecret, generatedClientId, type Clients, type RegisteredMetadata, type RegistrationTokens } from '../clients/index.ts';
import type { Config } from '../config/index.ts';
import { OstiaryError } from '../errors.ts';
import { isOidcScope } from '../scopes/index.ts';

/**
 * Dynamic client registration (RFC 7591) and management (RFC 7592) are oidc-provider's
 * `registration` and `registrationManagement` features; this is what Ostiary adds around them:
 * the clients it registers are stored by the clients service (through the adapter, with the
 * registration policy), initial access tokens come from our own table, and answers never show
 * what is stored of a secret.
 */

export interface Registrations {
  clients: Pick<Clients, 'registerFromProvider' | 'updateRegistered' | 'removeRegistered'>;
  tokens: Pick<RegistrationTokens, 'providerPayload'>;
}

/** The provider's routes of the registration endpoints (`/reg`, `/reg/:clientId`). */
const REGISTRATION_ROUTES: ReadonlySet<string> = new Set(['registration', 'client', 'client_update', 'client_delete']);
const WRITING_ROUTES: ReadonlySet<string> = new Set(['registration', 'client_update']);

export function registrationFeatures(mode: Config['dynamicRegistration']) {
  const enabled = mode !== 'off';
  return {
    registration: {
      enabled,
      initialAccessToken: mode === 'token',
      // Client ids and secrets like an operator's (a secret is stored as its SHA-256).
      idFactory: () => generatedClientId(),
      secretFactory: () => generateClientSecret(),
      issueRegistrationAccessToken: true,
    },
    // Each update hands out a new registration access token; the old one stops working.
    registrationManagement: { enabled, rotateRegistrationAccessToken: true },
  };
}

/** The request the provider is serving, for the adapter (the provider calls it without one). */
const requests = new AsyncLocalStorage<KoaContextWithOIDC>();

export const withRequest = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => requests.run(ctx, next);

/** The registration request being served, if this is one that writes a client. */
function currentRegistration(): KoaContextWithOIDC | undefined {
  const ctx = requests.getStore();
  return ctx && WRITING_ROUTES.has(ctx.oidc?.route ?? '') ? ctx : undefined;
}

const actorOf = (ctx: KoaContextWithOIDC, id: string) => ({ id, ip: ctx.ip, userAgent: ctx.get('user-agent') || null });

/** The clients service's refusals, as the OAuth errors of RFC 7591 section 3.2.2 and RFC 6750. */
function asProviderError(error: unknown): unknown {
  if (!(error instanceof OstiaryError)) return error;
  if (error.code === 'registration_token.invalid') return new errors.InvalidToken(error.message);
  if (error.code === 'registration_token.exhausted' || error.code === 'client.not_registered') {
    const denied = new errors.AccessDenied(error.message);
    denied.status = denied.statusCode = 403;
    return denied;
  }
  if (error.status === 400) return new errors.InvalidClientMetadata(error.field === 'redirect_uris' ? `redirect_uris: ${error.message}` : error.message);
  return error;
}

/** What the provider's Client adapter does with a write: only registrations reach the clients service. */
export function registrationWrites(registrations: Registrations | undefined) {
  return {
    async upsert(clientId: string, metadata: Record<string, unknown>): Promise<void> {
      const ctx = currentRegistration();
      if (!ctx || !registrations) throw new Error('clients are managed by Ostiary, not by the provider');
      const create = ctx.oidc.route === 'registration';
      const tokenId = (ctx.oidc.entities as { InitialAccessToken?: { jti: string } }).InitialAccessToken?.jti;
      const registration = {
        metadata: { ...metadata, client_id: clientId } as unknown as RegisteredMetadata,
        asked: (ctx.oidc.body ?? {}) as Record<string, unknown>,
        initialAccessToken: tokenId,
        actor: actorOf(ctx, create ? 'registration' : `client:${clientId}`),
      };
      try {
        await (create ? registrations.clients.registerFromProvider(registration) : registrations.clients.updateRegistered(registration));
      } catch (error) {
        throw asProviderError(error);
      }
    },
    async destroy(clientId: string): Promise<void> {
      const ctx = requests.getStore();
      if (!ctx || ctx.oidc?.route !== 'client_delete' || !registrations) return;
      try {
        await registrations.clients.removeRegistered(clientId, actorOf(ctx, `client:${clientId}`));
      } catch (error) {
        throw asProviderError(error);
      }
    },
  };
}

/**
 * oidc-provider's client schema takes only OpenID Connect scopes in `scope`; a registering
 * client's API scopes move to `api_scopes`, where the clients service checks them against the
 * APIs (as for an operator's client). Called by the extra metadata validator, which may change
 * the metadata before the schema checks it.
 */
export function splitRegisteredScopes(ctx: KoaContextWithOIDC | undefined, metadata: Record<string, unknown>): void {
  if (!WRITING_ROUTES.has(ctx?.oidc?.route ?? '') || typeof metadata.scope !== 'string') return;
  const scopes = metadata.scope.split(' ').filter(Boolean);
  metadata.scope = scopes.filter(isOidcScope).join(' ') || undefined;
  metadata.api_scopes = scopes.filter((scope) => !isOidcScope(scope)).join(' ');
}

/**
 * Registration answers in RFC 7591 terms: `scope` with the API scopes again, none of Ostiary's
 * own properties, and `client_secret` only in the registration answer (the provider would
 * otherwise show the stored SHA-256 where it reads or updates a client).
 */
export async function registrationAnswers(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const route = ctx.oidc?.route ?? '';
  if (!REGISTRATION_ROUTES.has(route) || ctx.status >= 300 || !ctx.body || typeof ctx.body !== 'object') return;
  const body = ctx.body as Record<string, unknown>;
  const scope = [body.scope, body.api_scopes].filter((s) => typeof s === 'string' && s).join(' ');
  if (scope) body.scope = scope;
  for (const key of Object.keys(EXTRA_METADATA)) delete body[key];
  if (route !== 'registration') delete body.client_secret;
}
