import { randomUUID } from 'node:crypto';
import { createTtlCache, type Database, type Page, pageOf, pageQuery, type PageRequest, unstorable } from '../db/index.ts';
import type { Actor, Audit } from '../audit/index.ts';
import { isLocalHost } from '../config/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import { isAudience, isOidcScope, SCOPE_TOKEN, splitScopes } from '../scopes/index.ts';

export interface ApiView {
  id: string;
  name: string;
  audience: string;
  scopes: string[];
  /** Ostiary serves its RFC 9728 metadata, at `metadataPath`. */
  publishMetadata: boolean;
  createdAt: Date;
}

/** Where Ostiary serves an API's protected resource metadata (RFC 9728), under the issuer. */
export const metadataPath = (apiId: string) => `/.well-known/oauth-protected-resource/${apiId}`;

const withScopes = { scopes: { select: { value: true }, orderBy: { value: 'asc' as const } } };

function view(row: { id: string; name: string; audience: string; publishMetadata: boolean; createdAt: Date; scopes: { value: string }[] }): ApiView {
  return { id: row.id, name: row.name, audience: row.audience, scopes: row.scopes.map((s) => s.value), publishMetadata: row.publishMetadata, createdAt: row.createdAt };
}

/** RFC 9728 names a protected resource by an https URL (http only on this computer, for development). */
function checkPublishable(audience: string, publish: boolean): boolean {
  if (!publish) return false;
  const url = URL.parse(audience);
  const loopback = url?.protocol === 'http:' && isLocalHost(url.hostname);
  if (!url || (url.protocol !== 'https:' && !loopback) || url.search) {
    throw fail('api.metadata_needs_url', `protected resource metadata needs an https audience without a query: ${audience}`, { field: 'publishMetadata' });
  }
  return true;
}

function checkAudience(audience: string): string {
  if (!isAudience(audience)) {
    throw fail('api.audience_invalid', `audience must be an absolute URI without a fragment: ${audience}`, { field: 'audience' });
  }
  return audience;
}

function checkScopes(values: readonly string[]): string[] {
  const scopes = splitScopes(values);
  for (const scope of scopes) {
    if (!SCOPE_TOKEN.test(scope)) throw fail('api.scope_invalid', `invalid scope value: ${JSON.stringify(scope)}`, { field: 'scopes' });
    if (isOidcScope(scope)) throw fail('api.scope_reserved', `${scope} is an OpenID Connect scope and cannot belong to an API`, { field: 'scopes' });
  }
  return scopes;
}

