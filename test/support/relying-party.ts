import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';

/** openid-client against a plain-http loopback issuer (tests only). */
const insecure = { execute: [oidc.allowInsecureRequests] };

export function discover(issuer: string, clientId: string, clientSecret?: string) {
  return clientSecret === undefined
    ? oidc.discovery(new URL(issuer), clientId, undefined, oidc.None(), insecure)
    : oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, insecure);
}

/** Verifies a JWT against the published JWKS (signature, iss, aud, exp); by default the issuer's own. */
export async function verifyJwt(issuer: string, token: string, audience: string, typ?: string, jwksFrom = issuer) {
  const jwks = createRemoteJWKSet(new URL(`${jwksFrom}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256'], ...(typ ? { typ } : {}) });
  return { payload, header: protectedHeader };
}

export const kidOf = (token: string) => decodeProtectedHeader(token).kid;

export { oidc };
