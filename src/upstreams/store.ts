import type { Actor, Audit } from '../audit/index.ts';
import { changedFields } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import type { Roles } from '../roles/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { generateKeyMaterial } from '../keys/index.ts';
import type { JWK } from 'jose';
import { OIDC_MAPPING, PRESET_NAMES, PRESETS, type ClaimMapping, type PresetName } from './presets.ts';

export const KINDS = ['oidc', 'oauth2'] as const;
/** How Ostiary authenticates at an upstream's token endpoint: a shared secret, or assertions signed with a key of its own (RFC 7523). */
export const CLIENT_AUTH = ['client_secret', 'private_key_jwt'] as const;
export type ClientAuth = (typeof CLIENT_AUTH)[number];
export type UpstreamKind = (typeof KINDS)[number];

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const MAX_NAME = 60;
const MAX_MEMBER = 64;
const MEMBER = /^[A-Za-z0-9_.:-]{1,64}$/;
const SCOPE_VALUE = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/;

/** What an operator gives to create an upstream (CLI, admin API). */
export interface UpstreamInput {
  slug: string;
  name: string;
  kind?: UpstreamKind;
  preset?: PresetName;
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  emailsUrl?: string;
  clientId: string;
  /** Required for client_secret; with private_key_jwt, Ostiary makes a key pair and publishes its public half. */
  clientSecret?: string;
  clientAuth?: ClientAuth;
  scope?: string;
  mapping?: Partial<ClaimMapping>;
  jit?: boolean;
  defaultRoles?: readonly string[];
  enabled?: boolean;
}

export type UpstreamPatch = Partial<Omit<UpstreamInput, 'slug' | 'preset' | 'clientAuth'>>;

export interface UpstreamView {
  slug: string;
  name: string;
  kind: UpstreamKind;
  preset: PresetName | null;
  issuer: string | null;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  userinfoUrl: string | null;
  emailsUrl: string | null;
  clientId: string;
  clientAuth: ClientAuth;
  /** private_key_jwt: the public key to register at the upstream (also served at `jwksUri`). */
  publicJwks: { keys: JWK[] } | null;
  jwksUri: string | null;
  scope: string;
  mapping: ClaimMapping;
  jit: boolean;
  defaultRoles: string[];
  enabled: boolean;
  /** The redirect URI to register at the upstream. */
  redirectUri: string;
  createdAt: Date;
  updatedAt: Date;
}

/** An upstream as the sign-in uses it: the view and its client secret. */
export interface UpstreamRuntime extends UpstreamView {
  clientSecret?: string;
  privateJwk?: JWK;
}

type Row = Awaited<ReturnType<Database['upstream']['findUniqueOrThrow']>>;

const sealContext = (slug: string) => `upstream:${slug}`;

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

function mappingOf(value: unknown): ClaimMapping {
  const stored = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  return { subject: strings(stored.subject), email: strings(stored.email), emailVerified: strings(stored.emailVerified), name: strings(stored.name) };
}

const isPreset = (value: unknown): value is PresetName => PRESET_NAMES.includes(value as PresetName);

/**
 * Upstream URLs: https; plain http only to a loopback host outside production (a provider on the
 * same machine in development and tests). No credentials, no fragment.
 */
export function checkUrl(value: string | undefined, field: string, production: boolean): string | undefined {
  if (value === undefined) return undefined;
  const url = URL.parse(value);
  const loopback = url !== null && /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(url.hostname);
  const allowed = url !== null && (url.protocol === 'https:' || (url.protocol === 'http:' && loopback && !production));
  if (!allowed || url.username || url.password || url.hash || value.length > 2000) {
    throw fail('upstream.url_invalid', `${field} must be an https URL without credentials or a fragment${production ? '' : ' (http only to localhost)'}`, { field });
  }
  // As given: an issuer is compared with discovery's exactly, trailing slash and all.
  return value;
}

function checkMapping(mapping: Partial<ClaimMapping> | undefined, base: ClaimMapping): ClaimMapping {
  const merged = { ...base, ...(mapping ?? {}) };
  for (const [field, members] of Object.entries(merged)) {
    if (!Array.isArray(members) || members.length > 5 || members.some((m) => typeof m !== 'string' || m.length > MAX_MEMBER || !MEMBER.test(m))) {
      throw fail('upstream.mapping_invalid', `the mapping of ${field} must be up to five member names (letters, digits, _ . : -)`, { field: 'mapping' });
    }
  }
  if (merged.subject.length === 0) throw fail('upstream.mapping_invalid', 'the mapping needs a member for the subject', { field: 'mapping' });
  return { subject: [...merged.subject], email: [...merged.email], emailVerified: [...merged.emailVerified], name: [...merged.name] };
}

