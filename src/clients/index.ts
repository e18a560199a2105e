import { randomBytes } from 'node:crypto';
import type { Apis } from '../apis/index.ts';
import { type Database, type Page, pageOf, pageQuery, type PageRequest, Prisma, strings } from '../db/index.ts';
import type { Grants } from '../grants/index.ts';
import type { Roles } from '../roles/index.ts';
import { changedFields, type Actor, type Audit } from '../audit/index.ts';
import { fail } from '../errors.ts';
import { isLocalHost } from '../config/index.ts';
import { isOidcScope, SCOPE_TOKEN, splitScopes } from '../scopes/index.ts';
import { clientSecretMatches, generateClientSecret, hashClientSecret } from './secrets.ts';
import { checkAssertionTrust, jwksOf, type AssertionTrust } from './assertion-trust.ts';
import type { ClientStore } from './store.ts';
import type { RegistrationTokens } from './registration-tokens.ts';
import { askedScopes, checkAskedMetadata, checkRegisteredAuthMethod, checkRegisteredGrants, checkRegisteredRedirectUris, registeredName, type RegisteredMetadata } from './registration.ts';

export { CLIENT_CACHE_MS, createClientStore, type ClientStore } from './store.ts';
export { createMetadataDocuments, isDocumentClient, isMetadataDocumentUrl, metadataDocumentJson, type MetadataDocuments, type MetadataDocumentView } from './metadata-documents.ts';
export * from './metadata.ts';
export { clientSecretMatches, generateClientSecret } from './secrets.ts';
export { createRegistrationTokens, registrationTokenJson, type RegistrationTokens, type RegistrationTokenView } from './registration-tokens.ts';
export { type RegisteredMetadata } from './registration.ts';
export { ACCOUNT_CALLBACK_PATH, ACCOUNT_CLIENT_ID, accountClientMetadata } from './account-client.ts';
import { ACCOUNT_CLIENT_ID } from './account-client.ts';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'device_code', 'token_exchange', 'jwt_bearer'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** The grants a person signs in through (they get the OpenID Connect scopes and may refresh). */
const SIGN_IN_GRANTS: readonly string[] = ['authorization_code', 'device_code'];

export interface ClientInput {
  name: string;
  grantTypes: readonly string[];
  redirectUris?: readonly string[];
  postLogoutRedirectUris?: readonly string[];
  scopes?: readonly string[];
  public?: boolean;
  firstParty?: boolean;
  /** Its users sign in with a second factor. */
  requireMfa?: boolean;
  /** The upstream slugs its users may sign in through; null or absent: every enabled upstream. */
  upstreams?: readonly string[] | null;
  /** Its users may sign in with a password (default true). */
  passwordSignIn?: boolean;
  /** Where a logout token is posted when a session with it ends (Back-Channel Logout). */
  backchannelLogoutUri?: string | null;
  /** JWT bearer grant (RFC 7523): the `iss` of its assertions, and that issuer's keys (a JWKS URL, or a JWKS). */
  assertionIssuer?: string | null;
  assertionJwksUri?: string | null;
  assertionJwks?: unknown;
  roles?: readonly string[];
  /** Audiences of APIs whose tokens this client may introspect (it is their resource server). */
  introspectionAudiences?: readonly string[];
  accessTokenTtl?: number;
  idTokenTtl?: number;
  refreshTokenTtl?: number;
  /** A client id chosen by the operator (configuration files); else a random one. */
  clientId?: string;
  /** A secret chosen by the operator (configuration files, at least 43 characters); else a generated one. */
  secret?: string;
}

export type ClientPatch = Partial<Pick<ClientInput, 'name' | 'grantTypes' | 'redirectUris' | 'postLogoutRedirectUris' | 'scopes' | 'firstParty' | 'requireMfa' | 'upstreams' | 'passwordSignIn' | 'backchannelLogoutUri' | 'assertionIssuer' | 'assertionJwksUri' | 'assertionJwks' | 'roles' | 'introspectionAudiences'>> & {
  /** `null` goes back to the configured default. */
  accessTokenTtl?: number | null;
  idTokenTtl?: number | null;
  refreshTokenTtl?: number | null;
};

