import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { allowsPasswordSignIn, requiresMfa } from '../clients/index.ts';
import { ACR_MFA, asksForMfa } from './acr.ts';

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

/** Step-up: the request or its client asks for a second factor the session was not signed in with. */
function secondFactorMissing(ctx: KoaContextWithOIDC): boolean {
  const { session, params, client } = ctx.oidc;
  const wanted = asksForMfa(params?.acr_values) || requiresMfa(client?.metadata());
  if (!session?.accountId || !wanted) return Check.NO_NEED_TO_PROMPT;
  return session.acr === ACR_MFA ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
}

/**
 * A client that takes no passwords (password_sign_in false) does not take a session signed in
 * with a password alone either: the person signs in again another way.
 */
function passwordRefused(ctx: KoaContextWithOIDC): boolean {
  const { session, client } = ctx.oidc;
  if (!session?.accountId || allowsPasswordSignIn(client?.metadata())) return Check.NO_NEED_TO_PROMPT;
  const amr = Array.isArray(session.amr) ? session.amr : [];
  return amr.includes('pwd') && !amr.includes('fed') ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
}

/** Why the login prompt asks again inside a session that lacks the second factor asked for. */
export const STEP_UP_REASON = 'second_factor_requested';

/** The provider's default prompts, with the check above first among the login prompt's, and step-up last. */
export function interactionPrompts() {
  const policy = base();
  const login = policy.get('login')!;
  login.checks.add(new Check('account_unavailable', 'the signed-in account can no longer be used', 'login_required', endSessionOfUnavailableAccount), 0);
  login.checks.add(new Check('password_refused', 'the client takes no password sign-ins', 'login_required', passwordRefused));
  login.checks.add(new Check(STEP_UP_REASON, 'a second factor is requested', 'login_required', secondFactorMissing));
  return policy;
}
