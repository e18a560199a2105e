/** The account page's client id: the page signs people in through the provider like any app. */
export const ACCOUNT_CLIENT_ID = 'ostiary-account';

export const ACCOUNT_CALLBACK_PATH = '/account/callback';

/**
 * The account page's client, given to the provider as a static client (never stored, so no
 * operator can change or delete it): public, code + PKCE, first-party (no consent page).
 */
export function accountClientMetadata(issuer: string, brandName: string) {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    // The login page says "Sign in to continue to <brand>".
    client_name: brandName,
    token_endpoint_auth_method: 'none' as const,
    grant_types: ['authorization_code'],
    response_types: ['code' as const],
    redirect_uris: [`${issuer}${ACCOUNT_CALLBACK_PATH}`],
    scope: 'openid email profile',
    first_party: true,
  };
}
