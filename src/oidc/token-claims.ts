import type { KoaContextWithOIDC } from 'oidc-provider';
import { permissionMatches, type Roles } from '../roles/index.ts';

interface IssuedToken {
  kind: string;
  accountId?: string;
  clientId?: string;
  grantId?: string;
  scope?: string;
  resourceServer?: { audience?: string };
  /** Claims the token was made with: an exchanged token's actor (`act`, src/oidc/token-exchange.ts). */
  extra?: { act?: unknown };
}

/**
 * Claims added to access tokens for an API: `permissions`, the granted scopes of that API that
 * the subject's roles allow; `roles`, the roles that contribute to them; `grant_id`, so
 * introspection can tell whether the grant still stands; and an exchanged token's `act` (the
 * provider replaces a token's own claims with these).
 */
export function createExtraTokenClaims(roles: Roles) {
  return async (_ctx: KoaContextWithOIDC, token: IssuedToken) => {
    if (!token.resourceServer?.audience) return undefined;
    const holder = token.kind === 'ClientCredentials' ? { clientId: token.clientId! } : { userId: token.accountId! };
    const held = await roles.of(holder);
    // The provider has already limited the token's scope to this API's scopes the client may hold.
    const granted = (token.scope ?? '').split(' ').filter(Boolean);
    const permissions = granted.filter((scope) => held.some((role) => role.permissions.some((p) => permissionMatches(p, scope))));
    const contributing = held.filter((role) => role.permissions.some((p) => permissions.some((scope) => permissionMatches(p, scope))));
    return {
      roles: contributing.map((role) => role.name),
      permissions,
      ...(token.grantId ? { grant_id: token.grantId } : {}),
      ...(token.extra?.act ? { act: token.extra.act } : {}),
    };
  };
}
