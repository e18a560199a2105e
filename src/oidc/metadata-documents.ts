import type { KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { isMetadataDocumentUrl, type MetadataDocuments } from '../clients/index.ts';
import type { CimdConfig } from '../config/index.ts';
import { OutboundError, type GuardedFetch, type OutboundInit } from '../outbound/index.ts';

/** Bounds on how long a document is used before it is fetched again, whatever its headers say. */
export const DOCUMENT_CACHE_SECONDS = { min: 60, max: 3600 } as const;
/** A metadata document is a few hundred bytes; the draft asks servers to cap it (5 KB is its example). */
const MAX_DOCUMENT_BYTES = 5 * 1024;
const FETCH_TIMEOUT_MS = 3000;
/** Fetches of documents from one host, per window, by this process. */
const FETCHES_PER_HOST = 20;
const FETCH_WINDOW_MS = 60_000;
/** How long an allowed fetch or an unconfirmed document waits for the provider to go on. */
const PENDING_MS = 30_000;

/** The grants a client known only by its document may use: a person signs in, and the sign-in is refreshed. */
const PERSON_GRANTS: ReadonlySet<string> = new Set(['authorization_code', 'refresh_token']);

/** The provider errors that may be a document refused for its content (fetch failures are audited where they happen). */
const ERROR_EVENTS = ['authorization.error', 'grant.error', 'device_authorization.error', 'introspection.error', 'revocation.error', 'pushed_authorization_request.error'] as const;

interface Deps {
  config: CimdConfig;
  documents: MetadataDocuments;
  /** The guarded fetch for documents (loopback only with CIMD_ALLOW_LOOPBACK). */
  fetchDocument: GuardedFetch;
}

/** How long a response may be used (max-age, else Expires), within DOCUMENT_CACHE_SECONDS. */
export function cacheSeconds(headers: Headers, now = Date.now()): number {
  const { min, max } = DOCUMENT_CACHE_SECONDS;
  const control = headers.get('cache-control') ?? '';
  let seconds: number | undefined;
  if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(control)) seconds = min;
  const maxAge = /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(control)?.[1];
  if (seconds === undefined && maxAge !== undefined) seconds = Number(maxAge);
  const expires = Date.parse(headers.get('expires') ?? '');
  if (seconds === undefined && !Number.isNaN(expires)) seconds = Math.floor((expires - now) / 1000);
  return Math.max(min, Math.min(max, seconds ?? min));
}

/** A fixed-window count of fetches per host, in this process. */
function hostLimiter() {
  const windows = new Map<string, { start: number; count: number }>();
  return (host: string): boolean => {
    const now = Date.now();
    const current = windows.get(host);
    if (!current || now - current.start >= FETCH_WINDOW_MS) {
      if (windows.size > 10_000) windows.clear();
      windows.set(host, { start: now, count: 1 });
      return true;
    }
    current.count += 1;
    return current.count <= FETCHES_PER_HOST;
  };
}

/** Entries that expire PENDING_MS after they were put. */
function pendingMap<V>() {
  const entries = new Map<string, { value: V; at: number }>();
  return {
    put(key: string, value: V) {
      const now = Date.now();
      for (const [k, entry] of entries) if (now - entry.at > PENDING_MS) entries.delete(k);
      entries.set(key, { value, at: now });
    },
    take(key: string): V | undefined {
      const entry = entries.get(key);
      entries.delete(key);
      return entry && Date.now() - entry.at <= PENDING_MS ? entry.value : undefined;
    },
  };
}

const ipOf = (ctx: KoaContextWithOIDC | undefined) => ctx?.ip ?? null;

/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02, the
 * draft oidc-provider 9.13 implements): the provider fetches and validates the document; Ostiary
 * decides which URLs are fetched (CIMD, CIMD_ALLOWED_HOSTS, blocked URLs), fetches them through
 * the guarded fetch with tight limits and a per-host rate, shares the last valid document with
 * every instance through the database, and audits every refusal.
 *
 * The provider makes all its requests through one `fetch`: a document fetch is recognised by
 * its URL having just been allowed by `allowFetch`, which the provider calls right before it.
 */
