/**
 * The client-metadata contract: Ostiary's own properties beside RFC 7591's, as the provider
 * holds them for every client. The store writes them; the provider's configuration accepts them
 * with these checks; token, introspection and page code read them only through the readers here.
 */
type Metadata = { readonly [key: string]: unknown } | undefined;

/** Each extra property with the check the provider applies to it. */
export const EXTRA_METADATA = {
  first_party: (v: unknown) => typeof v === 'boolean',
  require_mfa: (v: unknown) => typeof v === 'boolean',
  upstreams: (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string'),
  password_sign_in: (v: unknown) => typeof v === 'boolean',
  api_scopes: (v: unknown) => typeof v === 'string',
  introspection_audiences: (v: unknown) => Array.isArray(v) && v.every((a) => typeof a === 'string'),
  assertion_issuer: (v: unknown) => typeof v === 'string',
  assertion_jwks_uri: (v: unknown) => typeof v === 'string',
  assertion_jwks: (v: unknown) => typeof v === 'object' && v !== null && Array.isArray((v as { keys?: unknown }).keys),
  access_token_ttl: Number.isInteger,
  id_token_ttl: Number.isInteger,
  refresh_token_ttl: Number.isInteger,
} satisfies Record<string, (value: unknown) => boolean>;

export type Lifetime = 'access_token_ttl' | 'id_token_ttl' | 'refresh_token_ttl';

/** A first-party client's users are not asked for consent. */
export const isFirstParty = (client: Metadata) => client?.first_party === true;

/** A client whose users sign in with a second factor. */
export const requiresMfa = (client: Metadata) => client?.require_mfa === true;

/** The upstream slugs the client's users may sign in through; undefined: every enabled upstream. */
export const allowedUpstreamsOf = (client: Metadata): string[] | undefined =>
  Array.isArray(client?.upstreams) ? (client.upstreams as unknown[]).filter((s): s is string => typeof s === 'string') : undefined;

/** Whether the client's users may sign in with a password (unless said otherwise, they may). */
export const allowsPasswordSignIn = (client: Metadata) => client?.password_sign_in !== false;

/** The API scopes a client may hold. */
export const apiScopesOf = (client: Metadata) => new Set(String(client?.api_scopes ?? '').split(' ').filter(Boolean));

/** The audiences of the APIs whose tokens the client may introspect (it is their resource server). */
export const introspectionAudiencesOf = (client: Metadata): string[] =>
  Array.isArray(client?.introspection_audiences) ? (client.introspection_audiences as unknown[]).filter((a): a is string => typeof a === 'string') : [];

/** Whose JWT bearer assertions (RFC 7523) the client presents: their `iss`, and where that issuer's public keys are. */
export type AssertionIssuer = { issuer: string; jwksUri?: string; jwks?: { keys: Record<string, unknown>[] } };

export function assertionIssuerOf(client: Metadata): AssertionIssuer | undefined {
  const issuer = client?.assertion_issuer;
  if (typeof issuer !== 'string') return undefined;
  const jwksUri = client?.assertion_jwks_uri;
  return typeof jwksUri === 'string' ? { issuer, jwksUri } : { issuer, jwks: client?.assertion_jwks as AssertionIssuer['jwks'] };
}

/** The client's own lifetime of that kind when it has one, else `fallback`. */
export function lifetimeOf(client: Metadata, key: Lifetime, fallback: number): number {
  const value = client?.[key];
  return typeof value === 'number' ? value : fallback;
}

/** Grant names on the wire (discovery, `grant_type`, client metadata) where they differ from ours. */
const WIRE_GRANT_TYPES: Readonly<Record<string, string>> = {
  device_code: 'urn:ietf:params:oauth:grant-type:device_code',
  token_exchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
  jwt_bearer: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
};

export const wireGrantType = (grant: string): string => WIRE_GRANT_TYPES[grant] ?? grant;
