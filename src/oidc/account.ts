import type { FindAccount } from 'oidc-provider';
import type { Users } from '../users/index.ts';

/** RFC 8176: the sign-in went through an upstream identity provider. */
const FEDERATED = 'fed';

/**
 * The provider's view of a user: `sub` is the user id; claims are released by scope. After a
 * sign-in through an upstream (`amr` has `fed`), `idp` names it by slug (as Microsoft's tokens do).
 */
export function createFindAccount(users: Users, lastUpstream: (userId: string) => Promise<string | undefined>): FindAccount {
  return async (_ctx, sub, token) => {
    const user = await users.accountById(sub);
    if (!user || user.disabled) return undefined;
    const amr = (token as { amr?: unknown } | undefined)?.amr;
    const federated = Array.isArray(amr) && amr.includes(FEDERATED);
    return {
      accountId: user.id,
      claims: async () => {
        const idp = federated ? await lastUpstream(user.id) : undefined;
        return {
          sub: user.id,
          email: user.email,
          email_verified: user.emailVerified,
          roles: user.roles,
          ...(user.name ? { name: user.name } : {}),
          ...(idp ? { idp } : {}),
        };
      },
    };
  };
}
