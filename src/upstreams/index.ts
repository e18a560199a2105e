import type { Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import type { Roles } from '../roles/index.ts';
import type { Secrets } from '../secrets/index.ts';
import type { Users } from '../users/index.ts';
import { createUpstreamIdentities } from './identities.ts';
import { createUpstreamProtocol } from './protocol.ts';
import { createUpstreamStore } from './store.ts';

export { PRESET_NAMES, PRESETS, type ClaimMapping, type PresetName } from './presets.ts';
export { CLIENT_AUTH, KINDS, type ClientAuth, type UpstreamInput, type UpstreamKind, type UpstreamPatch, type UpstreamRuntime, type UpstreamView } from './store.ts';
export { isSignInError, type PendingSignIn, type SignInFailure, UpstreamSignInError } from './protocol.ts';
export type { UpstreamIdentityClaims } from './claims.ts';
export type { LinkedUpstream, SignInOutcome } from './identities.ts';

export interface UpstreamDeps {
  db: Database;
  secrets: Secrets;
  audit: Audit;
  roles: Roles;
  users: Users;
  issuer: string;
  production: boolean;
  passkeyCount(userId: string): Promise<number>;
}

/**
 * Signing in through upstream identity providers: the providers operators configure, the
 * relying-party protocol towards them, and the people's identities there.
 */
export function createUpstreams(deps: UpstreamDeps) {
  const store = createUpstreamStore(deps);
  return {
    ...store,
    protocol: createUpstreamProtocol(),
    identities: createUpstreamIdentities(deps),
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;

/** The upstream's JSON for the CLI and the admin API (snake_case, never the secret). */
export const upstreamJson = (u: import('./store.ts').UpstreamView) => ({
  slug: u.slug,
  name: u.name,
  kind: u.kind,
  preset: u.preset,
  issuer: u.issuer,
  authorization_url: u.authorizationUrl,
  token_url: u.tokenUrl,
  userinfo_url: u.userinfoUrl,
  emails_url: u.emailsUrl,
  client_id: u.clientId,
  client_auth: u.clientAuth,
  ...(u.publicJwks ? { jwks: u.publicJwks, jwks_uri: u.jwksUri } : {}),
  scope: u.scope,
  claim_mapping: { subject: u.mapping.subject, email: u.mapping.email, email_verified: u.mapping.emailVerified, name: u.mapping.name },
  jit: u.jit,
  default_roles: u.defaultRoles,
  enabled: u.enabled,
  redirect_uri: u.redirectUri,
  created_at: u.createdAt,
  updated_at: u.updatedAt,
});