export function clientIdMetadataDocuments({ config, documents, fetchDocument }: Deps) {
  const allowed = pendingMap<true>();
  const unconfirmed = pendingMap<{ body: string; maxAge: number }>();
  const withinRate = hostLimiter();

  async function refuse(url: string, reason: string, ctx?: KoaContextWithOIDC): Promise<false> {
    await documents.refused(url, reason, { ip: ipOf(ctx) });
    return false;
  }

  const feature = {
    enabled: config.mode !== 'off',
    cacheDuration: { ...DOCUMENT_CACHE_SECONDS },
    async allowFetch(ctx: KoaContextWithOIDC, url: string): Promise<boolean> {
      if (!isMetadataDocumentUrl(url)) return refuse(url.slice(0, 2048), 'url_not_accepted', ctx);
      const host = new URL(url).hostname.toLowerCase();
      if (config.mode === 'allowlist' && !config.allowedHosts.includes(host)) return refuse(url, 'host_not_allowed', ctx);
      if (await documents.isBlocked(url)) return refuse(url, 'blocked', ctx);
      allowed.put(url, true);
      return true;
    },
    async allowClient(ctx: KoaContextWithOIDC, client: { clientId: string; clientName?: string; grantTypes?: readonly string[] }): Promise<boolean> {
      const fetched = unconfirmed.take(client.clientId);
      // A person signs in through such a client; nobody vouched for it to act on its own (client credentials, assertions, exchanges).
      const refused = (client.grantTypes ?? []).find((grant) => !PERSON_GRANTS.has(grant));
      if (refused) return refuse(client.clientId, `grant_type ${refused.slice(0, 100)} is not for a client known by its document`, ctx);
      if (await documents.isBlocked(client.clientId)) return refuse(client.clientId, 'blocked', ctx);
      if (fetched) await documents.accepted(client.clientId, fetched.body, client.clientName, fetched.maxAge);
      return true;
    },
  };

  /** The document from the shared cache while it is fresh, else from its host. */
  async function fetchAllowed(url: string, init: OutboundInit): Promise<Response> {
    const cached = await documents.fresh(url);
    if (cached) return new Response(cached.document, { status: 200, headers: { 'content-type': 'application/json', 'cache-control': `max-age=${cached.maxAge}` } });
    if (!withinRate(new URL(url).hostname.toLowerCase())) {
      await documents.refused(url, 'rate_limited');
      throw new OutboundError('network', 'too many document fetches from this host');
    }
    let response: Response;
    try {
      response = await fetchDocument(url, { ...init, maxBytes: MAX_DOCUMENT_BYTES, timeoutMs: FETCH_TIMEOUT_MS });
    } catch (error) {
      await documents.refused(url, error instanceof OutboundError ? error.reason : 'network');
      throw error;
    }
    if (response.status !== 200) {
      await documents.refused(url, `status_${response.status}`);
      return response;
    }
    const body = await response.text();
    unconfirmed.put(url, { body, maxAge: cacheSeconds(response.headers) });
    return new Response(body, { status: 200, headers: response.headers });
  }

  return {
    feature,
    /** The provider's one fetch: documents it was just allowed to fetch go the document way. */
    fetch(providerFetch: GuardedFetch): GuardedFetch {
      return (input, init = {}) => (allowed.take(String(input)) ? fetchAllowed(String(input), init) : providerFetch(input, init));
    },
    /** A document the provider refused for what it says (client_id, auth method, a property) is audited, never kept. */
    auditRefusals(provider: Provider): void {
      const events = provider as unknown as { on(event: string, listener: (ctx: KoaContextWithOIDC, error: { error?: string; error_description?: string }) => void): void };
      for (const event of ERROR_EVENTS) {
        events.on(event, (ctx, error) => {
          const clientId = (ctx.oidc?.params as { client_id?: unknown } | undefined)?.client_id;
          if (typeof clientId !== 'string') return;
          // A document fetched but not taken as a client: refused for what it says, or not JSON at all.
          const fetched = unconfirmed.take(clientId);
          if (error.error === 'invalid_client_metadata') void documents.refused(clientId, error.error_description ?? 'invalid_client_metadata', { ip: ctx.ip }).catch(() => {});
          else if (fetched && error.error === 'invalid_client') void documents.refused(clientId, 'not_a_json_object', { ip: ctx.ip }).catch(() => {});
        });
      }
    },
  };
}
