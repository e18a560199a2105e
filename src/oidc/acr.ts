/**
 * Authentication context classes (OpenID Connect `acr`), advertised in discovery: a password
 * alone, a password and a second factor, or an upstream provider's sign-in. A request's `acr_values` naming the second asks for
 * it even inside an existing session (step-up).
 */
export const ACR_PASSWORD = 'urn:ostiary:acr:password';
export const ACR_MFA = 'urn:ostiary:acr:mfa';
/** A sign-in through an upstream identity provider alone (one step here, whatever the upstream asked). */
export const ACR_FEDERATED = 'urn:ostiary:acr:federated';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA, ACR_FEDERATED];

/** Whether the authorization request's `acr_values` ask for a second factor. */
export const asksForMfa = (acrValues: unknown): boolean => typeof acrValues === 'string' && acrValues.split(' ').includes(ACR_MFA);
