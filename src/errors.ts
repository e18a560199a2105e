/**
 * Product errors (services, the CLI, the admin API; protocol errors are oidc-provider's own).
 * Each has a stable code, published in the README, and its HTTP status. A service's message is
 * in domain words; each front may word it its own way from the code, the field it is about
 * (the service's own name for it) and its parameters.
 */
export const ERROR_CODES = {
  'input.invalid': { status: 400, summary: 'the request is malformed' },
  'api.name_required': { status: 400, summary: 'an API needs a name' },
  'api.audience_invalid': { status: 400, summary: 'an API audience must be an absolute URI without a fragment' },
  'api.metadata_needs_url': { status: 400, summary: 'protected resource metadata needs an https audience without a query' },
  'api.scope_invalid': { status: 400, summary: 'a scope value has characters a scope cannot hold' },
  'api.scope_reserved': { status: 400, summary: 'OpenID Connect scopes cannot belong to an API' },
  'api.audience_taken': { status: 409, summary: 'another API has this audience' },
  'api.not_found': { status: 404, summary: 'no such API' },
  'api_key.name_required': { status: 400, summary: 'an API key needs a name' },
  'api_key.scope_required': { status: 400, summary: 'an API key needs at least one scope' },
  'api_key.scope_unknown': { status: 400, summary: 'no such API key scope' },
  'api_key.range_invalid': { status: 400, summary: 'an allowed address range is not an address or CIDR range' },
  'api_key.expiry_past': { status: 400, summary: 'the expiry is not in the future' },
  'api_key.revoked': { status: 400, summary: 'the API key is revoked' },
  'api_key.exceeds_authority': { status: 403, summary: 'a key may hand on only scopes, expiry and ranges within its own' },
  'api_key.scope_missing': { status: 403, summary: 'the API key lacks a scope the request needs' },
  'api_key.not_found': { status: 404, summary: 'no such API key' },
  'backup.invalid': { status: 400, summary: 'the file is not a complete, unaltered Ostiary backup' },
  'backup.version_unsupported': { status: 400, summary: 'the backup is of a newer format or schema than this version reads' },
  'backup.key_unavailable': { status: 400, summary: "the backup's signing keys are sealed under a key-encryption key that is not configured" },
  'backup.file_exists': { status: 409, summary: 'the backup file already exists' },
  'backup.directory_unwritable': { status: 400, summary: "the backup file's directory does not exist or cannot be written" },
  'backup.not_empty': { status: 409, summary: 'the database to restore into already holds data' },
  'check.unreachable': { status: 400, summary: 'the issuer cannot be reached or serves no OpenID Provider metadata' },
  'client.name_required': { status: 400, summary: 'a client needs a name' },
  'client.grant_required': { status: 400, summary: 'a client needs a grant type, unless it is a resource server' },
  'client.grant_unsupported': { status: 400, summary: 'the grant type is not offered' },
  'client.refresh_needs_code': { status: 400, summary: 'the refresh_token grant needs authorization_code or device_code' },
  'client.public_client_credentials': { status: 400, summary: 'a public client cannot use client_credentials' },
  'client.exchange_needs_resource_server': { status: 400, summary: 'token_exchange is for a confidential client that is the resource server of the tokens it exchanges' },
  'client.redirect_uri_invalid': { status: 400, summary: 'a redirect URI is not an absolute https URI without a fragment' },
  'client.backchannel_logout_uri_invalid': { status: 400, summary: 'a back-channel logout URI is not an absolute https URI without a fragment' },
  'client.public_jwt_bearer': { status: 400, summary: 'a public client cannot use jwt_bearer: it must authenticate' },
  'client.assertion_issuer_required': { status: 400, summary: 'jwt_bearer needs a trusted assertion issuer and its keys' },
  'client.assertion_keys_invalid': { status: 400, summary: "the assertion issuer's keys are not one https JWKS URL or a JWKS of public keys" },
  'client.redirect_uri_required': { status: 400, summary: 'the authorization_code grant needs a redirect URI' },
  'client.redirect_uri_unused': { status: 400, summary: 'redirect URIs are used only by the authorization_code grant' },
  'client.lifetime_invalid': { status: 400, summary: 'a token lifetime is not a whole number of seconds in range' },
  'client.scope_invalid': { status: 400, summary: 'a scope value has characters a scope cannot hold' },
  'client.scope_unknown': { status: 400, summary: 'no API defines the scope' },
  'client.audience_unknown': { status: 400, summary: 'no API has the audience to introspect for' },
  'client.public_has_no_secret': { status: 400, summary: 'a public client has no secret to rotate' },
  'client.upstream_invalid': { status: 400, summary: 'an upstream a client names is not an upstream slug' },
  'client.id_invalid': { status: 400, summary: 'a chosen client id has characters a client id cannot hold' },
  'client.secret_too_short': { status: 400, summary: 'a given client secret is shorter than 43 characters' },
  'client.id_taken': { status: 409, summary: 'another client has this client id' },
  'client.not_found': { status: 404, summary: 'no such client' },
  'client.metadata_document_url_invalid': { status: 400, summary: 'a client ID metadata document URL is an https URL with a path and no fragment' },
  'client.metadata_document_not_blocked': { status: 409, summary: 'the client ID metadata document URL is not blocked' },
  'client.registration_refused': { status: 400, summary: 'a client registering itself asked for what the registration policy refuses' },
  'client.not_registered': { status: 403, summary: 'an operator\'s client is not managed through the registration endpoint' },
  'registration_token.max_clients_invalid': { status: 400, summary: 'the maximum number of clients is not a whole number from 1 to 1000000' },
  'registration_token.expiry_past': { status: 400, summary: 'the expiry is not in the future' },
  'registration_token.invalid': { status: 401, summary: 'the initial access token is unknown, revoked or expired' },
  'registration_token.exhausted': { status: 403, summary: 'the initial access token has registered as many clients as it may' },
  'registration_token.not_found': { status: 404, summary: 'no such registration token' },
  'config_file.invalid': { status: 400, summary: 'the configuration file does not follow its schema' },
  'config_file.secret_unavailable': { status: 400, summary: 'a secret the configuration file names cannot be read' },
  'config_file.unsupported_change': { status: 400, summary: 'the configuration file asks for a change that needs a new object' },
  'mail.recipient_invalid': { status: 400, summary: 'the recipient is not a single email address' },
  'mail.off': { status: 409, summary: 'mail is off (production without SMTP_URL): nothing can be mailed' },
  'role.name_invalid': { status: 400, summary: 'a role name has characters a role name cannot hold' },
  'role.permission_invalid': { status: 400, summary: 'a permission is not a scope value or a prefix ending in *' },
  'role.holder_required': { status: 400, summary: 'say which user or client holds the role' },
  'role.name_taken': { status: 409, summary: 'another role has this name' },
  'role.not_found': { status: 404, summary: 'no such role' },
  'signing_key.not_found': { status: 404, summary: 'no such published signing key' },
  'upstream.slug_invalid': { status: 400, summary: 'an upstream slug is 1 to 40 lowercase letters, digits and inner hyphens' },
  'upstream.name_invalid': { status: 400, summary: 'an upstream needs a display name of at most 60 characters, without control characters, < or >' },
  'upstream.kind_invalid': { status: 400, summary: 'the kind is oidc or oauth2 (and a preset\'s own)' },
  'upstream.preset_unknown': { status: 400, summary: 'no such preset (google, microsoft, github, gitlab, apple)' },
  'upstream.url_invalid': { status: 400, summary: 'an upstream URL is https without credentials or a fragment (http only to localhost outside production)' },
  'upstream.endpoints_missing': { status: 400, summary: 'an oidc upstream needs its issuer; an oauth2 one its authorization, token and userinfo URLs' },
  'upstream.client_invalid': { status: 400, summary: 'the client id or secret at the upstream is missing or malformed' },
  'upstream.scope_invalid': { status: 400, summary: 'the scope is not space-separated scope values' },
  'upstream.mapping_invalid': { status: 400, summary: 'the claim mapping is not up to five member names per attribute, with one for the subject' },
  'upstream.slug_taken': { status: 409, summary: 'another upstream has this slug' },
  'upstream.in_use': { status: 409, summary: 'people are linked through the upstream: its kind, issuer and endpoints stay' },
  'upstream.not_found': { status: 404, summary: 'no such upstream' },
  'upstream.no_account': { status: 403, summary: 'no account has the upstream\'s address, and the upstream does not create accounts' },
  'upstream.email_missing': { status: 400, summary: 'the upstream gave no email address for the person' },
  'upstream.email_unverified': { status: 403, summary: 'the upstream does not say the address is verified: it neither links nor creates an account' },
  'upstream.account_disabled': { status: 403, summary: 'the account is disabled' },
  'upstream.already_linked': { status: 409, summary: 'the account or the identity is linked already' },
  'upstream.not_linked': { status: 404, summary: 'the account is not linked to this upstream' },
  'upstream.last_way_in': { status: 409, summary: 'the upstream is the only way into the account: set a password or add a passkey first' },
  'user.email_invalid': { status: 400, summary: 'the email address is not valid' },
  'user.password_too_short': { status: 400, summary: 'the password is shorter than the minimum' },
  'user.password_too_long': { status: 400, summary: 'the password is longer than the maximum' },
  'user.password_too_weak': { status: 400, summary: 'the password is common or easy to guess' },
  'user.reset_link_invalid': { status: 400, summary: 'the password reset link is not one Ostiary sent' },
  'user.email_taken': { status: 409, summary: 'another user has this email address' },
  'user.not_found': { status: 404, summary: 'no such user' },
  'user.reset_link_used': { status: 410, summary: 'the password reset link was used already' },
  'user.reset_link_expired': { status: 410, summary: 'the password reset link has expired' },
  'user.name_invalid': { status: 400, summary: 'the name is longer than 200 characters or holds control characters' },
  'user.signup_domain_refused': { status: 400, summary: 'sign-up does not take addresses at this domain' },
  'user.already_verified': { status: 409, summary: 'the address is verified already' },
  'user.verification_link_invalid': { status: 400, summary: 'the verification link is not one Ostiary sent' },
  'user.verification_link_used': { status: 410, summary: 'the verification link was used already' },
  'user.verification_link_expired': { status: 410, summary: 'the verification link has expired' },
  'user.invitation_invalid': { status: 400, summary: 'the invitation is not one Ostiary sent' },
  'user.invitation_used': { status: 410, summary: 'the invitation was used already' },
  'user.invitation_expired': { status: 410, summary: 'the invitation has expired' },
  'user.password_wrong': { status: 403, summary: 'the current password is not right' },
  'user.email_unchanged': { status: 400, summary: 'the new address is the one the account has' },
  'user.email_change_link_invalid': { status: 400, summary: 'the address change link is not one Ostiary sent' },
  'user.email_change_link_used': { status: 410, summary: 'the address change link was used already' },
  'user.email_change_link_expired': { status: 410, summary: 'the address change link has expired' },
  'user.deletion_off': { status: 403, summary: 'people cannot delete their own accounts here (ACCOUNT_DELETION is off)' },
  'mfa.code_wrong': { status: 400, summary: 'the one-time or recovery code is not right' },
  'mfa.totp_exists': { status: 409, summary: 'an authenticator app is set up already' },
  'mfa.totp_not_started': { status: 409, summary: 'no authenticator app is being set up' },
  'mfa.required': { status: 409, summary: 'two-step sign-in is required here (MFA=required) and stays on' },
  'mfa.passkeys_unavailable': { status: 409, summary: 'passkeys need an issuer with a host name, not an IP address' },
  'mfa.passkey_name_missing': { status: 400, summary: 'a passkey needs a name' },
  'mfa.passkey_refused': { status: 400, summary: 'the browser\'s answer did not create a passkey' },
  'mfa.passkey_exists': { status: 409, summary: 'this passkey is added already' },
  'mfa.passkey_not_found': { status: 404, summary: 'the person has no such passkey' },
  'mfa.passkeys_too_many': { status: 409, summary: 'the person has as many passkeys as one may have' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetails {
  /** The input the error is about, by the service's own name for it (`grantTypes`, `email`). */
  field?: string;
  /** Values a front may put into its own wording (`{ scope: 'invoices:read' }`). */
  params?: Record<string, string>;
}

export class OstiaryError extends Error {
  override name = 'OstiaryError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly field?: string;
  readonly params: Record<string, string>;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.field = details.field;
    this.params = details.params ?? {};
  }

  /** The name Fastify reads the HTTP status by. */
  get statusCode(): number {
    return this.status;
  }
}

/** The error a service throws: its code, a message in domain words, and what it concerns. */
export const fail = (code: ErrorCode, message: string, details?: ErrorDetails) => new OstiaryError(code, message, details);

/** Malformed input a front found before any service saw it (a usage error, a missing field). */
export const invalidInput = (message: string) => new OstiaryError('input.invalid', message);

/** Prisma's unique-constraint violation (P2002), to be reported as a conflict. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'P2002';
}