export interface ClientView {
  clientId: string;
  name: string;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scope: string;
  tokenEndpointAuthMethod: string;
  firstParty: boolean;
  requireMfa: boolean;
  upstreams: string[] | null;
  passwordSignIn: boolean;
  backchannelLogoutUri: string | null;
  assertionIssuer: string | null;
  assertionJwksUri: string | null;
  assertionJwks: { keys: unknown[] } | null;
  roles: string[];
  introspectionAudiences: string[];
  accessTokenTtl: number | null;
  idTokenTtl: number | null;
  refreshTokenTtl: number | null;
  applicationType: string;
  /** When the client registered itself (RFC 7591); null for an operator's client. */
  registeredAt: Date | null;
  createdAt: Date;
}

/** A registration or an update through the provider's registration endpoints (RFC 7591, 7592). */
export interface Registration {
  /** The metadata as the provider checked it. */
  metadata: RegisteredMetadata;
  /** What the client sent, to refuse what Ostiary would not keep. */
  asked: Record<string, unknown>;
  /** The initial access token it presented, when one is required. */
  initialAccessToken?: string;
  actor: Actor;
}

const UPSTREAM_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** Which ways in a client's users may take: only the upstreams named (when named), and passwords or not. */
function signInMethods(input: { upstreams?: readonly string[] | null; passwordSignIn?: boolean }) {
  const bad = input.upstreams?.find((slug) => !UPSTREAM_SLUG.test(slug));
  if (bad !== undefined) throw fail('client.upstream_invalid', `${JSON.stringify(bad)} is not an upstream slug`, { field: 'upstreams' });
  return {
    ...(input.upstreams !== undefined ? { signInUpstreams: input.upstreams === null ? Prisma.DbNull : [...new Set(input.upstreams)] } : {}),
    ...(input.passwordSignIn !== undefined ? { passwordSignIn: input.passwordSignIn } : {}),
  };
}

const WITH_ROLES = { roles: { select: { role: { select: { name: true } } } } } as const;
type ClientRow = Awaited<ReturnType<Database['client']['findUniqueOrThrow']>> & { roles: { role: { name: string } }[] };


function view(row: ClientRow): ClientView {
  return {
    clientId: row.id,
    name: row.name,
    grantTypes: strings(row.grantTypes),
    redirectUris: strings(row.redirectUris),
    postLogoutRedirectUris: strings(row.postLogoutRedirectUris),
    scope: row.scope,
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod,
    firstParty: row.firstParty,
    requireMfa: row.requireMfa,
    upstreams: row.signInUpstreams === null ? null : strings(row.signInUpstreams),
    passwordSignIn: row.passwordSignIn,
    backchannelLogoutUri: row.backchannelLogoutUri,
    assertionIssuer: row.assertionIssuer,
    assertionJwksUri: row.assertionJwksUri,
    assertionJwks: jwksOf(row.assertionJwks),
    roles: row.roles.map((r) => r.role.name).sort(),
    introspectionAudiences: strings(row.introspectionAudiences),
    accessTokenTtl: row.accessTokenTtl,
    idTokenTtl: row.idTokenTtl,
    refreshTokenTtl: row.refreshTokenTtl,
    applicationType: row.applicationType,
    registeredAt: row.registeredAt,
    createdAt: row.createdAt,
  };
}

function checkGrantTypes(values: readonly string[], isPublic: boolean, resourceServer: boolean): GrantType[] {
  const grants = [...new Set(values)];
  if (grants.length === 0 && !resourceServer) {
    throw fail('client.grant_required', `at least one grant type is required (${GRANT_TYPES.join(', ')}), or an API to introspect for as a resource server`, { field: 'grantTypes' });
  }
  for (const grant of grants) {
    if (!(GRANT_TYPES as readonly string[]).includes(grant)) {
      throw fail('client.grant_unsupported', `unsupported grant type ${grant}; supported: ${GRANT_TYPES.join(', ')}`, { field: 'grantTypes' });
    }
  }
  if (grants.includes('refresh_token') && !grants.some((grant) => SIGN_IN_GRANTS.includes(grant))) {
    throw fail('client.refresh_needs_code', 'refresh_token needs the authorization_code or the device_code grant too', { field: 'grantTypes' });
  }
  if (isPublic && grants.includes('client_credentials')) {
    throw fail('client.public_client_credentials', 'a public client cannot use client_credentials: it has no secret', { field: 'grantTypes' });
  }
  if (isPublic && grants.includes('jwt_bearer')) {
    throw fail('client.public_jwt_bearer', 'a public client cannot use jwt_bearer: the client presenting an assertion authenticates', { field: 'grantTypes' });
  }
  if (grants.includes('token_exchange') && (isPublic || !resourceServer)) {
    throw fail('client.exchange_needs_resource_server', 'token_exchange is for a confidential client that is the resource server (--introspect AUDIENCE) of the tokens it exchanges', { field: 'grantTypes' });
  }
  return grants as GrantType[];
}

