import type { Actor, Audit } from '../audit/index.ts';
import { createTtlCache, type Database, type Page, pageOf, pageQuery, type PageRequest } from '../db/index.ts';
import { fail } from '../errors.ts';
import type { Grants } from '../grants/index.ts';
import type { ClientStore } from './store.ts';

/** How long another instance may go on using a document an operator just blocked. */
const BLOCK_CACHE_MS = 1000;
/** The longest refusal reason kept (a library's or a server's words, never a document). */
const MAX_REASON = 300;

export interface MetadataDocumentView {
  url: string;
  clientName: string | null;
  fetchedAt: Date | null;
  expiresAt: Date | null;
  lastError: string | null;
  lastErrorAt: Date | null;
  blockedAt: Date | null;
  createdAt: Date;
}

type Row = Awaited<ReturnType<Database['clientMetadataDocument']['findUniqueOrThrow']>>;

const view = (row: Row): MetadataDocumentView => ({
  url: row.id,
  clientName: row.clientName,
  fetchedAt: row.fetchedAt,
  expiresAt: row.expiresAt,
  lastError: row.lastError,
  lastErrorAt: row.lastErrorAt,
  blockedAt: row.blockedAt,
  createdAt: row.createdAt,
});

/**
 * What a client ID metadata document URL must be to be one (draft-ietf-oauth-client-id-metadata-document-02
 * section 3): https, a path, no fragment, no credentials, no dot segments.
 */
export function isMetadataDocumentUrl(value: string): boolean {
  if (!/^https:\/\//i.test(value) || value.includes('#') || /[\s\\]/.test(value)) return false;
  const url = URL.parse(value);
  if (!url || url.username || url.password || url.pathname === '/') return false;
  // Dot segments are looked for as written: the URL parser would already have removed them.
  const rawPath = value.slice('https://'.length).replace(/^[^/?]*/, '').split('?', 1)[0]!;
  return !rawPath.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment));
}

/** A client known only by its metadata document (metadata as stored, or the provider's Client). */
// Fails closed: an operator's or a registered client's id never holds ':', so any id that does is
// treated as a document's, whether or not it is a URL this module would accept.
export const isDocumentClient = (client: { readonly [key: string]: unknown } | undefined): boolean =>
  String(client?.client_id ?? client?.clientId ?? '').includes(':');

/**
 * The shared record of client ID metadata documents (table ClientMetadataDocument): the last
 * document that validated, used by every instance until it expires, and the URLs an operator
 * blocked. Refusals are audited; a refused document is never kept as valid.
 */
export function createMetadataDocuments({ db, audit, grants, store, clock = () => new Date() }: { db: Database; audit: Audit; grants: Grants; store: ClientStore; clock?: () => Date }) {
  const blocked = createTtlCache<boolean>(BLOCK_CACHE_MS);

  function checkedUrl(url: string): string {
    if (!isMetadataDocumentUrl(url)) throw fail('client.metadata_document_url_invalid', `${JSON.stringify(url)} is not a client ID metadata document URL (https, with a path, no fragment)`, { field: 'url' });
    return url;
  }

  return {
    /** The document every instance may use now, with the seconds it stays fresh. */
    async fresh(url: string): Promise<{ document: string; maxAge: number } | undefined> {
      const row = await db.clientMetadataDocument.findUnique({ where: { id: url } });
      const now = clock().getTime();
      if (!row?.document || row.blockedAt || !row.expiresAt || row.expiresAt.getTime() <= now) return undefined;
      return { document: row.document, maxAge: Math.ceil((row.expiresAt.getTime() - now) / 1000) };
    },

    isBlocked(url: string): Promise<boolean> {
      return blocked.get(url, async () => Boolean((await db.clientMetadataDocument.findUnique({ where: { id: url }, select: { blockedAt: true } }))?.blockedAt));
    },

    /** A document fetched and accepted as a client: kept for `maxAge` seconds for every instance. */
    async accepted(url: string, document: string, clientName: string | undefined, maxAge: number): Promise<void> {
      const now = clock();
      const fields = { document, clientName: clientName?.slice(0, 200) ?? null, fetchedAt: now, expiresAt: new Date(now.getTime() + maxAge * 1000), lastError: null, lastErrorAt: null };
      await db.clientMetadataDocument.upsert({ where: { id: url }, create: { id: url, ...fields }, update: fields });
      await audit.record({ type: 'client.metadata_document_fetched', outcome: 'success', actor: 'system', clientId: url, details: { maxAge } });
    },

    /**
     * A document that could not be used (`reason`: a refused address, a redirect, a bad
     * document, ...). Audited; a URL already on record remembers why, no other row is made.
     */
    async refused(url: string, reason: string, context: { ip?: string | null } = {}): Promise<void> {
      const lastError = reason.slice(0, MAX_REASON);
      // Queued before anything is awaited: the event is on record by the time the refusal is answered.
      const recorded = audit.record({ type: 'client.metadata_document_refused', outcome: 'failure', clientId: url.slice(0, 2048), ip: context.ip ?? null, details: { reason: lastError } });
      await db.clientMetadataDocument.updateMany({ where: { id: url }, data: { lastError, lastErrorAt: clock() } });
      await recorded;
    },

    async list(): Promise<MetadataDocumentView[]> {
      return (await db.clientMetadataDocument.findMany({ orderBy: { id: 'asc' } })).map(view);
    },

    async page(request: PageRequest): Promise<Page<MetadataDocumentView>> {
      const rows = await db.clientMetadataDocument.findMany({ orderBy: { id: 'asc' }, ...pageQuery(request) });
      return pageOf(rows, request, view);
    },

    /** No instance fetches or serves the document any more; the grants made to its client end. */
    async block(url: string, actor: Actor): Promise<MetadataDocumentView> {
      const id = checkedUrl(url);
      const row = await db.$transaction(async (tx) => {
        const now = clock();
        const updated = await tx.clientMetadataDocument.upsert({ where: { id }, create: { id, blockedAt: now }, update: { blockedAt: now, document: null, expiresAt: null } });
        await audit.change(actor, { type: 'client.metadata_document_blocked', clientId: id }, tx);
        return updated;
      });
      blocked.forget(id);
      store.forget(id);
      await grants.revokeForClient(id);
      return view(row);
    },

    async unblock(url: string, actor: Actor): Promise<MetadataDocumentView> {
      const id = checkedUrl(url);
      const row = await db.$transaction(async (tx) => {
        const current = await tx.clientMetadataDocument.findUnique({ where: { id } });
        if (!current?.blockedAt) throw fail('client.metadata_document_not_blocked', `${id} is not blocked`, { field: 'url' });
        const updated = await tx.clientMetadataDocument.update({ where: { id }, data: { blockedAt: null } });
        await audit.change(actor, { type: 'client.metadata_document_unblocked', clientId: id }, tx);
        return updated;
      });
      blocked.forget(id);
      return view(row);
    },
  };
}

export type MetadataDocuments = ReturnType<typeof createMetadataDocuments>;

/** The snake_case JSON form shared by the CLI and the admin API. */
export const metadataDocumentJson = (d: MetadataDocumentView) => ({
  url: d.url,
  client_name: d.clientName,
  fetched_at: d.fetchedAt?.toISOString() ?? null,
  expires_at: d.expiresAt?.toISOString() ?? null,
  last_error: d.lastError,
  last_error_at: d.lastErrorAt?.toISOString() ?? null,
  blocked: d.blockedAt !== null,
  blocked_at: d.blockedAt?.toISOString() ?? null,
  created_at: d.createdAt.toISOString(),
});
