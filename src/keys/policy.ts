import type { Config } from '../config/index.ts';

/** oidc-provider's default clock tolerance: a token is accepted this long after its exp. */
const CLOCK_TOLERANCE_SECONDS = 15;

export interface KeyPolicy {
  rotationInterval: number;
  prepublish: number;
  /** How long a retired key stays published: until everything it signed has expired. */
  retention: number;
}

export function keyPolicy(config: Config): KeyPolicy {
  const longestToken = Math.max(config.ttl.accessToken, config.ttl.idToken);
  return {
    rotationInterval: config.keys.rotationInterval,
    prepublish: config.keys.prepublish,
    // Another instance may sign with a retired key until it reloads; its tokens then live their TTL.
    retention: longestToken + config.keys.reload + CLOCK_TOLERANCE_SECONDS,
  };
}
