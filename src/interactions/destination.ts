import { classifyAddress } from '../outbound/index.ts';

/**
 * Where the person's browser goes once they decide, for the consent page: a web host (flagged
 * when it is this computer), an app by its URI scheme, or nowhere (a device sign-in, which has
 * no redirect URI: the device polls for its tokens).
 */
export type Destination = { kind: 'device' } | { kind: 'web'; host: string; loopback: boolean } | { kind: 'app'; scheme: string };

/** localhost and *.localhost always mean this computer (RFC 6761 section 6.3). */
const isLocalhostName = (hostname: string) => hostname === 'localhost' || hostname.endsWith('.localhost');

function isLoopback(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  return isLocalhostName(bare) || classifyAddress(bare) === 'loopback';
}

export function destinationOf(interaction: { deviceCode?: unknown; params: Record<string, unknown> }): Destination {
  if (interaction.deviceCode) return { kind: 'device' };
  const url = URL.parse(String(interaction.params.redirect_uri ?? ''));
  // The provider checked the redirect URI against the client's before any page was shown.
  if (!url) throw new Error('an interaction without a redirect URI or a device code');
  if (!url.host) return { kind: 'app', scheme: url.protocol };
  return { kind: 'web', host: url.host, loopback: isLoopback(url.hostname) };
}
