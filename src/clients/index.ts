import { randomBytes } from 'node:crypto';
import type { Apis } from '../apis/index.ts';
import { unstorable, type Database } from '../db/index.ts';
import { strings } from '../db/json.ts';
import { createTtlCache } from '../db/ttl-cache.ts';
import type { Grants } from '../grants/index.ts';
import type { Roles } from '../roles/index.ts';
import { pageOf, pageQuery, type Page, type PageRequest } from '../db/paging.ts';
import { invalidInput, notFound } from '../errors.ts';
import { isOidcScope, SCOPE_TOKEN, splitScopes } from '../oidc/scopes.ts';
import { generateClientSecret, hashClientSecret } from './secrets.ts';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface ClientInput {
  name: string;
  grantTypes: readonly string[];
  redirectUris?: readonly string[];
  postLogoutRedirectUris?: readonly string[];
  scopes?: readonly string[];
  public?: boolean;
  firstParty?: boolean;
  roles?: readonly string[];
  /** Audiences of APIs whose tokens this client may introspect (it is their resource server). */
  introspectionAudiences?: readonly string[];
  accessTokenTtl?: number;
  idTokenTtl?: number;
  refreshTokenTtl?: number;
}

export type ClientPatch = Partial<Pick<ClientInput, 'name' | 'grantTypes' | 'redirectUris' | 'postLogoutRedirectUris' | 'scopes' | 'firstParty' | 'roles'>>;

export interface ClientView {
  clientId: string;
  name: string;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scope: string;
  tokenEndpointAuthMethod: string;
  firstParty: boolean;
  roles: string[];
  introspectionAudiences: string[];
  accessTokenTtl: number | null;
  idTokenTtl: number | null;
  refreshTokenTtl: number | null;
  createdAt: Date;
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
    roles: row.roles.map((r) => r.role.name).sort(),
    introspectionAudiences: strings(row.introspectionAudiences),
    accessTokenTtl: row.accessTokenTtl,
    idTokenTtl: row.idTokenTtl,
    refreshTokenTtl: row.refreshTokenTtl,
    createdAt: row.createdAt,
  };
}

function checkGrantTypes(values: readonly string[], isPublic: boolean, resourceServer: boolean): GrantType[] {
  const grants = [...new Set(values)];
  if (grants.length === 0 && !resourceServer) {
    throw invalidInput(`at least one --grant is required (${GRANT_TYPES.join(', ')}), or --introspect for a resource server`);
  }
  for (const grant of grants) {
    if (!(GRANT_TYPES as readonly string[]).includes(grant)) {
      throw invalidInput(`unsupported grant type ${grant}; supported: ${GRANT_TYPES.join(', ')}`);
    }
  }
  if (grants.includes('refresh_token') && !grants.includes('authorization_code')) {
    throw invalidInput('refresh_token needs the authorization_code grant too');
  }
  if (isPublic && grants.includes('client_credentials')) {
    throw invalidInput('a public client cannot use client_credentials: it has no secret');
  }
  return grants as GrantType[];
}

/** Absolute URIs without fragments, compared exactly by the provider (RFC 9700 section 4.1.3). */
function checkRedirectUris(values: readonly string[], label: string): string[] {
  return [...new Set(values)].map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw invalidInput(`${label} must be an absolute URI: ${value}`);
    }
    if (url.hash || value.includes('#')) throw invalidInput(`${label} must not contain a fragment: ${value}`);
    if (url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
      throw invalidInput(`${label} must use https (http is allowed only for localhost): ${value}`);
    }
    return value;
  });
}

function checkTtl(value: number | undefined, label: string): number | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value) || value < 1 || value > 366 * 24 * 3600) throw invalidInput(`${label} must be a whole number of seconds, 1 to 31622400`);
  return value;
}

