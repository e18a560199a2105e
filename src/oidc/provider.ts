import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Apis } from '../apis/index.ts';
import { accountClientMetadata, clientSecretMatches, EXTRA_METADATA, isDocumentClient, type ClientStore, type MetadataDocuments } from '../clients/index.ts';
import { PROTOCOL_UNAVAILABLE, RETRY_AFTER_SECONDS } from '../http/index.ts';
import type { Config } from '../config/index.ts';
import type { I18n } from '../i18n/index.ts';
import type { Views } from '../views/index.ts';
import type { SigningKeys } from '../keys/index.ts';
import type { ProviderStore } from '../provider-store/index.ts';
import type { Roles } from '../roles/index.ts';
import type { Secrets } from '../secrets/index.ts';
import type { Users } from '../users/index.ts';
import { createFindAccount } from './account.ts';
import type { Upstreams } from '../upstreams/index.ts';
import { createAdapterFactory } from './adapter.ts';
import { deviceFlow, prefillUserCode } from './device.ts';
import { providerPageLocals } from './page-locale.ts';
import { introspectionPolicy, jwtIntrospection } from './introspection.ts';
import { lifetimes } from './lifetimes.ts';
import { emptyRevocationAnswer, revocationAllowed } from './revocation.ts';
import { interactionPrompts } from './policy.ts';
import { ACR_VALUES } from './acr.ts';
import { createResourceIndicators } from './resources.ts';
import { registerTokenExchange } from './token-exchange.ts';
import { registerJwtBearer } from './jwt-bearer.ts';
import type { AssertionJtis } from '../assertions/index.ts';
import { deliverLogoutsInBackground } from './backchannel.ts';
import type { Audit } from '../audit/index.ts';
import { createGuardedFetch, type OutboundOptions } from '../outbound/index.ts';
import { clientIdMetadataDocuments } from './metadata-documents.ts';
import { createExtraTokenClaims } from './token-claims.ts';
import { registrationAnswers, registrationFeatures, splitRegisteredScopes, withRequest, type Registrations } from './registration.ts';
import { OIDC_CLAIMS, OIDC_SCOPES } from '../scopes/index.ts';

export interface ProviderDeps {
  config: Config;
  providerStore: ProviderStore;
  secrets: Secrets;
  signingKeys: SigningKeys;
  clients: ClientStore;
  users: Users;
  apis: Apis;
  roles: Roles;
  views: Views;
  i18n: I18n;
  audit: Audit;
  metadataDocuments: MetadataDocuments;
  outbound: Pick<OutboundOptions, 'resolve' | 'ca'>;
  /** Where the registration endpoints store clients and find initial access tokens (DYNAMIC_REGISTRATION). */
  registrations?: Registrations;
  assertionJtis: AssertionJtis;
  upstreams: Upstreams;
}

/**
 * Pages the provider renders itself (errors it cannot redirect, logout), from views/, in the
 * request's language. An error page says in words what its OAuth code means; the provider's
 * own description (for the application's developers) stays beside it, in English.
 */
function pages(views: Views, i18n: I18n) {
  const localsOf = providerPageLocals(i18n);
  return {
    async renderError(ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }) {
      ctx.type = 'html';
      ctx.set('cache-control', 'no-store');
      const locals = localsOf(ctx);
      const failed = (ctx.status >= 500 && out.error !== PROTOCOL_UNAVAILABLE.error) || !out.error;
      const message = locals.t(failed ? 'errors:oauth.server_error' : [`errors:oauth.${out.error}`, 'errors:oauth.other']);
      ctx.body = await views.render('error', { ...locals, message, code: out.error, detail: failed ? undefined : out.error_description });
    },
    async logoutSource(ctx: KoaContextWithOIDC, form: string) {
      ctx.body = await views.render('logout', { ...localsOf(ctx), form, clientName: ctx.oidc.client?.clientName });
    },
    async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
      ctx.body = await views.render('logged-out', { ...localsOf(ctx) });
    },
  };
}

/** Allows a browser origin only when it is the origin of one of the client's redirect URIs. */
function clientBasedCORS(_ctx: KoaContextWithOIDC, origin: string, client: { redirectUris?: readonly string[] }) {
  if (origin === 'null') return false;
  return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
}

/** The provider's endpoints a browser is sent to: their errors are pages. */
const BROWSER_ROUTES: ReadonlySet<string> = new Set(['authorization', 'resume', 'end_session', 'end_session_confirm', 'end_session_success', 'code_verification', 'device_resume']);

/**
 * The provider answers any failure with 500 server_error; when the cause was the database being
 * out of reach (flagged by the server_error listener), say so: 503, temporarily_unavailable, as
 * JSON, or as our error page where a browser was sent.
 */
function databaseUnavailable(renderError: (ctx: KoaContextWithOIDC, out: { error: string; error_description: string }) => Promise<void>) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    if (ctx.status !== 500 || !ctx.state.databaseUnavailable) return;
    ctx.status = 503;
    ctx.set('retry-after', String(RETRY_AFTER_SECONDS));
    if (BROWSER_ROUTES.has(ctx.oidc?.route ?? '')) await renderError(ctx, PROTOCOL_UNAVAILABLE);
    else ctx.body = PROTOCOL_UNAVAILABLE;
  };
}

/**
 * Every departure from oidc-provider's defaults is here, each with its reason. The option
 * reference is docs/README.md in the oidc-provider repository.
 */
