import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

const { Check, base } = interactionPolicy;

/**
 * A session that names a person the account model no longer returns (disabled or deleted since)
 * is ended here: the person signs in afresh, as in a new browser. Left alone, the consent prompt
 * finds no grant to read (a 500), and a sign-in over it would be taken for switching accounts.
 */
function endSessionOfUnavailableAccount(ctx: KoaContextWithOIDC): boolean {
  const { session, account } = ctx.oidc;
  if (!session?.accountId || account) return Check.NO_NEED_TO_PROMPT;
  // The provider's session proxy refuses an empty accountId; removing the login fields is allowed.
  for (const field of ['accountId', 'loginTs', 'amr', 'acr', 'authorizations']) Reflect.deleteProperty(session, field);
  session.resetIdentifier();
  return Check.REQUEST_PROMPT;
}

/** The provider's default prompts, with the check above first among the login prompt's. */
export function interactionPrompts() {
  const policy = base();
  policy.get('login')!.checks.add(new Check('account_unavailable', 'the signed-in account can no longer be used', 'login_required', endSessionOfUnavailableAccount), 0);
  return policy;
}