/** A back-channel logout URI: as a redirect URI (absolute, https but on localhost, no fragment), null for none. */
function checkBackchannelUri(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    if (!/^https?:/i.test(value)) throw new Error('not a web URI');
    return checkRedirectUris([value], 'backchannelLogoutUri')[0]!;
  } catch {
    throw fail('client.backchannel_logout_uri_invalid', `back-channel logout URI must be an absolute https URI (http only for localhost) without a fragment: ${value}`, { field: 'backchannelLogoutUri' });
  }
}

/** Absolute URIs without fragments, compared exactly by the provider (RFC 9700 section 4.1.3). */
function checkRedirectUris(values: readonly string[], field: 'redirectUris' | 'postLogoutRedirectUris' | 'backchannelLogoutUri'): string[] {
  const label = field === 'redirectUris' ? 'redirect URI' : 'post-logout redirect URI';
  const invalid = (why: string) => fail('client.redirect_uri_invalid', `${label} ${why}`, { field });
  return [...new Set(values)].map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw invalid(`must be an absolute URI: ${value}`);
    }
    if (url.hash || value.includes('#')) throw invalid(`must not contain a fragment: ${value}`);
    if (url.protocol === 'http:' && !isLocalHost(url.hostname)) {
      throw invalid(`must use https (http is allowed only for localhost): ${value}`);
    }
    return value;
  });
}

/** The lifetimes a patch gives: a number is checked, `null` clears it. */
function lifetimes(patch: ClientPatch) {
  const fields = ['accessTokenTtl', 'idTokenTtl', 'refreshTokenTtl'] as const;
  return Object.fromEntries(fields.filter((f) => patch[f] !== undefined).map((f) => [f, patch[f] === null ? null : checkTtl(patch[f]!, f)]));
}

const LIFETIMES = { accessTokenTtl: 'access token lifetime', idTokenTtl: 'ID token lifetime', refreshTokenTtl: 'refresh token lifetime' } as const;

function checkTtl(value: number | undefined, field: keyof typeof LIFETIMES): number | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value) || value < 1 || value > 366 * 24 * 3600) {
    throw fail('client.lifetime_invalid', `${LIFETIMES[field]} must be a whole number of seconds, 1 to 31622400`, { field });
  }
  return value;
}

/** The JSON names of the client fields whose name differs, for audit events. */
const PUBLIC_NAMES = {
  name: 'client_name',
  grantTypes: 'grant_types',
  redirectUris: 'redirect_uris',
  postLogoutRedirectUris: 'post_logout_redirect_uris',
  scopes: 'scope',
  firstParty: 'first_party',
  requireMfa: 'require_mfa',
  passwordSignIn: 'password_sign_in',
  backchannelLogoutUri: 'backchannel_logout_uri',
  assertionIssuer: 'assertion_issuer',
  assertionJwksUri: 'assertion_jwks_uri',
  assertionJwks: 'assertion_jwks',
  introspectionAudiences: 'introspection_audiences',
  accessTokenTtl: 'access_token_ttl',
  idTokenTtl: 'id_token_ttl',
  refreshTokenTtl: 'refresh_token_ttl',
};

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/;
/** As long as a generated secret (256 bits in base64url). */
export const MIN_CLIENT_SECRET_LENGTH = 43;

/** 128 random bits, starting with a letter or digit so that no command line takes it for an option. */
export function generatedClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (CLIENT_ID.test(id)) return id;
  }
}

function checkClientId(clientId: string | undefined): string {
  if (clientId === undefined) return generatedClientId();
  if (!CLIENT_ID.test(clientId)) throw fail('client.id_invalid', `invalid client id ${JSON.stringify(clientId)}: letters, digits, . _ ~ - (at most 128)`, { field: 'clientId' });
  if (clientId === ACCOUNT_CLIENT_ID) throw fail('client.id_taken', `the client id ${ACCOUNT_CLIENT_ID} is the account page's`, { field: 'clientId' });
  return clientId;
}

