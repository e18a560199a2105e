import { z } from 'zod';

/** Where a client secret comes from: never the file itself. */
const SecretRef = z.union(
  [
    z.strictObject({ file: z.string().min(1).describe('a file holding the secret (trailing newline dropped)') }),
    z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).describe('an environment variable holding the secret') }),
  ],
  { error: 'a secret is given as { file: PATH } or { env: NAME }; an inline secret is refused' },
);

const list = (item: z.ZodString) => z.array(item).default([]);
const seconds = z.number().int().min(1).max(366 * 24 * 3600).nullable().default(null);

const ApiEntry = z.strictObject({
  audience: z.string().min(1).describe('the API audience URI, its identity'),
  name: z.string().min(1),
  scopes: list(z.string().min(1)),
  publish_metadata: z.boolean().default(false).describe('Ostiary serves the API\'s RFC 9728 protected resource metadata'),
});

const RoleEntry = z.strictObject({
  name: z.string().min(1).describe('the role name, its identity'),
  permissions: list(z.string().min(1)),
});

const ClientEntry = z.strictObject({
  client_id: z.string().min(1).describe('the client id, its identity'),
  name: z.string().min(1),
  grant_types: list(z.string().min(1)),
  redirect_uris: list(z.string().min(1)),
  post_logout_redirect_uris: list(z.string().min(1)),
  scopes: list(z.string().min(1)).describe('API scopes; the OpenID Connect scopes follow from the grants'),
  public: z.boolean().default(false),
  first_party: z.boolean().default(false),
  require_mfa: z.boolean().default(false).describe('its users sign in with a second factor'),
  upstreams: z.array(z.string().min(1)).nullable().default(null).describe('the upstream slugs its users may sign in through; null: every enabled upstream'),
  password_sign_in: z.boolean().default(true).describe('its users may sign in with a password'),
  backchannel_logout_uri: z.string().min(1).nullable().default(null).describe('where a logout token is posted when a session with it ends'),
  assertion_issuer: z.string().min(1).nullable().default(null).describe('jwt_bearer grant: the iss of the assertions it presents'),
  assertion_jwks_uri: z.string().min(1).nullable().default(null).describe("jwt_bearer grant: the JWKS URL of the assertion issuer's public keys"),
  assertion_jwks: z
    .strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1) })
    .nullable()
    .default(null)
    .describe("jwt_bearer grant: the assertion issuer's public keys, as a JWKS (instead of a URL)"),
  roles: list(z.string().min(1)),
  introspect: list(z.string().min(1)).describe('audiences of APIs whose tokens the client may introspect'),
  access_token_ttl: seconds,
  id_token_ttl: seconds,
  refresh_token_ttl: seconds,
  secret: SecretRef.optional().describe('confidential clients: where the secret is read; without it a new client gets a generated secret, printed once'),
});

const ApiKeyEntry = z.strictObject({
  name: z.string().min(1).describe('the key name, its identity among keys not revoked'),
  scopes: z.array(z.string().min(1)).min(1),
});

/** The configuration file (`ostiary apply -f FILE`): the one source of its JSON Schema. */
export const ConfigFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    prune: z.boolean().default(false).describe('delete what the file does not declare when applied at start (CONFIG_FILE)'),
    apis: z.array(ApiEntry).default([]),
    roles: z.array(RoleEntry).default([]),
    clients: z.array(ClientEntry).default([]),
    api_keys: z.array(ApiKeyEntry).default([]),
  })
  .superRefine((file, ctx) => {
    const unique = (section: 'apis' | 'roles' | 'clients' | 'api_keys', key: string) => {
      const seen = new Set<string>();
      (file[section] as Record<string, unknown>[]).forEach((entry, index) => {
        const value = String(entry[key]);
        if (seen.has(value)) ctx.addIssue({ code: 'custom', path: [section, index, key], message: `${key} ${value} is declared twice` });
        seen.add(value);
      });
    };
    unique('apis', 'audience');
    unique('roles', 'name');
    unique('clients', 'client_id');
    unique('api_keys', 'name');
    file.clients.forEach((client, index) => {
      if (client.public && client.secret) ctx.addIssue({ code: 'custom', path: ['clients', index, 'secret'], message: 'a public client has no secret' });
    });
  });

export type ConfigFile = z.output<typeof ConfigFileSchema>;
export type ClientEntry = z.output<typeof ClientEntry>;
export type SecretRef = z.output<typeof SecretRef>;

/** The JSON Schema published beside this file (a test checks the committed copy). */
export function configFileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ConfigFileSchema, { io: 'input' }),
    $id: 'urn:ostiary:config-file:1',
    title: 'Ostiary configuration file',
  };
}
