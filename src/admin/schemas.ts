import { Type, type TSchema } from 'typebox';
import { GRANT_TYPES } from '../clients/index.ts';

// JSON schemas of the admin API, written with TypeBox: they validate requests (unknown fields
// refused), shape responses (an allow-list: nothing else is serialized), generate the OpenAPI
// document, and give the routes their body and query types through the TypeBox type provider.
const str = Type.String();
const strs = Type.Array(str);
// Dates leave as ISO strings; the routes hand over Date objects, which serialize so.
const date = Type.Unsafe<Date>({ type: 'string', format: 'date-time' });
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const seconds = Type.Integer({ minimum: 1, maximum: 31_622_400 });
const list = (maxLength: number, maxItems: number) => Type.Array(Type.String({ maxLength }), { maxItems });
const closed = { additionalProperties: false } as const;

export const page = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), next_cursor: nullable(str) });

const pageFields = {
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
};
export const pageQuery = Type.Object(pageFields, closed);

// No NUL: PostgreSQL text cannot hold it, so such an id could only fail the query.
export const idParams = Type.Object({ id: Type.String({ maxLength: 256, pattern: '^[^\\u0000]*$' }) });

export const client = Type.Object({
  client_id: str,
  client_name: str,
  client_secret: Type.Optional(str),
  grant_types: strs,
  redirect_uris: strs,
  post_logout_redirect_uris: strs,
  scope: str,
  token_endpoint_auth_method: str,
  first_party: Type.Boolean(),
  require_mfa: Type.Boolean(),
  upstreams: Type.Union([Type.Array(Type.String()), Type.Null()]),
  password_sign_in: Type.Boolean(),
  backchannel_logout_uri: nullable(str),
  assertion_issuer: nullable(str),
  assertion_jwks_uri: nullable(str),
  assertion_jwks: nullable(Type.Object({ keys: Type.Array(Type.Unknown()) })),
  roles: strs,
  introspection_audiences: strs,
  access_token_ttl: nullable(Type.Integer()),
  id_token_ttl: nullable(Type.Integer()),
  refresh_token_ttl: nullable(Type.Integer()),
  application_type: str,
  /** The client registered itself (dynamic client registration). */
  registered: Type.Boolean(),
  registered_at: nullable(date),
  created_at: date,
});

const clientFields = {
  client_name: Type.String({ minLength: 1, maxLength: 200 }),
  grant_types: Type.Array(Type.Union(GRANT_TYPES.map((grant) => Type.Literal(grant))), { maxItems: GRANT_TYPES.length }),
  redirect_uris: Type.Optional(list(2000, 50)),
  post_logout_redirect_uris: Type.Optional(list(2000, 50)),
  scope: Type.Optional(Type.String({ maxLength: 4000 })),
  first_party: Type.Optional(Type.Boolean()),
  require_mfa: Type.Optional(Type.Boolean()),
  upstreams: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 40 }), { maxItems: 50 }), Type.Null()])),
  password_sign_in: Type.Optional(Type.Boolean()),
  backchannel_logout_uri: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
  // JWT bearer grant: whose assertions the client presents (checked by the clients service).
  assertion_issuer: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
  assertion_jwks_uri: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
  assertion_jwks: Type.Optional(Type.Union([Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 20 }) }), Type.Null()])),
  roles: Type.Optional(list(64, 100)),
};

export const clientCreate = Type.Object(
  {
    ...clientFields,
    token_endpoint_auth_method: Type.Optional(Type.Union([Type.Literal('client_secret_basic'), Type.Literal('none')])),
    introspection_audiences: Type.Optional(list(2000, 50)),
    access_token_ttl: Type.Optional(seconds),
    id_token_ttl: Type.Optional(seconds),
    refresh_token_ttl: Type.Optional(seconds),
  },
  closed,
);

export const clientUpdate = Type.Partial(Type.Object(clientFields), { ...closed, minProperties: 1 });

export const user = Type.Object({ id: str, email: str, email_verified: Type.Boolean(), name: nullable(str), disabled: Type.Boolean(), roles: strs, created_at: date });

export const userQuery = Type.Object(
  { ...pageFields, email: Type.Optional(Type.String({ maxLength: 254, description: 'the whole email address, matched exactly after normalisation' })) },
  closed,
);

