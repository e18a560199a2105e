/**
 * Which member of the upstream's ID token claims (kind `oidc`) or userinfo answer (kind `oauth2`)
 * gives each of the person's attributes: the first member present wins.
 */
export interface ClaimMapping {
  subject: readonly string[];
  email: readonly string[];
  /** Empty: the upstream never says an address is verified (unless its emails list does). */
  emailVerified: readonly string[];
  name: readonly string[];
}

export const OIDC_MAPPING: ClaimMapping = { subject: ['sub'], email: ['email'], emailVerified: ['email_verified'], name: ['name'] };

export const PRESET_NAMES = ['google', 'microsoft', 'github', 'gitlab', 'apple'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface Preset {
  kind: 'oidc' | 'oauth2';
  /** Fixed where the provider has one issuer; Microsoft Entra ID's names the tenant. */
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  emailsUrl?: string;
  scope: string;
  mapping: ClaimMapping;
  /** Extra parameters of the authorization request. */
  authorizationParams?: Readonly<Record<string, string>>;
}

/**
 * The known URLs, scopes and mappings of common providers (as each documents them). Only the
 * stand-ins in the tests are reached from here; these values are the providers' published ones.
 */
export const PRESETS: Record<PresetName, Preset> = {
  google: { kind: 'oidc', issuer: 'https://accounts.google.com', scope: 'openid email profile', mapping: OIDC_MAPPING },
  // Entra ID's issuer is per tenant (https://login.microsoftonline.com/TENANT_ID/v2.0): `--issuer` says which.
  // Its `email` claim is not verified by Microsoft, so it never links to an existing account.
  microsoft: { kind: 'oidc', scope: 'openid email profile', mapping: { subject: ['sub'], email: ['email'], emailVerified: [], name: ['name'] } },
  github: {
    kind: 'oauth2',
    authorizationUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    userinfoUrl: 'https://api.github.com/user',
    emailsUrl: 'https://api.github.com/user/emails',
    scope: 'read:user user:email',
    mapping: { subject: ['id'], email: [], emailVerified: [], name: ['name', 'login'] },
  },
  gitlab: { kind: 'oidc', issuer: 'https://gitlab.com', scope: 'openid email profile', mapping: OIDC_MAPPING },
  // Apple answers with response_mode=form_post when the name or email is asked for; the callback takes it.
  apple: { kind: 'oidc', issuer: 'https://appleid.apple.com', scope: 'openid email name', mapping: { ...OIDC_MAPPING, name: [] }, authorizationParams: { response_mode: 'form_post' } },
};