function checkGivenSecret(secret: string): string {
  if (secret.length < MIN_CLIENT_SECRET_LENGTH) {
    throw fail('client.secret_too_short', `a client secret must be at least ${MIN_CLIENT_SECRET_LENGTH} characters (openssl rand -base64 32)`, { field: 'secret' });
  }
  return secret;
}

/** The OpenID Connect scopes a client's grants give it whatever it asks for. */
export function impliedScopes(grants: readonly string[]): string[] {
  const oidc = grants.some((grant) => SIGN_IN_GRANTS.includes(grant)) ? ['openid', 'profile', 'email', 'roles'] : [];
  if (grants.includes('refresh_token')) oidc.push('offline_access');
  return oidc;
}

const trustChanged = (patch: ClientPatch) => patch.assertionIssuer !== undefined || patch.assertionJwksUri !== undefined || patch.assertionJwks !== undefined;

/** The trust a patch leaves: what it gives, else what was; giving one kind of keys replaces the other. */
function patchedTrust(current: ClientView, patch: ClientPatch): AssertionTrust {
  const keysGiven = patch.assertionJwksUri !== undefined || patch.assertionJwks !== undefined;
  return {
    assertionIssuer: patch.assertionIssuer !== undefined ? patch.assertionIssuer : current.assertionIssuer,
    assertionJwksUri: keysGiven ? patch.assertionJwksUri : current.assertionJwksUri,
    assertionJwks: keysGiven ? patch.assertionJwks : current.assertionJwks,
  };
}

function requireRedirectUris(grants: GrantType[], redirectUris: string[]): void {
  if (grants.includes('authorization_code') && redirectUris.length === 0) {
    throw fail('client.redirect_uri_required', 'the authorization_code grant needs at least one redirect URI', { field: 'redirectUris' });
  }
}

