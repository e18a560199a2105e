import { BlockList, isIP } from 'node:net';

/**
 * Which resolved addresses an outbound fetch may connect to: public unicast only. Ranges are
 * those of the IANA IPv4 and IPv6 special-purpose address registries that are not globally
 * reachable, plus multicast and the reserved blocks.
 */
const V4_REFUSED: [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata endpoints live here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

/** Inside 2000::/3 (global unicast), the blocks that are not globally reachable or embed IPv4. */
const V6_REFUSED: [string, number][] = [
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, benchmarking)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['3fff::', 20], // documentation
];

const refusedV4 = new BlockList();
for (const [network, prefix] of V4_REFUSED) refusedV4.addSubnet(network, prefix, 'ipv4');
const refusedV6 = new BlockList();
for (const [network, prefix] of V6_REFUSED) refusedV6.addSubnet(network, prefix, 'ipv6');
const globalUnicastV6 = new BlockList();
globalUnicastV6.addSubnet('2000::', 3, 'ipv6');
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad allowed). */
function groupsOf(address: string): number[] {
  let text = address.toLowerCase().split('%')[0]!;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -quad[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((group) => Number.parseInt(group, 16));
}

/** The IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) address carries. */
function embeddedV4(groups: number[]): string | undefined {
  const zeroPrefix = groups.slice(0, 5).every((g) => g === 0);
  if (!zeroPrefix || (groups[5] !== 0xffff && groups[5] !== 0)) return undefined;
  const [high, low] = [groups[6]!, groups[7]!];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

export type AddressVerdict = 'public' | 'loopback' | 'refused';

/** Classifies a literal IP address; anything that is not one is refused. */
export function classifyAddress(address: string): AddressVerdict {
  const family = isIP(address);
  if (family === 4) {
    if (loopback.check(address, 'ipv4')) return 'loopback';
    return refusedV4.check(address, 'ipv4') ? 'refused' : 'public';
  }
  if (family !== 6) return 'refused';
  const groups = groupsOf(address);
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return 'refused';
  const v4 = embeddedV4(groups);
  if (v4 !== undefined) {
    if (groups[5] === 0xffff) return classifyAddress(v4);
    // The IPv4-compatible form (::a.b.c.d) is deprecated and routes nowhere; ::1 is loopback.
    return groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1 ? 'loopback' : 'refused';
  }
  const canonical = groups.map((g) => g.toString(16)).join(':');
  if (!globalUnicastV6.check(canonical, 'ipv6')) return 'refused';
  return refusedV6.check(canonical, 'ipv6') ? 'refused' : 'public';
}

/** True when a fetch may connect to `address` (loopback only when allowed). */
export function mayConnect(address: string, allowLoopback: boolean): boolean {
  const verdict = classifyAddress(address);
  return verdict === 'public' || (verdict === 'loopback' && allowLoopback);
}
