import { TEST_ACTOR } from '../support/actor.ts';
import type { TestServer } from '../support/server.ts';

export const ADMIN = '/admin/api/v1';

/** A JSON request to the admin API with `key` (or none). */
export async function admin(server: TestServer, key: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.issuer}${ADMIN}${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as Record<string, any> };
}

/** A new API key with these scopes, made the way the CLI makes the first one. */
export async function issueKey(server: TestServer, scopes: string[], extra: { allowedIps?: string[]; expiresAt?: Date } = {}) {
  return (await server.services.apiKeys.create({ name: `test ${scopes.join(',')}`, scopes, ...extra }, TEST_ACTOR)).apiKey;
}
