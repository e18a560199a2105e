import { isLocalHost } from '../config/index.ts';
import { fail } from '../errors.ts';
import { item, type CheckItem } from './item.ts';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const TIMEOUT_MS = 10_000;

interface Fetched {
  status: number;
  headers: Headers;
  body: string;
}

async function get(url: string, headers: Record<string, string> = {}, post = false): Promise<Fetched> {
  const response = await fetch(url, {
    redirect: 'manual',
    headers: post ? { ...headers, 'content-type': 'application/x-www-form-urlencoded' } : headers,
    ...(post ? { method: 'POST', body: '' } : {}),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

const isLocal = (url: URL) => isLocalHost(url.hostname);

/** The discovery document, or the one-line reason there is none. */
async function discover(issuer: string): Promise<{ metadata: Record<string, unknown>; response: Fetched }> {
  const where = `${issuer}/.well-known/openid-configuration`;
  let response: Fetched;
  try {
    response = await get(where);
  } catch (error) {
    throw fail('check.unreachable', `${issuer} cannot be reached: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
  }
  let metadata: unknown;
  try {
    metadata = JSON.parse(response.body);
  } catch {
    metadata = undefined;
  }
  const m = metadata as Record<string, unknown> | undefined;
  if (response.status !== 200 || typeof m?.issuer !== 'string' || typeof m?.jwks_uri !== 'string' || typeof m?.authorization_endpoint !== 'string') {
    throw fail('check.unreachable', `${where} answered ${response.status} without OpenID Provider metadata: not an OpenID Connect issuer`);
  }
  return { metadata: m, response };
}

function transport(issuer: URL, response: Fetched): CheckItem[] {
  const https = issuer.protocol === 'https:';
  const hsts = response.headers.get('strict-transport-security');
  const maxAge = Number(/max-age=(\d+)/i.exec(hsts ?? '')?.[1] ?? 0);
  return [
    https
      ? item('https_issuer', 'pass', `the issuer ${issuer.origin} uses https`, 'Keep TLS in front of every instance.')
      : item('https_issuer', isLocal(issuer) ? 'warn' : 'fail', `the issuer ${issuer.origin} uses plain http`, 'Serve the issuer over https (behind a TLS-terminating proxy with TRUST_PROXY=true).'),
    !https
      ? item('hsts', isLocal(issuer) ? 'warn' : 'fail', 'no HSTS over plain http', 'Use an https issuer: Ostiary sends Strict-Transport-Security for it.')
      : maxAge >= 15_552_000
        ? item('hsts', 'pass', `Strict-Transport-Security: ${hsts}`, 'Keep it; consider the HSTS preload list.')
        : item('hsts', 'fail', hsts ? `HSTS max-age is only ${maxAge} seconds` : 'the discovery answer has no Strict-Transport-Security header', 'Make sure the proxy passes (or sets) Strict-Transport-Security with a max-age of at least 180 days.'),
  ];
}

/** Endpoints that answer POST only: an empty form post should get a 4xx from them. */
const POST_ONLY = new Set(['token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'pushed_authorization_request_endpoint', 'device_authorization_endpoint', 'registration_endpoint']);

const ENDPOINT_FIELDS = [
  'authorization_endpoint',
  'token_endpoint',
  'userinfo_endpoint',
  'jwks_uri',
  'end_session_endpoint',
  'introspection_endpoint',
  'revocation_endpoint',
  'pushed_authorization_request_endpoint',
  'registration_endpoint',
  'device_authorization_endpoint',
];

function consistency(issuer: string, metadata: Record<string, unknown>): CheckItem[] {
  const items = [
    metadata.issuer === issuer
      ? item('discovery_issuer', 'pass', 'the discovery issuer equals the issuer URL', 'Relying parties compare it exactly: keep ISSUER unchanged.')
      : item('discovery_issuer', 'fail', `discovery names the issuer ${String(metadata.issuer)}, not ${issuer}`, 'Set ISSUER to the exact URL relying parties use.'),
  ];
  const outside = ENDPOINT_FIELDS.filter((f) => typeof metadata[f] === 'string' && !(metadata[f] as string).startsWith(`${issuer}/`));
  items.push(
    outside.length === 0
      ? item('discovery_endpoints', 'pass', 'every advertised endpoint lies under the issuer', 'Nothing to do.')
      : item('discovery_endpoints', 'fail', `endpoints outside the issuer: ${outside.map((f) => `${f}=${String(metadata[f])}`).join(', ')}`, 'Check ISSUER and TRUST_PROXY: the metadata must name endpoints under the issuer.'),
  );
  return items;
}

async function reachability(metadata: Record<string, unknown>, seen: Fetched[]): Promise<CheckItem> {
  const broken: string[] = [];
  for (const field of ENDPOINT_FIELDS) {
    const url = metadata[field];
    if (typeof url !== 'string') continue;
    try {
      const response = await get(url, { origin: 'https://ostiary-check.invalid' }, POST_ONLY.has(field));
      seen.push(response);
      if (response.status >= 500 || response.status === 404) broken.push(`${field} answered ${response.status}`);
    } catch (error) {
      broken.push(`${field} unreachable (${(error as Error).message})`);
    }
  }
  return broken.length === 0
    ? item('endpoints_reachable', 'pass', 'every advertised endpoint answers without a server error', 'Nothing to do.')
    : item('endpoints_reachable', 'fail', broken.join('; '), 'Route every advertised endpoint to Ostiary and look at its logs for the server errors.');
}

async function keys(metadata: Record<string, unknown>): Promise<CheckItem[]> {
  let jwks: { keys?: Record<string, unknown>[] };
  try {
    jwks = JSON.parse((await get(metadata.jwks_uri as string)).body) as typeof jwks;
  } catch {
    return [item('jwks_public', 'fail', 'the JWKS cannot be read as JSON', 'Serve the JWKS at jwks_uri.')];
  }
  const list = Array.isArray(jwks.keys) ? jwks.keys : [];
  const leaking = list.filter((k) => PRIVATE_MEMBERS.some((m) => m in k)).map((k) => String(k.kid ?? '?'));
  const weak = list
    .filter((k) => k.kty === 'RSA' && typeof k.n === 'string' && Buffer.from(k.n, 'base64url').length * 8 < 2048)
    .map((k) => `${String(k.kid ?? '?')} (${Buffer.from(k.n as string, 'base64url').length * 8} bits)`);
  return [
    list.length === 0
      ? item('jwks_public', 'fail', 'the JWKS publishes no key', 'Start the server once so it makes its first signing key.')
      : leaking.length
        ? item('jwks_public', 'fail', `the JWKS publishes private key material for ${leaking.join(', ')}`, 'Revoke these keys now (keys revoke KID --yes): anyone can sign tokens with them.')
        : item('jwks_public', 'pass', `${list.length} public keys, no private members`, 'Nothing to do.'),
    weak.length
      ? item('rsa_key_size', 'fail', `RSA keys shorter than 2048 bits: ${weak.join(', ')}`, 'Rotate to 2048-bit or longer keys and revoke the short ones.')
      : item('rsa_key_size', 'pass', 'every RSA key is at least 2048 bits', 'Nothing to do.'),
  ];
}

function clock(response: Fetched): CheckItem {
  const date = Date.parse(response.headers.get('date') ?? '');
  if (Number.isNaN(date)) return item('clock_skew', 'warn', 'the server sent no Date header', 'Let the server send a Date header so its clock can be compared.');
  const skew = Math.round(Math.abs(Date.now() - date) / 1000);
  if (skew > 300) return item('clock_skew', 'fail', `the server's clock is ${skew} seconds off this machine's`, 'Run NTP on the servers: token times are checked against clocks.');
  if (skew > 30) return item('clock_skew', 'warn', `the server's clock is ${skew} seconds off this machine's`, 'Run NTP on the servers and on this machine.');
  return item('clock_skew', 'pass', `the server's clock is within ${Math.max(skew, 1)} seconds of this machine's`, 'Nothing to do.');
}

function cookies(issuer: URL, seen: Fetched[]): CheckItem {
  const all = seen.flatMap((r) => r.headers.getSetCookie());
  if (all.length === 0) return item('cookies_secure', 'warn', 'no cookie was set by the answers seen', 'Run the check from inside (ostiary check without ISSUER) to read the cookie settings.');
  const insecure = all.filter((c) => !/;\s*secure/i.test(c)).map((c) => c.split('=')[0]);
  if (issuer.protocol === 'https:' && insecure.length) {
    return item('cookies_secure', 'fail', `cookies without Secure over https: ${insecure.join(', ')}`, 'Set TRUST_PROXY=true behind the TLS-terminating proxy so cookies get Secure.');
  }
  return item('cookies_secure', issuer.protocol === 'https:' ? 'pass' : 'warn', `${all.length} cookies seen${insecure.length ? ', not Secure' : ', all Secure'}`, 'Use an https issuer so cookies are Secure.');
}

function proxy(issuer: URL, metadata: Record<string, unknown>): CheckItem {
  const schemes = new Set(ENDPOINT_FIELDS.map((f) => metadata[f]).filter((v): v is string => typeof v === 'string').map((v) => URL.parse(v)?.protocol ?? 'no URL'));
  return schemes.size === 1 && schemes.has(issuer.protocol)
    ? item('trust_proxy', 'pass', `the endpoints use ${issuer.protocol.slice(0, -1)} like the issuer`, 'Nothing to do.')
    : item('trust_proxy', 'warn', `the endpoints use ${[...schemes].join(' and ')} while the issuer uses ${issuer.protocol}`, 'Behind a TLS-terminating proxy, set TRUST_PROXY=true and make the proxy send X-Forwarded-Proto.');
}

function cors(seen: Fetched[], discovery: Fetched): CheckItem {
  const open = discovery.headers.get('access-control-allow-origin');
  const reflected = seen.filter((r) => r.headers.get('access-control-allow-origin') === 'https://ostiary-check.invalid');
  if (reflected.some((r) => r.headers.get('access-control-allow-credentials') === 'true')) {
    return item('cors', 'fail', 'an endpoint lets an unknown origin read its answers with credentials', 'Never allow credentials cross-origin; allow only the origins of registered redirect URIs.');
  }
  return item(
    'cors',
    'pass',
    `discovery and JWKS: ${open ?? 'no'} origin; ${reflected.length} endpoints answered an unknown origin without credentials (errors given before any client is known)`,
    'Authenticated requests are allowed only from the origins of a client\'s redirect URIs: keep them to the apps you serve.',
  );
}

function rateLimits(seen: Fetched[]): CheckItem {
  const limited = seen.some((r) => r.headers.has('x-ratelimit-limit'));
  return limited
    ? item('rate_limits', 'pass', 'rate-limit headers are present on the protocol endpoints', 'Set REDIS_URL when several instances serve, so they share the counters.')
    : item('rate_limits', 'warn', 'rate limits cannot be seen from outside without exhausting them', 'Run ostiary check on the server to read the limits in force.');
}

/** Checks a deployment from outside, over HTTP, with only its issuer URL. */
export async function checkFromOutside(issuerUrl: string): Promise<CheckItem[]> {
  let issuer: URL;
  try {
    issuer = new URL(issuerUrl);
  } catch {
    throw fail('check.unreachable', `${issuerUrl} is not a URL`);
  }
  const name = issuerUrl.replace(/\/$/, '');
  const { metadata, response } = await discover(name);
  const seen: Fetched[] = [response];
  const reachable = await reachability(metadata, seen);
  return [
    ...transport(issuer, response),
    ...consistency(name, metadata),
    reachable,
    ...(await keys(metadata)),
    clock(response),
    cookies(issuer, seen),
    proxy(issuer, metadata),
    cors(seen, response),
    rateLimits(seen),
  ];
}