function checkScope(scope: string): string {
  const values = scope.split(' ').filter(Boolean);
  if (values.length === 0 || values.length > 30 || values.some((v) => !SCOPE_VALUE.test(v))) throw fail('upstream.scope_invalid', 'the scope must be space-separated scope values', { field: 'scope' });
  return values.join(' ');
}

function checkName(name: unknown): string {
  const trimmed = typeof name === 'string' ? name.trim() : '';
  if (!trimmed || [...trimmed].length > MAX_NAME || /[\p{Cc}\p{Cf}<>]/u.test(trimmed)) {
    throw fail('upstream.name_invalid', `an upstream needs a display name of at most ${MAX_NAME} characters, without control characters, < or >`, { field: 'name' });
  }
  return trimmed;
}

function checkClientId(clientId: unknown): string {
  if (typeof clientId !== 'string' || !clientId || clientId.length > 500 || /\s/.test(clientId)) throw fail('upstream.client_invalid', 'the client id must be a non-empty value without spaces', { field: 'clientId' });
  return clientId;
}

function checkSecret(clientSecret: unknown): string {
  if (typeof clientSecret !== 'string' || !clientSecret || clientSecret.length > 4000) throw fail('upstream.client_invalid', 'the client secret must be given (at most 4000 characters)', { field: 'clientSecret' });
  return clientSecret;
}

/** The endpoints a kind needs: an issuer for `oidc`; authorization, token and userinfo URLs for `oauth2`. */
function checkEndpoints(kind: UpstreamKind, urls: { issuer?: string | null; authorizationUrl?: string | null; tokenUrl?: string | null; userinfoUrl?: string | null }) {
  if (kind === 'oidc' && !urls.issuer) throw fail('upstream.endpoints_missing', 'an oidc upstream needs its issuer URL', { field: 'issuer' });
  if (kind === 'oauth2' && !(urls.authorizationUrl && urls.tokenUrl && urls.userinfoUrl)) {
    throw fail('upstream.endpoints_missing', 'an oauth2 upstream needs its authorization, token and userinfo URLs', { field: 'authorizationUrl' });
  }
}

/**
 * The upstream identity providers (table Upstream): what operators configure, with the client
 * secret sealed under the key-encryption keys and never given back.
 */
