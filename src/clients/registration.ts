import { fail } from '../errors.ts';

/**
 * The policy for clients that register themselves (RFC 7591), after the provider has checked
 * the metadata's syntax: what they may ask for, and the row fields they get.
 */

/** Metadata a registered client may send. The informational ones are accepted but not kept. */
const KEPT = new Set(['client_id', 'client_secret', 'client_name', 'redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'response_types', 'token_endpoint_auth_method', 'application_type', 'scope']);
const INFORMATIONAL = new Set(['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'contacts', 'software_id', 'software_version', 'client_id_issued_at', 'client_secret_expires_at']);

/**
 * A person signs in through a registered client, so it gets the sign-in grants only: anyone can
 * register, and client_credentials, token exchange or the device flow would let a stranger mint
 * machine tokens or phish codes under Ostiary's name.
 */
export const REGISTERED_GRANT_TYPES = ['authorization_code', 'refresh_token'] as const;

export const REGISTERED_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
/** A private-use scheme is a reversed domain name (RFC 8252 section 7.1): `com.example.app`. */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+:$/;

export interface RegisteredMetadata {
  client_id: string;
  client_name?: string;
  client_secret?: string;
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  grant_types?: string[];
  token_endpoint_auth_method?: string;
  application_type?: string;
  scope?: string;
  api_scopes?: string;
}

const refuse = (message: string, field: string) => fail('client.registration_refused', message, { field });

/** Anything a client asks for that Ostiary would not keep is refused, not silently dropped. */
export function checkAskedMetadata(asked: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(asked)) {
    if (value === undefined || value === null || KEPT.has(key) || INFORMATIONAL.has(key)) continue;
    throw refuse(`${key} is not supported for registered clients`, key);
  }
}

/**
 * Redirect URIs by application type (OpenID Connect Registration, RFC 8252): a web client uses
 * https on a host other than this machine; a native one a loopback http URI (any port), a
 * private-use scheme or a claimed https URI. Never a fragment.
 */
export function checkRegisteredRedirectUris(uris: readonly string[], applicationType: string, field: string): string[] {
  for (const uri of uris) {
    const url = URL.parse(uri);
    if (!url || uri.includes('#')) throw refuse(`${field} must be absolute URIs without a fragment: ${uri}`, field);
    const loopback = LOOPBACK_HOSTS.has(url.hostname);
    const allowed = applicationType === 'native'
      ? (url.protocol === 'http:' && loopback) || (url.protocol === 'https:' && !loopback) || PRIVATE_USE_SCHEME.test(url.protocol)
      : url.protocol === 'https:' && !loopback;
    if (!allowed) {
      const rule = applicationType === 'native' ? 'loopback http, a reverse-domain private-use scheme or https' : 'https on a public host (native applications use application_type native)';
      throw refuse(`${field} of a ${applicationType} application must be ${rule}: ${uri}`, field);
    }
  }
  return [...new Set(uris)];
}

export function checkRegisteredGrants(grants: readonly string[]): string[] {
  const refused = grants.find((grant) => !(REGISTERED_GRANT_TYPES as readonly string[]).includes(grant));
  if (refused !== undefined) throw refuse(`a registered client may use only ${REGISTERED_GRANT_TYPES.join(' and ')}, not ${refused}`, 'grant_types');
  if (!grants.includes('authorization_code')) throw refuse('a registered client needs the authorization_code grant', 'grant_types');
  return [...new Set(grants)];
}

export function checkRegisteredAuthMethod(method: string | undefined): string {
  const chosen = method ?? 'client_secret_basic';
  if (!(REGISTERED_AUTH_METHODS as readonly string[]).includes(chosen)) {
    throw refuse(`token_endpoint_auth_method must be one of ${REGISTERED_AUTH_METHODS.join(', ')}`, 'token_endpoint_auth_method');
  }
  return chosen;
}

export function registeredName(name: string | undefined, clientId: string): string {
  const trimmed = name?.trim();
  if (!trimmed) return clientId;
  if (trimmed.length > 200 || /\p{Cc}/u.test(trimmed)) throw refuse('client_name must be at most 200 characters, without control characters', 'client_name');
  return trimmed;
}

/** The scope values asked for: the provider keeps OpenID Connect ones in `scope`, API ones in `api_scopes`. */
export const askedScopes = (metadata: RegisteredMetadata) => `${metadata.scope ?? ''} ${metadata.api_scopes ?? ''}`.split(' ').filter(Boolean);