export async function createProvider(deps: ProviderDeps): Promise<Provider> {
  const { config, providerStore, secrets, signingKeys, clients, users, apis, roles, views, i18n, audit, metadataDocuments, outbound, registrations, assertionJtis, upstreams } = deps;
  const { renderError, logoutSource, postLogoutSuccessSource } = pages(views, i18n);

  const introspectable = introspectionPolicy(users.isActive);
  const resources = createResourceIndicators(apis, config);
  const documents = clientIdMetadataDocuments({
    config: config.cimd,
    documents: metadataDocuments,
    fetchDocument: createGuardedFetch({ allowLoopback: config.cimd.allowLoopback, ...outbound }),
  });
  const providerFetch = createGuardedFetch({ allowLoopback: !config.production, ...outbound });

  const configuration: Configuration = {
    adapter: createAdapterFactory(providerStore, clients, registrations),
    // The account page's own client (src/interactions/account.ts), the same on every instance.
    clients: [accountClientMetadata(config.issuer, config.brand.name)],
    findAccount: createFindAccount(users, (userId) => upstreams.identities.lastUsed(userId)),
    jwks: await signingKeys.privateJwks(),
    // Derived from the key-encryption keys: the same on every instance, no extra secret to share,
    // and rotated with them (the first signs, all verify).
    cookies: { keys: secrets.deriveAll('cookie signing').map((key) => key.toString('base64url')) },
    // Authorization code only: no implicit or hybrid (OAuth 2.0 Security BCP, RFC 9700).
    responseTypes: ['code'],
    // PKCE (S256, the only method v9 offers) for every client, confidential ones included.
    pkce: { required: () => true },
    // Redirect URIs are always sent and compared exactly.
    allowOmittingSingleRegisteredRedirectUri: false,
    scopes: OIDC_SCOPES,
    // amr (RFC 8176) in every ID token, with sub: how the person signed in (pwd; pwd, otp and mfa with a code).
    claims: { ...OIDC_CLAIMS, openid: [...OIDC_CLAIMS.openid, 'amr', 'acr', 'idp'] },
    acrValues: ACR_VALUES,
    // Secrets are stored hashed, so no method may use them as key material (client_secret_jwt).
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    extraClientMetadata: {
      properties: Object.keys(EXTRA_METADATA),
      validator(ctx, key, value, metadata) {
        // Ostiary's own properties (first_party, api_scopes, introspection_audiences, ...) are the operator's to set, never a document's.
        if (value !== undefined && isDocumentClient(metadata)) throw new errors.InvalidClientMetadata(`${key} cannot be set by a client ID metadata document`);
        if (key === 'api_scopes') splitRegisteredScopes(ctx, metadata);
        const check = EXTRA_METADATA[key as keyof typeof EXTRA_METADATA];
        if (value !== undefined && value !== null && check && !check(value)) throw new Error(`invalid ${key}`);
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: (ctx, client, token) => introspectable(ctx, client as never, token) },
      revocation: { enabled: true, allowedPolicy: (ctx, client, token) => revocationAllowed(ctx, client, token) },
      resourceIndicators: resources,
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      // DPoP proof nonces must verify on every instance and across restarts.
      dPoP: { enabled: true, nonceSecret: secrets.derive('dpop nonce') },
      // RFC 8628 for clients holding the device_code grant; the pages are ours (views/device*.eta).
      deviceFlow: deviceFlow(views, i18n),
      // Clients with a backchannel_logout_uri get a logout token when a session ends (src/oidc/backchannel.ts).
      backchannelLogout: { enabled: true },
      // An https URL as client_id (CIMD=allowlist|open): src/oidc/metadata-documents.ts.
      clientIdMetadataDocument: { ...documents.feature, ack: 'draft-02' } as never,
      // RFC 7591 and 7592, by DYNAMIC_REGISTRATION (src/oidc/registration.ts).
      ...registrationFeatures(config.dynamicRegistration),
    },
    // A refresh token for every client allowed the refresh_token grant; without offline_access
    // it ends with the user's session. Each use rotates it.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Per client where it says so; a grant outlives its refresh tokens (else refreshing fails early).
    ttl: lifetimes(config) as Configuration['ttl'],
    extraTokenClaims: createExtraTokenClaims(roles) as Configuration['extraTokenClaims'],
    // Scope-released claims (email, name, roles) go into the ID token too, not only UserInfo.
    conformIdTokenClaims: false,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: interactionPrompts() },
    clientBasedCORS,
    renderError,
    // Every request the provider makes (back-channel logout tokens, a client's jwks_uri) goes to
    // public addresses only, after resolution, on the connection checked; loopback outside
    // production (development, tests), never redirected, bounded in time and size.
    // Client ID metadata documents go their own way (their own limits, loopback only with CIMD_ALLOW_LOOPBACK).
    fetch: documents.fetch(providerFetch) as unknown as Configuration['fetch'],
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  provider.use(withRequest);
  provider.use(databaseUnavailable(renderError));
  provider.use(registrationAnswers);
  provider.use(emptyRevocationAnswer);
  provider.use(prefillUserCode);
  provider.use(jwtIntrospection(config.issuer, () => signingKeys.publicJwks(), users.isActive));
  deliverLogoutsInBackground(provider, audit);
  documents.auditRefusals(provider);
  registerTokenExchange(provider, { issuer: config.issuer, publicJwks: () => signingKeys.publicJwks(), isActive: users.isActive, resources });
  registerJwtBearer(provider, { issuer: config.issuer, isActive: users.isActive, resources, jtis: assertionJtis, audit, fetch: providerFetch });
  // Client secrets are stored as SHA-256 digests: hash what is presented, compare in constant time.
  provider.Client.prototype.compareClientSecret = function compare(this: { clientSecret?: string }, actual: string) {
    return typeof this.clientSecret === 'string' && clientSecretMatches(this.clientSecret, actual);
  };
  return provider;
}
