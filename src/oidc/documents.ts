import { createHash } from 'node:crypto';
import { inject } from 'light-my-request';
import type Provider from 'oidc-provider';

/** The public documents every relying party reads, as oidc-provider renders them. */
export const DOCUMENT_PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks'] as const;
export type DocumentPath = (typeof DOCUMENT_PATHS)[number];

export interface PublishedDocument {
  body: string;
  contentType: string;
  etag: string;
  cacheControl?: string;
}

/**
 * Asks the provider for each document once, as if requested at the issuer itself, so the
 * endpoints it names are always the issuer's (whatever Host a request carries) and every request
 * after that is answered from memory. A provider's documents never change: new keys mean a new
 * provider, rendered again.
 */
export async function renderDocuments(
  provider: Provider,
  callback: ReturnType<Provider['callback']>,
  issuer: string,
  jwksMaxAge: number,
): Promise<Map<DocumentPath, PublishedDocument>> {
  const { protocol, host } = new URL(issuer);
  const trustProxy = provider.proxy;
  // Not serving yet: trusting forwarded headers for these requests alone is how the issuer's
  // scheme and host reach the provider.
  provider.proxy = true;
  try {
    const documents = new Map<DocumentPath, PublishedDocument>();
    for (const path of DOCUMENT_PATHS) {
      const response = await inject(callback, { method: 'GET', url: path, headers: { 'x-forwarded-proto': protocol.slice(0, -1), 'x-forwarded-host': host } });
      if (response.statusCode !== 200) throw new Error(`the provider answered ${response.statusCode} for ${path}`);
      documents.set(path, {
        body: response.payload,
        contentType: String(response.headers['content-type']),
        etag: `"${createHash('sha256').update(response.payload).digest('base64url')}"`,
        // Relying parties may keep the keys for less than the time a new key is published before it signs.
        ...(path === '/jwks' ? { cacheControl: `public, max-age=${jwksMaxAge}` } : {}),
      });
    }
    return documents;
  } finally {
    provider.proxy = trustProxy;
  }
}
