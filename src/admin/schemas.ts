// JSON schemas of the admin API: they validate requests (unknown fields refused), shape responses
// (an allow-list: nothing else is serialized) and generate the OpenAPI document.
const str = { type: 'string' } as const;
const strs = { type: 'array', items: str } as const;
const date = { type: 'string', format: 'date-time' } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [schema, { type: 'null' }] });
const seconds = { type: 'integer', minimum: 1, maximum: 31_622_400 } as const;

export const page = (item: object) => ({
  type: 'object',
  required: ['items', 'next_cursor'],
  properties: { items: { type: 'array', items: item }, next_cursor: nullable(str) },
});

export const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { cursor: { type: 'string', maxLength: 512 }, limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
} as const;

export const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 256 } } } as const;

export const problem = {
  type: 'object',
  properties: { type: str, title: str, status: { type: 'integer' }, detail: str },
} as const;

export const client = {
  type: 'object',
  properties: {
    client_id: str,
    client_name: str,
    client_secret: str,
    grant_types: strs,
    redirect_uris: strs,
    post_logout_redirect_uris: strs,
    scope: str,
    token_endpoint_auth_method: str,
    first_party: { type: 'boolean' },
    roles: strs,
    introspection_audiences: strs,
    access_token_ttl: nullable({ type: 'integer' }),
    id_token_ttl: nullable({ type: 'integer' }),
    refresh_token_ttl: nullable({ type: 'integer' }),
    created_at: date,
  },
} as const;

const clientFields = {
  client_name: { type: 'string', minLength: 1, maxLength: 200 },
  grant_types: { type: 'array', items: { type: 'string', enum: ['authorization_code', 'refresh_token', 'client_credentials'] }, maxItems: 3 },
  redirect_uris: { type: 'array', items: { type: 'string', maxLength: 2000 }, maxItems: 50 },
  post_logout_redirect_uris: { type: 'array', items: { type: 'string', maxLength: 2000 }, maxItems: 50 },
  scope: { type: 'string', maxLength: 4000 },
  first_party: { type: 'boolean' },
  roles: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 100 },
} as const;

export const clientCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['client_name', 'grant_types'],
  properties: {
    ...clientFields,
    token_endpoint_auth_method: { type: 'string', enum: ['client_secret_basic', 'none'] },
    introspection_audiences: { type: 'array', items: { type: 'string', maxLength: 2000 }, maxItems: 50 },
    access_token_ttl: seconds,
    id_token_ttl: seconds,
    refresh_token_ttl: seconds,
  },
} as const;

export const clientUpdate = { type: 'object', additionalProperties: false, minProperties: 1, properties: clientFields } as const;

export const user = {
  type: 'object',
  properties: { id: str, email: str, email_verified: { type: 'boolean' }, name: nullable(str), disabled: { type: 'boolean' }, roles: strs, created_at: date },
} as const;

export const userCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', maxLength: 254 },
    password: { type: 'string', maxLength: 1024 },
    name: { type: 'string', maxLength: 200 },
    email_verified: { type: 'boolean' },
    roles: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 100 },
  },
} as const;

export const userUpdate = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name: nullable({ type: 'string', maxLength: 200 }),
    email_verified: { type: 'boolean' },
    disabled: { type: 'boolean' },
    roles: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 100 },
  },
} as const;

export const password = { type: 'object', additionalProperties: false, required: ['password'], properties: { password: { type: 'string', maxLength: 1024 } } } as const;

export const grant = { type: 'object', properties: { grant_id: str, client_id: str, client_name: nullable(str), scope: str, created_at: date, expires_at: nullable(date) } } as const;

export const role = { type: 'object', properties: { id: str, name: str, permissions: strs, created_at: date } } as const;
export const roleCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', maxLength: 64 }, permissions: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 500 } },
} as const;
export const roleMember = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: { user: { type: 'string', maxLength: 254 }, client_id: { type: 'string', maxLength: 256 } },
} as const;

export const api = { type: 'object', properties: { id: str, name: str, audience: str, scopes: strs, created_at: date } } as const;
export const apiCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'audience'],
  properties: { name: { type: 'string', maxLength: 200 }, audience: { type: 'string', maxLength: 2000 }, scopes: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 500 } },
} as const;

export const signingKey = {
  type: 'object',
  properties: {
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
  },
} as const;

export const apiKey = {
  type: 'object',
  properties: {
    id: str,
    name: str,
    api_key: str,
    scopes: strs,
    allowed_ips: strs,
    expires_at: nullable(date),
    revoked_at: nullable(date),
    created_by: str,
    last_used_at: nullable(date),
    last_used_ip: nullable(str),
    rotated_to: nullable(str),
    created_at: date,
  },
} as const;
export const apiKeyCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'scopes'],
  properties: {
    name: { type: 'string', maxLength: 200 },
    scopes: { type: 'array', items: str, minItems: 1, maxItems: 20 },
    expires_in_seconds: { type: 'integer', minimum: 60, maximum: 63_072_000 },
    allowed_ips: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 50 },
  },
} as const;

export const auditEvent = {
  type: 'object',
  properties: {
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
    details: {},
  },
} as const;
export const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQuery.properties,
    type: { type: 'string', maxLength: 100 },
    subject: { type: 'string', maxLength: 256 },
    client_id: { type: 'string', maxLength: 256 },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
  },
} as const;