export function createUpstreamStore({ db, secrets, audit, roles, issuer, production }: { db: Database; secrets: Secrets; audit: Audit; roles: Roles; issuer: string; production: boolean }) {
  const redirectUri = (slug: string) => `${issuer}/upstreams/${slug}/callback`;
  const jwksUri = (slug: string) => `${issuer}/upstreams/${slug}/jwks.json`;
  const keyContext = (slug: string) => `upstream-key:${slug}`;

  /** The public half of the upstream's client key, as a JWKS. */
  function publicJwks(row: Row): { keys: JWK[] } | null {
    if (!row.privateKeySealed) return null;
    const { kty, n, e, kid, alg, use } = JSON.parse(secrets.open(row.privateKeySealed, keyContext(row.id))) as JWK;
    return { keys: [{ kty, n, e, kid, alg, use }] };
  }

  const view = (row: Row): UpstreamView => ({
    slug: row.id,
    name: row.name,
    kind: row.kind as UpstreamKind,
    preset: isPreset(row.preset) ? row.preset : null,
    issuer: row.issuer,
    authorizationUrl: row.authorizationUrl,
    tokenUrl: row.tokenUrl,
    userinfoUrl: row.userinfoUrl,
    emailsUrl: row.emailsUrl,
    clientId: row.clientId,
    clientAuth: row.clientAuth === 'private_key_jwt' ? 'private_key_jwt' : 'client_secret',
    publicJwks: publicJwks(row),
    jwksUri: row.privateKeySealed ? jwksUri(row.id) : null,
    scope: row.scope,
    mapping: mappingOf(row.claimMapping),
    jit: row.jit,
    defaultRoles: strings(row.defaultRoles),
    enabled: row.enabled,
    redirectUri: redirectUri(row.id),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });

  async function row(slug: string): Promise<Row> {
    const found = typeof slug === 'string' && SLUG.test(slug) ? await db.upstream.findUnique({ where: { id: slug } }) : null;
    if (!found) throw fail('upstream.not_found', `no upstream ${slug}`);
    return found;
  }

  async function checkRoles(names: readonly string[] | undefined): Promise<string[] | undefined> {
    if (names === undefined) return undefined;
    const unique = [...new Set(names)];
    await roles.idsOf(unique);
    return unique;
  }

  const urls = (input: UpstreamPatch) => ({
    issuer: checkUrl(input.issuer, 'issuer', production),
    authorizationUrl: checkUrl(input.authorizationUrl, 'authorizationUrl', production),
    tokenUrl: checkUrl(input.tokenUrl, 'tokenUrl', production),
    userinfoUrl: checkUrl(input.userinfoUrl, 'userinfoUrl', production),
    emailsUrl: checkUrl(input.emailsUrl, 'emailsUrl', production),
  });

  return {
    redirectUri,

    async create(input: UpstreamInput, actor: Actor): Promise<UpstreamView> {
      if (typeof input.slug !== 'string' || !SLUG.test(input.slug)) throw fail('upstream.slug_invalid', 'a slug is 1 to 40 lowercase letters, digits and inner hyphens', { field: 'slug' });
      if (input.preset !== undefined && !isPreset(input.preset)) throw fail('upstream.preset_unknown', `no preset ${String(input.preset)} (${PRESET_NAMES.join(', ')})`, { field: 'preset' });
      const preset = input.preset ? PRESETS[input.preset] : undefined;
      const kind = input.kind ?? preset?.kind ?? 'oidc';
      if (!KINDS.includes(kind)) throw fail('upstream.kind_invalid', 'the kind is oidc or oauth2', { field: 'kind' });
      if (preset && preset.kind !== kind) throw fail('upstream.kind_invalid', `the ${input.preset} preset is of kind ${preset.kind}`, { field: 'kind' });
      const endpoints = urls({
        issuer: input.issuer ?? preset?.issuer,
        authorizationUrl: input.authorizationUrl ?? preset?.authorizationUrl,
        tokenUrl: input.tokenUrl ?? preset?.tokenUrl,
        userinfoUrl: input.userinfoUrl ?? preset?.userinfoUrl,
        emailsUrl: input.emailsUrl ?? preset?.emailsUrl,
      });
      checkEndpoints(kind, endpoints);
      const clientAuth = input.clientAuth ?? 'client_secret';
      if (!CLIENT_AUTH.includes(clientAuth)) throw fail('upstream.client_invalid', 'the client authentication is client_secret or private_key_jwt', { field: 'clientAuth' });
      if (clientAuth === 'private_key_jwt' && kind !== 'oidc') throw fail('upstream.client_invalid', 'private_key_jwt is for oidc upstreams', { field: 'clientAuth' });
      const credential =
        clientAuth === 'client_secret'
          ? { clientSecretSealed: secrets.seal(checkSecret(input.clientSecret), sealContext(input.slug)) }
          : { privateKeySealed: secrets.seal(JSON.stringify((await generateKeyMaterial()).privateJwk), keyContext(input.slug)) };
      const defaultMapping = preset?.mapping ?? (kind === 'oidc' ? OIDC_MAPPING : { subject: ['id'], email: ['email'], emailVerified: [], name: ['name'] });
      const data = {
        id: input.slug,
        name: checkName(input.name),
        kind,
        preset: input.preset ?? null,
        ...endpoints,
        clientId: checkClientId(input.clientId),
        clientAuth,
        ...credential,
        scope: checkScope(input.scope ?? preset?.scope ?? (kind === 'oidc' ? 'openid email profile' : 'email')),
        claimMapping: { ...checkMapping(input.mapping, defaultMapping) },
        jit: input.jit ?? false,
        defaultRoles: (await checkRoles(input.defaultRoles)) ?? [],
        enabled: input.enabled ?? true,
      };
      try {
        const created = await db.$transaction(async (tx) => {
          const saved = await tx.upstream.create({ data });
          await audit.change(actor, { type: 'upstream.created', details: { upstream: saved.id, kind } }, tx);
          return saved;
        });
        return view(created);
      } catch (error) {
        if (isUniqueViolation(error)) throw fail('upstream.slug_taken', `another upstream has the slug ${input.slug}`, { field: 'slug' });
        throw error;
      }
    },

    async update(slug: string, patch: UpstreamPatch, actor: Actor): Promise<UpstreamView> {
      const current = view(await row(slug));
      const kind = patch.kind ?? current.kind;
      if (!KINDS.includes(kind)) throw fail('upstream.kind_invalid', 'the kind is oidc or oauth2', { field: 'kind' });
      if (kind !== 'oidc' && current.clientAuth === 'private_key_jwt') throw fail('upstream.kind_invalid', 'private_key_jwt is for oidc upstreams', { field: 'kind' });
      const endpoints = Object.fromEntries(Object.entries(urls(patch)).filter(([, v]) => v !== undefined));
      // The people linked are known by their subject at this provider: another provider's subjects would be taken for theirs.
      const moved = (patch.kind !== undefined && patch.kind !== current.kind) || Object.entries(endpoints).some(([field, value]) => current[field as keyof UpstreamView] !== value);
      if (moved && (await db.upstreamIdentity.count({ where: { upstreamId: slug } })) > 0) {
        throw fail('upstream.in_use', 'people are linked through this upstream: its kind, issuer and endpoints stay (create another upstream for another provider)', { field: 'issuer' });
      }
      checkEndpoints(kind, { ...current, ...endpoints });
      if (patch.clientId !== undefined) checkClientId(patch.clientId);
      if (patch.clientSecret !== undefined) {
        checkSecret(patch.clientSecret);
        if (current.clientAuth !== 'client_secret') throw fail('upstream.client_invalid', 'this upstream authenticates with private_key_jwt, not a secret', { field: 'clientSecret' });
      }
      const data = {
        ...(patch.name !== undefined ? { name: checkName(patch.name) } : {}),
        ...(patch.kind !== undefined ? { kind } : {}),
        ...endpoints,
        ...(patch.clientId !== undefined ? { clientId: patch.clientId } : {}),
        ...(patch.clientSecret !== undefined ? { clientSecretSealed: secrets.seal(patch.clientSecret, sealContext(slug)) } : {}),
        ...(patch.scope !== undefined ? { scope: checkScope(patch.scope) } : {}),
        ...(patch.mapping !== undefined ? { claimMapping: { ...checkMapping(patch.mapping, current.mapping) } } : {}),
        ...(patch.jit !== undefined ? { jit: patch.jit } : {}),
        ...(patch.defaultRoles !== undefined ? { defaultRoles: await checkRoles(patch.defaultRoles) } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      };
      const updated = await db.$transaction(async (tx) => {
        const saved = await tx.upstream.update({ where: { id: slug }, data });
        // The secret's value is never in the trail; only that it changed.
        await audit.change(actor, { type: 'upstream.updated', details: { upstream: slug, fields: changedFields(patch, { clientSecret: 'client_secret', clientId: 'client_id', defaultRoles: 'default_roles' }) } }, tx);
        return saved;
      });
      return view(updated);
    },

    async delete(slug: string, actor: Actor): Promise<{ unlinked: number }> {
      await row(slug);
      return db.$transaction(async (tx) => {
        const { count } = await tx.upstreamIdentity.deleteMany({ where: { upstreamId: slug } });
        await tx.upstream.delete({ where: { id: slug } });
        await audit.change(actor, { type: 'upstream.deleted', details: { upstream: slug, unlinked: count } }, tx);
        return { unlinked: count };
      });
    },

    show: async (slug: string): Promise<UpstreamView> => view(await row(slug)),

    list: async (): Promise<UpstreamView[]> => (await db.upstream.findMany({ orderBy: { id: 'asc' } })).map(view),

    /** The upstreams the login page offers, by name. */
    enabled: async (): Promise<{ slug: string; name: string }[]> =>
      (await db.upstream.findMany({ where: { enabled: true }, select: { id: true, name: true }, orderBy: { name: 'asc' } })).map((u) => ({ slug: u.id, name: u.name })),

    /** Seals every client secret under the first key-encryption key; returns how many changed. */
    async rewrap(): Promise<number> {
      let count = 0;
      for (const found of await db.upstream.findMany({ select: { id: true, clientSecretSealed: true, privateKeySealed: true } })) {
        for (const [column, context] of [['clientSecretSealed', sealContext(found.id)], ['privateKeySealed', keyContext(found.id)]] as const) {
          const sealed = found[column];
          if (!sealed || secrets.isCurrent(sealed)) continue;
          const resealed = secrets.seal(secrets.open(sealed, context), context);
          // Conditional on the value read: one another instance rewrapped meanwhile is left alone.
          count += (await db.upstream.updateMany({ where: { id: found.id, [column]: sealed }, data: { [column]: resealed } })).count;
        }
      }
      return count;
    },

    /** An enabled upstream with its secret, for a sign-in through it; undefined when there is none. */
    async runtime(slug: string): Promise<UpstreamRuntime | undefined> {
      const found = typeof slug === 'string' && SLUG.test(slug) ? await db.upstream.findUnique({ where: { id: slug } }) : null;
      if (!found?.enabled) return undefined;
      return {
        ...view(found),
        ...(found.clientSecretSealed ? { clientSecret: secrets.open(found.clientSecretSealed, sealContext(found.id)) } : {}),
        ...(found.privateKeySealed ? { privateJwk: JSON.parse(secrets.open(found.privateKeySealed, keyContext(found.id))) as JWK } : {}),
      };
    },

    /** The public keys of an upstream's client assertions (served at its jwks_uri); undefined when it has none. */
    async jwksOf(slug: string): Promise<{ keys: JWK[] } | undefined> {
      const found = typeof slug === 'string' && SLUG.test(slug) ? await db.upstream.findUnique({ where: { id: slug } }) : null;
      return (found && publicJwks(found)) ?? undefined;
    },
  };
}

export type UpstreamStore = ReturnType<typeof createUpstreamStore>;
