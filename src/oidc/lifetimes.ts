import { lifetimeOf, type Lifetime } from '../clients/index.ts';
import type { Config } from '../config/index.ts';

type ClientMetadata = { [key: string]: unknown } | undefined;

const epochSeconds = () => Math.floor(Date.now() / 1000);

/** How long a device's user code can be entered (README, "Devices"). */
const DEVICE_CODE_TTL = 10 * 60;

/** A client's own lifetime (`access_token_ttl` and friends) when it has one, else the default. */
export const clientLifetime = (client: ClientMetadata, key: Lifetime, fallback: number): number => lifetimeOf(client, key, fallback);

/**
 * oidc-provider `ttl`: every lifetime from the configuration, overridable per client.
 * Refresh tokens slide (each rotation gets the full lifetime) up to an absolute cap counted
 * from the grant's first refresh token; grants live as long as that cap.
 */
export function lifetimes(config: Config) {
  const { ttl } = config;
  return {
    AccessToken: (_ctx: unknown, _token: unknown, client: ClientMetadata) => clientLifetime(client, 'access_token_ttl', ttl.accessToken),
    ClientCredentials: (_ctx: unknown, _token: unknown, client: ClientMetadata) => clientLifetime(client, 'access_token_ttl', ttl.accessToken),
    IdToken: (_ctx: unknown, _token: unknown, client: ClientMetadata) => clientLifetime(client, 'id_token_ttl', ttl.idToken),
    RefreshToken: (_ctx: unknown, token: { iiat?: number }, client: ClientMetadata) => {
      const sliding = clientLifetime(client, 'refresh_token_ttl', ttl.refreshToken);
      const now = epochSeconds();
      const capLeft = (token.iiat ?? now) + ttl.refreshTokenAbsolute - now;
      return Math.max(1, Math.min(sliding, capLeft));
    },
    AuthorizationCode: ttl.authorizationCode,
    Grant: ttl.refreshTokenAbsolute,
    Session: ttl.session,
    Interaction: ttl.interaction,
    // Long enough to find a phone and sign in; RFC 8628's example uses 30 minutes, we keep 10.
    DeviceCode: DEVICE_CODE_TTL,
  };
}
