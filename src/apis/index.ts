import { randomUUID } from 'node:crypto';
import { unstorable, type Database } from '../db/index.ts';
import { pageOf, pageQuery, type Page, type PageRequest } from '../db/paging.ts';
import { createTtlCache } from '../db/ttl-cache.ts';
import { conflict, invalidInput, isUniqueViolation, notFound } from '../errors.ts';
import { isOidcScope, SCOPE_TOKEN, splitScopes } from '../oidc/scopes.ts';

export interface ApiView {
  id: string;
  name: string;
  audience: string;
  scopes: string[];
  createdAt: Date;
}

const withScopes = { scopes: { select: { value: true }, orderBy: { value: 'asc' as const } } };

function view(row: { id: string; name: string; audience: string; createdAt: Date; scopes: { value: string }[] }): ApiView {
  return { id: row.id, name: row.name, audience: row.audience, scopes: row.scopes.map((s) => s.value), createdAt: row.createdAt };
}

/** An API audience is an absolute http(s) URI without a fragment (RFC 8707 section 2). */
function checkAudience(audience: string): string {
  let url: URL;
  try {
    url = new URL(audience);
  } catch {
    throw invalidInput(`audience must be an absolute URI: ${audience}`);
  }
  if (!['https:', 'http:'].includes(url.protocol) || url.hash) {
    throw invalidInput(`audience must be an http(s) URI without a fragment: ${audience}`);
  }
  return audience;
}

function checkScopes(values: readonly string[]): string[] {
  const scopes = splitScopes(values);
  for (const scope of scopes) {
    if (!SCOPE_TOKEN.test(scope)) throw invalidInput(`invalid scope value: ${JSON.stringify(scope)}`);
    if (isOidcScope(scope)) throw invalidInput(`${scope} is an OpenID Connect scope and cannot belong to an API`);
  }
  return scopes;
}

export function createApis(db: Database) {
  // APIs are read on every token request for them; another process sees a change within a second.
  const byAudience = createTtlCache<ApiView | null>(1000);
  return {
    async create(input: { name: string; audience: string; scopes: readonly string[] }): Promise<ApiView> {
      if (!input.name.trim()) throw invalidInput('name is required');
      const audience = checkAudience(input.audience);
      const scopes = checkScopes(input.scopes);
      try {
        const row = await db.api.create({
          data: {
            id: randomUUID(),
            name: input.name.trim(),
            audience,
            scopes: { create: scopes.map((value) => ({ id: randomUUID(), value })) },
          },
          include: withScopes,
        });
        byAudience.forget(audience);
        return view(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(`an API with audience ${audience} already exists`);
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
    async delete(idOrAudience: string): Promise<void> {
      const { count } = await db.api.deleteMany({ where: { OR: [{ id: idOrAudience }, { audience: idOrAudience }] } });
      if (count === 0) throw notFound(`no API ${idOrAudience}`);
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

/** The snake_case JSON form shared by the CLI and the admin API. */
export const apiJson = (api: ApiView) => ({ id: api.id, name: api.name, audience: api.audience, scopes: api.scopes, created_at: api.createdAt });