export const userCreate = Type.Object(
  {
    email: Type.String({ maxLength: 254 }),
    password: Type.String({ maxLength: 1024 }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    email_verified: Type.Optional(Type.Boolean()),
    roles: Type.Optional(list(64, 100)),
  },
  closed,
);

export const userUpdate = Type.Object(
  {
    name: Type.Optional(nullable(Type.String({ maxLength: 200 }))),
    email_verified: Type.Optional(Type.Boolean()),
    disabled: Type.Optional(Type.Boolean()),
    roles: Type.Optional(list(64, 100)),
  },
  { ...closed, minProperties: 1 },
);

export const password = Type.Object({ password: Type.String({ maxLength: 1024 }) }, closed);
export const mailed = Type.Object({ email: Type.String() });
const passkey = Type.Object({ id: Type.String(), name: Type.String(), synced: Type.Boolean(), created_at: Type.String({ format: 'date-time' }), last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) });
export const factors = Type.Object({ totp: Type.Boolean(), recovery_codes_left: Type.Integer(), passkeys: Type.Array(passkey) });
export const factorsRemoved = Type.Object({ removed: Type.Boolean(), totp: Type.Boolean(), passkeys: Type.Integer() });
export const invitationCreate = Type.Object({ email: Type.String({ maxLength: 320 }) }, closed);
export const invitation = Type.Object({ email: Type.String(), expires_at: Type.String({ format: 'date-time' }) });

export const revokeGrantsQuery = Type.Object({ client_id: Type.Optional(Type.String()) }, closed);
export const revoked = Type.Object({ revoked: Type.Integer() });

export const grant = Type.Object({ grant_id: str, client_id: str, client_name: nullable(str), scope: str, created_at: date, expires_at: nullable(date) });

export const grants = Type.Array(grant);

export const role = Type.Object({ id: str, name: str, permissions: strs, created_at: date });
export const roleCreate = Type.Object({ name: Type.String({ maxLength: 64 }), permissions: Type.Optional(list(200, 500)) }, closed);
export const roleMember = Type.Object(
  { user: Type.Optional(Type.String({ maxLength: 254 })), client_id: Type.Optional(Type.String({ maxLength: 256 })) },
  { ...closed, minProperties: 1, maxProperties: 1 },
);

export const api = Type.Object({ id: str, name: str, audience: str, scopes: strs, publish_metadata: Type.Boolean(), metadata_url: Type.Union([str, Type.Null()]), created_at: date });
export const apiCreate = Type.Object(
  { name: Type.String({ maxLength: 200 }), audience: Type.String({ maxLength: 2000 }), scopes: Type.Optional(list(200, 500)), publish_metadata: Type.Optional(Type.Boolean()) },
  closed,
);

export const signingKey = Type.Object({
  kid: str,
  state: str,
  alg: str,
  fingerprint: str,
  created_at: date,
  activates_at: nullable(date),
  activated_at: nullable(date),
  retires_at: nullable(date),
  retired_at: nullable(date),
  removes_at: nullable(date),
  removed_at: nullable(date),
  revoked_at: nullable(date),
});

export const signingKeys = Type.Array(signingKey);

export const apiKey = Type.Object({
  id: str,
  name: str,
  api_key: Type.Optional(str),
  scopes: strs,
  allowed_ips: strs,
  expires_at: nullable(date),
  revoked_at: nullable(date),
  created_by: str,
  last_used_at: nullable(date),
  last_used_ip: nullable(str),
  rotated_to: nullable(str),
  created_at: date,
});
export const apiKeys = Type.Array(apiKey);
export const apiKeyCreate = Type.Object(
  {
    name: Type.String({ maxLength: 200 }),
    scopes: Type.Array(str, { minItems: 1, maxItems: 20 }),
    expires_in_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 63_072_000 })),
    allowed_ips: Type.Optional(list(64, 50)),
  },
  closed,
);

export const registrationToken = Type.Object({
  id: str,
  /** Only in the answer that creates it. */
  token: Type.Optional(str),
  max_clients: nullable(Type.Integer()),
  expires_at: nullable(date),
  revoked_at: nullable(date),
  created_by: str,
  last_used_at: nullable(date),
  created_at: date,
});

export const registrationTokens = Type.Array(registrationToken);

export const registrationTokenCreate = Type.Object(
  {
    max_clients: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    expires_in_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 63_072_000 })),
  },
  closed,
);

