import { oidc } from './relying-party.ts';
import { authorize, UserAgent } from './user-agent.ts';

export const REDIRECT = 'https://app.example.com/cb';

/** An authorization URL with PKCE S256, state and nonce, and the values to check the answer. */
export async function startFlow(rp: oidc.Configuration, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid email profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

export interface CodeFlowOptions {
  /** Extra authorization request parameters (scope, resource, prompt...). */
  extra?: Record<string, string>;
  /** The browser, when its session matters (logout, a second sign-in). */
  agent?: UserAgent;
  /** Extra token request parameters (a resource for the code exchange). */
  tokenParameters?: Record<string, string>;
}

/** The whole code flow for one user: sign in, consent, exchange. Returns the code and the tokens. */
export async function codeFlow(rp: oidc.Configuration, credentials: { email: string; password: string }, options: CodeFlowOptions = {}) {
  const flow = await startFlow(rp, options.extra);
  const { callbackUrl } = await authorize(options.agent ?? new UserAgent(), flow.url, REDIRECT, credentials);
  const callback = new URL(callbackUrl);
  const tokens = await oidc.authorizationCodeGrant(
    rp,
    callback,
    { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce },
    options.tokenParameters,
  );
  return { code: callback.searchParams.get('code')!, tokens };
}