export function createClients(db: Database, apis: Apis, roles: Roles, grants: Grants, store: ClientStore) {
  /** OIDC scopes follow from the grants; API scopes must exist on some API. */
  async function resolveScopes(requested: readonly string[], grants: GrantType[]): Promise<string> {
    const scopes = splitScopes(requested);
    const known = await apis.knownScopes();
    for (const scope of scopes) {
      if (!SCOPE_TOKEN.test(scope)) throw invalidInput(`invalid scope value: ${JSON.stringify(scope)}`);
      if (!isOidcScope(scope) && !known.has(scope)) {
        throw invalidInput(`scope ${scope} is not defined by any API (create it with: apis create ... --scope ${scope})`);
      }
    }
    const oidc = grants.includes('authorization_code') ? ['openid', 'profile', 'email', 'roles'] : [];
    if (grants.includes('refresh_token')) oidc.push('offline_access');
    return [...new Set([...oidc, ...scopes])].join(' ');
  }

  async function show(clientId: string): Promise<ClientView> {
    const row = await db.client.findUnique({ where: { id: clientId }, include: WITH_ROLES });
    if (!row) throw notFound(`no client ${clientId}`);
    return view(row);
  }

  return {
    /** Creates a client; the secret (confidential clients) is returned here and never again. */
    async create(input: ClientInput): Promise<{ client: ClientView; clientSecret: string | null }> {
      if (!input.name.trim()) throw invalidInput('name is required');
      const isPublic = input.public ?? false;
      const introspectionAudiences = [...new Set(input.introspectionAudiences ?? [])];
      for (const audience of introspectionAudiences) {
        if (!(await apis.findByAudience(audience))) throw invalidInput(`no API with audience ${audience}`);
      }
      const grants = checkGrantTypes(input.grantTypes, isPublic, introspectionAudiences.length > 0);
      const roleIds = await roles.idsOf(input.roles ?? []);
      const redirectUris = checkRedirectUris(input.redirectUris ?? [], 'redirect URI');
      if (grants.includes('authorization_code') && redirectUris.length === 0) {
        throw invalidInput('the authorization_code grant needs at least one --redirect-uri');
      }
      if (!grants.includes('authorization_code') && redirectUris.length > 0) {
        throw invalidInput('redirect URIs are only used by the authorization_code grant');
      }
      const clientSecret = isPublic ? null : generateClientSecret();
      const row = await db.client.create({
        data: {
          id: randomBytes(16).toString('base64url'),
          name: input.name.trim(),
          secretHash: clientSecret && hashClientSecret(clientSecret),
          tokenEndpointAuthMethod: isPublic ? 'none' : 'client_secret_basic',
          redirectUris,
          postLogoutRedirectUris: checkRedirectUris(input.postLogoutRedirectUris ?? [], 'post-logout redirect URI'),
          grantTypes: grants,
          scope: await resolveScopes(input.scopes ?? [], grants),
          firstParty: input.firstParty ?? false,
          introspectionAudiences,
          accessTokenTtl: checkTtl(input.accessTokenTtl, 'access token lifetime'),
          idTokenTtl: checkTtl(input.idTokenTtl, 'ID token lifetime'),
          refreshTokenTtl: checkTtl(input.refreshTokenTtl, 'refresh token lifetime'),
          roles: { create: roleIds.map((roleId) => ({ roleId })) },
        },
        include: WITH_ROLES,
      });
      return { client: view(row), clientSecret };
    },

    async list(): Promise<ClientView[]> {
      return (await db.client.findMany({ orderBy: { createdAt: 'asc' }, include: WITH_ROLES })).map(view);
    },

    async page(request: PageRequest): Promise<Page<ClientView>> {
      const rows = await db.client.findMany({ orderBy: { id: 'asc' }, include: WITH_ROLES, ...pageQuery(request) });
      return pageOf(rows, request, view);
    },

    /** Changes what is given; checked like creation. Roles, when given, replace the client's roles. */
    async update(clientId: string, patch: ClientPatch): Promise<ClientView> {
      const current = await show(clientId);
      const isPublic = current.tokenEndpointAuthMethod === 'none';
      const grants = patch.grantTypes ? checkGrantTypes(patch.grantTypes, isPublic, current.introspectionAudiences.length > 0) : (current.grantTypes as GrantType[]);
      const redirectUris = patch.redirectUris ? checkRedirectUris(patch.redirectUris, 'redirect URI') : current.redirectUris;
      if (grants.includes('authorization_code') && redirectUris.length === 0) throw invalidInput('the authorization_code grant needs at least one redirect URI');
      const roleIds = patch.roles ? await roles.idsOf(patch.roles) : undefined;
      if (patch.name !== undefined && !patch.name.trim()) throw invalidInput('name must not be empty');
      const row = await db.client.update({
        where: { id: clientId },
        data: {
          ...(patch.name !== undefined ? { name: patch.name.trim() } : {}),
          grantTypes: grants,
          redirectUris,
          ...(patch.postLogoutRedirectUris ? { postLogoutRedirectUris: checkRedirectUris(patch.postLogoutRedirectUris, 'post-logout redirect URI') } : {}),
          ...(patch.scopes || patch.grantTypes ? { scope: await resolveScopes(patch.scopes ?? current.scope.split(' ').filter(Boolean), grants) } : {}),
          ...(patch.firstParty !== undefined ? { firstParty: patch.firstParty } : {}),
          ...(roleIds ? { roles: { deleteMany: {}, create: roleIds.map((roleId) => ({ roleId })) } } : {}),
        },
        include: WITH_ROLES,
      });
      store.forget(clientId);
      if (roleIds) roles.changed();
      return view(row);
    },

    /** A new secret, shown once; the old one stops working at once (in other processes within CLIENT_CACHE_MS). */
    async rotateSecret(clientId: string): Promise<{ client: ClientView; clientSecret: string }> {
      const current = await show(clientId);
      if (current.tokenEndpointAuthMethod === 'none') throw invalidInput(`client ${clientId} is public: it has no secret`);
      const clientSecret = generateClientSecret();
      const row = await db.client.update({ where: { id: clientId }, data: { secretHash: hashClientSecret(clientSecret) }, include: WITH_ROLES });
      store.forget(clientId);
      return { client: view(row), clientSecret };
    },

    show,

    /** Deletes the client and everything the provider stored for it (grants, tokens, codes). */
    async delete(clientId: string): Promise<void> {
      const { count } = await db.client.deleteMany({ where: { id: clientId } });
      if (count === 0) throw notFound(`no client ${clientId}`);
      store.forget(clientId);
      await grants.revokeForClient(clientId);
    },
  };
}