export const auditEvent = Type.Object({
  id: str,
  type: str,
  at: date,
  outcome: str,
  actor: nullable(str),
  subject: nullable(str),
  client_id: nullable(str),
  ip: nullable(str),
  user_agent: nullable(str),
  request_id: nullable(str),
  details: Type.Unknown(),
});
export const auditQuery = Type.Object(
  {
    ...pageFields,
    type: Type.Optional(Type.String({ maxLength: 100 })),
    subject: Type.Optional(Type.String({ maxLength: 256 })),
    client_id: Type.Optional(Type.String({ maxLength: 256 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
  },
  closed,
);

export const metadataDocument = Type.Object({
  url: str,
  client_name: nullable(str),
  fetched_at: nullable(str),
  expires_at: nullable(str),
  last_error: nullable(str),
  last_error_at: nullable(str),
  blocked: Type.Boolean(),
  blocked_at: nullable(str),
  created_at: str,
});

export const metadataDocumentUrl = Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }) }, closed);

// Upstream identity providers people sign in through. Kind and preset are plain strings here so
// that the service answers an unknown one with its own code (upstream.kind_invalid, upstream.preset_unknown).
const claimMembers = list(64, 5);
const upstreamUrl = Type.String({ maxLength: 2000 });
// The service's mappings are read-only lists.
const mapped = Type.Unsafe<readonly string[]>(Type.Array(str));

export const slugParams = Type.Object({ slug: Type.String({ maxLength: 256, pattern: '^[^\\u0000]*$' }) });

export const upstream = Type.Object({
  slug: str,
  name: str,
  kind: str,
  preset: nullable(str),
  issuer: nullable(str),
  authorization_url: nullable(str),
  token_url: nullable(str),
  userinfo_url: nullable(str),
  emails_url: nullable(str),
  client_id: str,
  /** client_secret, or private_key_jwt with the public key to register at the upstream. */
  client_auth: str,
  jwks: Type.Optional(Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) })),
  jwks_uri: Type.Optional(nullable(str)),
  scope: str,
  claim_mapping: Type.Object({ subject: mapped, email: mapped, email_verified: mapped, name: mapped }),
  jit: Type.Boolean(),
  default_roles: strs,
  enabled: Type.Boolean(),
  /** The redirect URI to register at the upstream: ISSUER/upstreams/SLUG/callback. */
  redirect_uri: str,
  created_at: date,
  updated_at: date,
});

export const upstreams = Type.Array(upstream);

const upstreamFields = {
  name: Type.String({ maxLength: 200 }),
  kind: Type.String({ maxLength: 20, description: 'oidc or oauth2; a preset gives it' }),
  issuer: upstreamUrl,
  authorization_url: upstreamUrl,
  token_url: upstreamUrl,
  userinfo_url: upstreamUrl,
  emails_url: upstreamUrl,
  client_id: Type.String({ maxLength: 500 }),
  /** Write-only: sealed under the key-encryption keys, never answered. */
  client_secret: Type.String({ maxLength: 4000 }),
  scope: Type.String({ maxLength: 4000 }),
  claim_mapping: Type.Partial(Type.Object({ subject: claimMembers, email: claimMembers, email_verified: claimMembers, name: claimMembers }), closed),
  jit: Type.Boolean(),
  default_roles: list(64, 100),
  enabled: Type.Boolean(),
};

const optional = <T extends Record<string, TSchema>>(fields: T) =>
  Object.fromEntries(Object.entries(fields).map(([name, schema]) => [name, Type.Optional(schema)])) as { [K in keyof T]: ReturnType<typeof Type.Optional<T[K]>> };

export const upstreamCreate = Type.Object(
  {
    ...optional(upstreamFields),
    slug: Type.String({ maxLength: 100 }),
    name: upstreamFields.name,
    preset: Type.Optional(Type.String({ maxLength: 40, description: 'google, microsoft, github, gitlab or apple' })),
    client_id: upstreamFields.client_id,
    client_auth: Type.Optional(Type.String({ maxLength: 40, description: 'client_secret (the default: client_secret is required) or private_key_jwt (Ostiary makes a key pair; no secret)' })),
  },
  closed,
);

export const upstreamUpdate = Type.Partial(Type.Object(upstreamFields), { ...closed, minProperties: 1 });
