import type { FindAccount } from 'oidc-provider';
import type { Users } from '../users/index.ts';

/** The provider's view of a user: `sub` is the user id; claims are released by scope. */
export function createFindAccount(users: Users): FindAccount {
  return async (_ctx, sub) => {
    const user = await users.accountById(sub);
    if (!user || user.disabled) return undefined;
    return {
      accountId: user.id,
      claims: () => ({
        sub: user.id,
        email: user.email,
        email_verified: user.emailVerified,
        roles: user.roles,
        ...(user.name ? { name: user.name } : {}),
      }),
    };
  };
}
