import type { OstiaryError } from '../errors.ts';

/** The flag each service field is given with on the command line. */
const FLAGS: Record<string, string> = {
  name: '--name',
  audience: '--audience',
  scopes: '--scope',
  permissions: '--permission',
  grantTypes: '--grant',
  redirectUris: '--redirect-uri',
  postLogoutRedirectUris: '--post-logout-redirect-uri',
  introspectionAudiences: '--introspect',
  assertionIssuer: '--assertion-issuer',
  assertionJwksUri: '--assertion-jwks-uri',
  assertionJwks: '--assertion-jwks-file',
  roles: '--role',
  accessTokenTtl: '--access-token-ttl',
  idTokenTtl: '--id-token-ttl',
  refreshTokenTtl: '--refresh-token-ttl',
  allowedIps: '--allow-ip',
  expiresAt: '--expires-in',
  slug: '--slug',
  kind: '--kind',
  preset: '--preset',
  issuer: '--issuer',
  authorizationUrl: '--authorization-url',
  tokenUrl: '--token-url',
  userinfoUrl: '--userinfo-url',
  emailsUrl: '--emails-url',
  clientId: '--client-id',
  clientSecret: '--client-secret-stdin',
  clientAuth: '--client-auth',
  scope: '--scope',
  mapping: '--map',
  upstreams: '--upstream',
};

/** Where the command line says it differently from the service, in its own flags and commands. */
const WORDING: Partial<Record<OstiaryError['code'], (error: OstiaryError) => string>> = {
  'client.grant_required': (e) => `${e.message.replace('at least one grant type', 'at least one --grant').replace('an API to introspect for', '--introspect')}`,
  'client.redirect_uri_required': () => 'the authorization_code grant needs at least one --redirect-uri',
  'client.scope_unknown': (e) => `${e.message} (create it with: apis create ... --scope ${e.params.scope})`,
  'role.not_found': (e) => (e.field === 'roles' ? `${e.message} (create it with: roles create --name ${e.params.role})` : e.message),
  'role.holder_required': () => 'give exactly one of --user ID|EMAIL or --client CLIENT_ID',
  'backup.file_exists': (e) => `${e.message}: nothing written (overwrite it with --force)`,
  'backup.not_empty': (e) => `${e.message}: nothing restored (to delete its rows and restore, give --replace)`,
};

/** An error as the command line words it: its own wording where it has one, else the service's, naming the flag. */
export function cliMessage(error: OstiaryError): string {
  const wording = WORDING[error.code];
  if (wording) return wording(error);
  const flag = error.field && FLAGS[error.field];
  return flag && !error.message.includes(flag) ? `${error.message} (${flag})` : error.message;
}

/** Exit codes by the error's HTTP status: 2 bad usage or input, 3 not found, 4 conflict, 5 refused. */
export function exitCode(error: OstiaryError): number {
  return ({ 403: 5, 404: 3, 409: 4 } as Record<number, number>)[error.status] ?? 2;
}