export function createClients(db: Database, apis: Apis, roles: Roles, grants: Grants, store: ClientStore, audit: Audit, registrationTokens?: RegistrationTokens) {
  /** OIDC scopes follow from the grants; API scopes must exist on some API. */
  async function resolveScopes(requested: readonly string[], grants: GrantType[]): Promise<string> {
    const scopes = splitScopes(requested);
    const known = await apis.knownScopes();
    for (const scope of scopes) {
      if (!SCOPE_TOKEN.test(scope)) throw fail('client.scope_invalid', `invalid scope value: ${JSON.stringify(scope)}`, { field: 'scopes' });
      if (!isOidcScope(scope) && !known.has(scope)) {
        throw fail('client.scope_unknown', `scope ${scope} is not defined by any API`, { field: 'scopes', params: { scope } });
      }
    }
    return [...new Set([...impliedScopes(grants), ...scopes])].join(' ');
  }

  async function checkAudiences(values: readonly string[]): Promise<string[]> {
    const audiences = [...new Set(values)];
    for (const audience of audiences) {
      if (!(await apis.findByAudience(audience))) throw fail('client.audience_unknown', `no API with audience ${audience}`, { field: 'introspectionAudiences' });
    }
    return audiences;
  }

  async function show(clientId: string): Promise<ClientView> {
    const row = await db.client.findUnique({ where: { id: clientId }, include: WITH_ROLES });
    if (!row) throw fail('client.not_found', `no client ${clientId}`);
    return view(row);
  }

  /** The row fields of a registered client, by the registration policy; never first-party, no roles. */
  async function registeredFields({ metadata, asked }: Registration) {
    checkAskedMetadata(asked);
    const applicationType = metadata.application_type === 'native' ? 'native' : 'web';
    const grantTypes = checkRegisteredGrants(metadata.grant_types ?? ['authorization_code']);
    const redirectUris = checkRegisteredRedirectUris(metadata.redirect_uris ?? [], applicationType, 'redirect_uris');
    requireRedirectUris(grantTypes as GrantType[], redirectUris);
    return {
      name: registeredName(metadata.client_name, metadata.client_id),
      tokenEndpointAuthMethod: checkRegisteredAuthMethod(metadata.token_endpoint_auth_method),
      applicationType,
      grantTypes,
      redirectUris,
      postLogoutRedirectUris: checkRegisteredRedirectUris(metadata.post_logout_redirect_uris ?? [], applicationType, 'post_logout_redirect_uris'),
      scope: await resolveScopes(await checkInvitedScopes(askedScopes(metadata)), grantTypes as GrantType[]),
    };
  }

  /**
   * A client that registered itself may hold only the scopes of APIs that invite such clients by
   * publishing their metadata (RFC 9728), as a client known by its metadata document may.
   */
  async function checkInvitedScopes(asked: string[]): Promise<string[]> {
    const invited = new Set((await apis.list()).filter((api) => api.publishMetadata).flatMap((api) => api.scopes));
    const known = await apis.knownScopes();
    const refused = asked.find((scope) => !isOidcScope(scope) && known.has(scope) && !invited.has(scope));
    if (refused) throw fail('client.registration_refused', `scope ${refused} belongs to an API that does not publish its metadata: only those invite clients that register themselves`, { field: 'scope' });
    return asked;
  }

  /** Stores a client that registered itself; with an initial access token, within the token's maximum. */
  async function register(registration: Registration): Promise<void> {
    const { metadata, actor } = registration;
    const fields = await registeredFields(registration);
    const secret = fields.tokenEndpointAuthMethod === 'none' ? undefined : metadata.client_secret;
    if (fields.tokenEndpointAuthMethod !== 'none' && !secret) throw fail('client.registration_refused', 'a confidential client needs a secret', { field: 'client_secret' });
    await db.$transaction(async (tx) => {
      let registrationTokenId: string | null = null;
      if (registration.initialAccessToken !== undefined) {
        const token = await registrationTokens?.claim(registration.initialAccessToken, tx);
        if (!token) throw fail('registration_token.invalid', 'the initial access token is not valid');
        const registered = await tx.client.count({ where: { registrationTokenId: token.id } });
        if (token.maxClients !== null && registered >= token.maxClients) {
          throw fail('registration_token.exhausted', `the initial access token has registered its maximum of ${token.maxClients} clients`);
        }
        registrationTokenId = token.id;
      }
      await tx.client.create({ data: { id: metadata.client_id, ...fields, secretHash: secret ? hashClientSecret(secret) : null, registeredAt: new Date(), registrationTokenId } });
      await audit.change(actor, { type: 'client.registered', clientId: metadata.client_id, details: { name: fields.name, registration_token: registrationTokenId } }, tx);
    });
  }

  /** Changes a registered client (RFC 7592 update); its secret stays, and so does public or confidential. */
  async function updateRegistered(registration: Registration): Promise<void> {
    const { metadata, actor } = registration;
    const current = await db.client.findUnique({ where: { id: metadata.client_id }, select: { registeredAt: true, tokenEndpointAuthMethod: true } });
    if (!current) throw fail('client.not_found', `no client ${metadata.client_id}`);
    if (!current.registeredAt) throw fail('client.not_registered', `client ${metadata.client_id} is an operator's client`);
    const fields = await registeredFields(registration);
    if ((fields.tokenEndpointAuthMethod === 'none') !== (current.tokenEndpointAuthMethod === 'none')) {
      throw fail('client.registration_refused', 'a registered client cannot change between public and confidential: register a new one', { field: 'token_endpoint_auth_method' });
    }
    await db.$transaction(async (tx) => {
      await tx.client.update({ where: { id: metadata.client_id }, data: fields });
      await audit.change(actor, { type: 'client.registration_updated', clientId: metadata.client_id, details: { fields: Object.keys(registration.asked).sort() } }, tx);
    });
    store.forget(metadata.client_id);
  }

  return {
    /** A client registering itself, as the provider stores it through its adapter (RFC 7591). */
    registerFromProvider: register,

    /** A registered client changing its registration (RFC 7592); operators' clients are never changed so. */
    updateRegistered,

    /** A registered client deleting itself (RFC 7592), with its grants; an operator's client stays. */
    async removeRegistered(clientId: string, actor: Actor): Promise<void> {
      await db.$transaction(async (tx) => {
        const { count } = await tx.client.deleteMany({ where: { id: clientId, registeredAt: { not: null } } });
        if (count === 0) throw fail('client.not_registered', `client ${clientId} is not a registered client`);
        await audit.change(actor, { type: 'client.registration_deleted', clientId }, tx);
      });
      store.forget(clientId);
      await grants.revokeForClient(clientId);
    },

    /** Creates a client; the secret (confidential clients) is returned here and never again. */
    async create(input: ClientInput, actor: Actor): Promise<{ client: ClientView; clientSecret: string | null }> {
      if (!input.name.trim()) throw fail('client.name_required', 'name is required', { field: 'name' });
      const isPublic = input.public ?? false;
      const introspectionAudiences = await checkAudiences(input.introspectionAudiences ?? []);
      const id = checkClientId(input.clientId);
      if (isPublic && input.secret !== undefined) throw fail('client.public_has_no_secret', 'a public client has no secret', { field: 'secret' });
      const grants = checkGrantTypes(input.grantTypes, isPublic, introspectionAudiences.length > 0);
      const roleIds = await roles.idsOf(input.roles ?? []);
      const redirectUris = checkRedirectUris(input.redirectUris ?? [], 'redirectUris');
      requireRedirectUris(grants, redirectUris);
      if (!grants.includes('authorization_code') && redirectUris.length > 0) {
        throw fail('client.redirect_uri_unused', 'redirect URIs are only used by the authorization_code grant', { field: 'redirectUris' });
      }
      const clientSecret = isPublic ? null : input.secret !== undefined ? checkGivenSecret(input.secret) : generateClientSecret();
      const data = {
        id,
        name: input.name.trim(),
        secretHash: clientSecret && hashClientSecret(clientSecret),
        tokenEndpointAuthMethod: isPublic ? 'none' : 'client_secret_basic',
        redirectUris,
        postLogoutRedirectUris: checkRedirectUris(input.postLogoutRedirectUris ?? [], 'postLogoutRedirectUris'),
        grantTypes: grants,
        scope: await resolveScopes(input.scopes ?? [], grants),
        firstParty: input.firstParty ?? false,
        requireMfa: input.requireMfa ?? false,
        ...signInMethods(input),
        backchannelLogoutUri: checkBackchannelUri(input.backchannelLogoutUri),
        ...checkAssertionTrust(input, grants),
        introspectionAudiences,
        accessTokenTtl: checkTtl(input.accessTokenTtl, 'accessTokenTtl'),
        idTokenTtl: checkTtl(input.idTokenTtl, 'idTokenTtl'),
        refreshTokenTtl: checkTtl(input.refreshTokenTtl, 'refreshTokenTtl'),
        roles: { create: roleIds.map((roleId) => ({ roleId })) },
      };
      const row = await db.$transaction(async (tx) => {
        if (input.clientId !== undefined && (await tx.client.findUnique({ where: { id }, select: { id: true } }))) {
          throw fail('client.id_taken', `a client with id ${id} already exists`, { field: 'clientId' });
        }
        const created = await tx.client.create({ data, include: WITH_ROLES });
        await audit.change(actor, { type: 'client.created', clientId: created.id, details: { name: created.name } }, tx);
        return created;
      });
      // A secret the operator chose is theirs already: only a generated one is handed back.
      return { client: view(row), clientSecret: input.secret !== undefined ? null : clientSecret };
    },

    async list(): Promise<ClientView[]> {
      return (await db.client.findMany({ orderBy: { createdAt: 'asc' }, include: WITH_ROLES })).map(view);
    },

    async page(request: PageRequest): Promise<Page<ClientView>> {
      const rows = await db.client.findMany({ orderBy: { id: 'asc' }, include: WITH_ROLES, ...pageQuery(request) });
      return pageOf(rows, request, view);
    },

    /** Changes what is given; checked like creation. Roles, when given, replace the client's roles. */
    async update(clientId: string, patch: ClientPatch, actor: Actor): Promise<ClientView> {
      const current = await show(clientId);
      const isPublic = current.tokenEndpointAuthMethod === 'none';
      const introspectionAudiences = patch.introspectionAudiences ? await checkAudiences(patch.introspectionAudiences) : current.introspectionAudiences;
      const grants = patch.grantTypes || patch.introspectionAudiences ? checkGrantTypes(patch.grantTypes ?? current.grantTypes, isPublic, introspectionAudiences.length > 0) : (current.grantTypes as GrantType[]);
      const redirectUris = patch.redirectUris ? checkRedirectUris(patch.redirectUris, 'redirectUris') : current.redirectUris;
      requireRedirectUris(grants, redirectUris);
      const roleIds = patch.roles ? await roles.idsOf(patch.roles) : undefined;
      if (patch.name !== undefined && !patch.name.trim()) throw fail('client.name_required', 'name must not be empty', { field: 'name' });
      const data = {
        ...(patch.name !== undefined ? { name: patch.name.trim() } : {}),
        grantTypes: grants,
        redirectUris,
        ...(patch.postLogoutRedirectUris ? { postLogoutRedirectUris: checkRedirectUris(patch.postLogoutRedirectUris, 'postLogoutRedirectUris') } : {}),
        ...(patch.scopes || patch.grantTypes ? { scope: await resolveScopes(patch.scopes ?? current.scope.split(' ').filter(Boolean), grants) } : {}),
        ...(patch.firstParty !== undefined ? { firstParty: patch.firstParty } : {}),
        ...(patch.requireMfa !== undefined ? { requireMfa: patch.requireMfa } : {}),
        ...signInMethods(patch),
        ...(patch.backchannelLogoutUri !== undefined ? { backchannelLogoutUri: checkBackchannelUri(patch.backchannelLogoutUri) } : {}),
        ...(patch.grantTypes || trustChanged(patch) ? checkAssertionTrust(patchedTrust(current, patch), grants) : {}),
        ...(roleIds ? { roles: { deleteMany: {}, create: roleIds.map((roleId) => ({ roleId })) } } : {}),
        ...(patch.introspectionAudiences ? { introspectionAudiences } : {}),
        ...lifetimes(patch),
      };
      const row = await db.$transaction(async (tx) => {
        const updated = await tx.client.update({ where: { id: clientId }, data, include: WITH_ROLES });
        await audit.change(actor, { type: 'client.updated', clientId, details: { fields: changedFields(patch, PUBLIC_NAMES) } }, tx);
        return updated;
      });
      store.forget(clientId);
      if (roleIds) roles.changed();
      return view(row);
    },

    /**
     * A new secret, shown once (or `given`, one the operator chose); the old one stops working at
     * once (in other processes within CLIENT_CACHE_MS).
     */
    async rotateSecret(clientId: string, actor: Actor, given?: string): Promise<{ client: ClientView; clientSecret: string }> {
      const current = await show(clientId);
      if (current.tokenEndpointAuthMethod === 'none') throw fail('client.public_has_no_secret', `client ${clientId} is public: it has no secret`);
      const clientSecret = given !== undefined ? checkGivenSecret(given) : generateClientSecret();
      const row = await db.$transaction(async (tx) => {
        const updated = await tx.client.update({ where: { id: clientId }, data: { secretHash: hashClientSecret(clientSecret) }, include: WITH_ROLES });
        await audit.change(actor, { type: 'client.secret_rotated', clientId }, tx);
        return updated;
      });
      store.forget(clientId);
      return { client: view(row), clientSecret };
    },

    show,

    /** Whether `secret` is this client's secret (compared as the token endpoint compares it). */
    async secretIs(clientId: string, secret: string): Promise<boolean> {
      const row = await db.client.findUnique({ where: { id: clientId }, select: { secretHash: true } });
      return !!row?.secretHash && clientSecretMatches(row.secretHash, secret);
    },

    /** Deletes the client and everything the provider stored for it (grants, tokens, codes). */
    async delete(clientId: string, actor: Actor): Promise<void> {
      await db.$transaction(async (tx) => {
        const { count } = await tx.client.deleteMany({ where: { id: clientId } });
        if (count === 0) throw fail('client.not_found', `no client ${clientId}`);
        await audit.change(actor, { type: 'client.deleted', clientId }, tx);
      });
      store.forget(clientId);
      await grants.revokeForClient(clientId);
    },
  };
}

export type Clients = ReturnType<typeof createClients>;

/** The snake_case JSON form shared by the CLI and the admin API. */
export const clientJson = (c: ClientView) => ({
  client_id: c.clientId,
  client_name: c.name,
  grant_types: c.grantTypes,
  redirect_uris: c.redirectUris,
  post_logout_redirect_uris: c.postLogoutRedirectUris,
  scope: c.scope,
  token_endpoint_auth_method: c.tokenEndpointAuthMethod,
  first_party: c.firstParty,
  require_mfa: c.requireMfa,
  upstreams: c.upstreams,
  password_sign_in: c.passwordSignIn,
  backchannel_logout_uri: c.backchannelLogoutUri,
  assertion_issuer: c.assertionIssuer,
  assertion_jwks_uri: c.assertionJwksUri,
  assertion_jwks: c.assertionJwks,
  roles: c.roles,
  introspection_audiences: c.introspectionAudiences,
  access_token_ttl: c.accessTokenTtl,
  id_token_ttl: c.idTokenTtl,
  refresh_token_ttl: c.refreshTokenTtl,
  application_type: c.applicationType,
  registered: c.registeredAt !== null,
  registered_at: c.registeredAt,
  created_at: c.createdAt,
});