export type Clients = ReturnType<typeof createClients>;

/** How long another process may go on seeing a client as it was (this process forgets at once). */
export const CLIENT_CACHE_MS = 1000;

/** What the provider sees of a client: RFC 7591 metadata plus Ostiary's own properties. */
export function createClientStore(db: Database) {
  const cache = createTtlCache<Record<string, unknown> | undefined>(CLIENT_CACHE_MS);
  return {
    forget: (clientId: string) => cache.forget(clientId),
    async providerMetadata(clientId: string): Promise<Record<string, unknown> | undefined> {
      if (unstorable(clientId)) return undefined;
      return cache.get(clientId, () => readMetadata(db, clientId));
    },
  };
}

async function readMetadata(db: Database, clientId: string): Promise<Record<string, unknown> | undefined> {
  const row = await db.client.findUnique({ where: { id: clientId } });
  if (!row) return undefined;
  const scopes = row.scope.split(' ').filter(Boolean);
  const grantTypes = strings(row.grantTypes);
  return {
    client_id: row.id,
    client_name: row.name,
    // The SHA-256 of the secret; the provider's comparison is replaced to hash what it is given.
    ...(row.secretHash ? { client_secret: row.secretHash } : {}),
    token_endpoint_auth_method: row.tokenEndpointAuthMethod,
    grant_types: grantTypes,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    redirect_uris: strings(row.redirectUris),
    post_logout_redirect_uris: strings(row.postLogoutRedirectUris),
    scope: scopes.filter(isOidcScope).join(' ') || 'openid',
    api_scopes: scopes.filter((s) => !isOidcScope(s)).join(' '),
    first_party: row.firstParty,
    introspection_audiences: strings(row.introspectionAudiences),
    access_token_ttl: row.accessTokenTtl,
    id_token_ttl: row.idTokenTtl,
    refresh_token_ttl: row.refreshTokenTtl,
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;

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
  roles: c.roles,
  introspection_audiences: c.introspectionAudiences,
  access_token_ttl: c.accessTokenTtl,
  id_token_ttl: c.idTokenTtl,
  refresh_token_ttl: c.refreshTokenTtl,
  created_at: c.createdAt,
});