export function createApis(db: Database, audit: Audit) {
  // APIs are read on every token request for them; another process sees a change within a second.
  const byAudience = createTtlCache<ApiView | null>(1000);
  return {
    async create(input: { name: string; audience: string; scopes: readonly string[]; publishMetadata?: boolean }, actor: Actor): Promise<ApiView> {
      if (!input.name.trim()) throw fail('api.name_required', 'name is required', { field: 'name' });
      const audience = checkAudience(input.audience);
      const scopes = checkScopes(input.scopes);
      const publishMetadata = checkPublishable(audience, input.publishMetadata ?? false);
      try {
        const row = await db.$transaction(async (tx) => {
          const created = await tx.api.create({
            data: {
              id: randomUUID(),
              name: input.name.trim(),
              audience,
              publishMetadata,
              scopes: { create: scopes.map((value) => ({ id: randomUUID(), value })) },
            },
            include: withScopes,
          });
          await audit.change(actor, { type: 'api.created', details: { id: created.id, audience, publishMetadata } }, tx);
          return created;
        });
        byAudience.forget(audience);
        return view(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw fail('api.audience_taken', `an API with audience ${audience} already exists`, { field: 'audience' });
        throw error;
      }
    },

    async page(request: PageRequest): Promise<Page<ApiView>> {
      return pageOf(await db.api.findMany({ include: withScopes, orderBy: { id: 'asc' }, ...pageQuery(request) }), request, view);
    },

    async list(): Promise<ApiView[]> {
      return (await db.api.findMany({ include: withScopes, orderBy: { createdAt: 'asc' } })).map(view);
    },

    async findByAudience(audience: string): Promise<ApiView | null> {
      if (unstorable(audience)) return null;
      return byAudience.get(audience, async () => {
        const row = await db.api.findUnique({ where: { audience }, include: withScopes });
        return row && view(row);
      });
    },

    /** Deletes by id or audience. */
    async delete(idOrAudience: string, actor: Actor): Promise<void> {
      await db.$transaction(async (tx) => {
        const { count } = await tx.api.deleteMany({ where: { OR: [{ id: idOrAudience }, { audience: idOrAudience }] } });
        if (count === 0) throw fail('api.not_found', `no API ${idOrAudience}`);
        await audit.change(actor, { type: 'api.deleted', details: { id: idOrAudience } }, tx);
      });
      byAudience.clear();
    },

    /** The API whose metadata Ostiary publishes, by id; null when there is none or it is not published. */
    async published(apiId: string): Promise<ApiView | null> {
      if (unstorable(apiId)) return null;
      const row = await db.api.findFirst({ where: { id: apiId, publishMetadata: true }, include: withScopes });
      return row && view(row);
    },

    /** Sets the name and the scopes of the API with this audience (its scopes are replaced), and whether its metadata is published (unchanged when not given). */
    async update(audience: string, input: { name: string; scopes: readonly string[]; publishMetadata?: boolean }, actor: Actor): Promise<ApiView> {
      if (!input.name.trim()) throw fail('api.name_required', 'name is required', { field: 'name' });
      const scopes = checkScopes(input.scopes);
      const publishMetadata = input.publishMetadata === undefined ? undefined : checkPublishable(audience, input.publishMetadata);
      const row = await db.$transaction(async (tx) => {
        const current = await tx.api.findUnique({ where: { audience } });
        if (!current) throw fail('api.not_found', `no API ${audience}`);
        await tx.apiScope.deleteMany({ where: { apiId: current.id, value: { notIn: scopes } } });
        const kept = new Set((await tx.apiScope.findMany({ where: { apiId: current.id }, select: { value: true } })).map((s) => s.value));
        const updated = await tx.api.update({
          where: { id: current.id },
          data: { name: input.name.trim(), publishMetadata, scopes: { create: scopes.filter((value) => !kept.has(value)).map((value) => ({ id: randomUUID(), value })) } },
          include: withScopes,
        });
        await audit.change(actor, { type: 'api.updated', details: { id: current.id, audience, scopes: scopes.join(' ') } }, tx);
        return updated;
      });
      byAudience.forget(audience);
      return view(row);
    },

    /** Forgets the APIs this process cached: for changes committed through another handle (an apply's transaction). */
    forgetCached(): void {
      byAudience.clear();
    },

    /** Every scope that some API defines. */
    async knownScopes(): Promise<Set<string>> {
      const rows = await db.apiScope.findMany({ select: { value: true }, distinct: ['value'] });
      return new Set(rows.map((r) => r.value));
    },
  };
}

export type Apis = ReturnType<typeof createApis>;

/** The snake_case JSON form shared by the CLI and the admin API; `metadata_url` where the metadata is published. */
export const apiJson = (api: ApiView, issuer: string) => ({
  id: api.id,
  name: api.name,
  audience: api.audience,
  scopes: api.scopes,
  publish_metadata: api.publishMetadata,
  metadata_url: api.publishMetadata ? `${issuer}${metadataPath(api.id)}` : null,
  created_at: api.createdAt,
});

/** RFC 9728 protected resource metadata of an API that Ostiary describes: its audience, Ostiary as its authorization server, its scopes. */
export const resourceMetadata = (api: ApiView, issuer: string) => ({
  resource: api.audience,
  authorization_servers: [issuer],
  scopes_supported: api.scopes,
  bearer_methods_supported: ['header'],
  resource_name: api.name,
});
