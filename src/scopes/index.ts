/** The OpenID Connect scopes and the user claims each releases (OIDC Core 5.4). */
export const OIDC_CLAIMS = {
  openid: ['sub'],
  profile: ['name'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
} as const;

/** Scopes the provider knows itself; every other scope belongs to an API (resource server). */
export const OIDC_SCOPES = ['openid', 'offline_access', ...Object.keys(OIDC_CLAIMS).filter((s) => s !== 'openid')];

// What the consent page says each scope shares is in the catalogues (consent:scopes.<scope>).

export const isOidcScope = (scope: string) => OIDC_SCOPES.includes(scope);

/** RFC 6749 section 3.3 scope-token. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Splits repeated and space-separated scope values into a de-duplicated list. */
export function splitScopes(values: readonly string[]): string[] {
  return [...new Set(values.flatMap((v) => v.split(' ')).filter(Boolean))];
}

/**
 * An API audience is any absolute URI without a fragment (RFC 8707 section 2): `https:` and
 * `urn:` alike. A scheme (RFC 3986 section 3.1) and something after it; no whitespace.
 */
export function isAudience(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s#\p{Cc}]+$/u.test(value)) return false;
  return URL.parse(value) !== null;
}
