import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { mayConnect } from './addresses.ts';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Turns a host name into addresses; the default asks the system resolver. Tests pass their own. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface OutboundOptions {
  /** Loopback addresses may be reached (development and tests; refused in production by the config). */
  allowLoopback: boolean;
  resolve?: Resolver;
  /** Extra trusted certificate authorities (PEM), beside the public roots. */
  ca?: readonly string[];
  /** Default limits of one fetch: the whole exchange, and the response body. */
  timeoutMs?: number;
  maxBytes?: number;
}

export type OutboundRefusal = 'url' | 'resolution' | 'address' | 'redirect' | 'too_large' | 'timeout' | 'network';

/** Why an outbound fetch was refused or failed; `reason` is for audit events and logs. */
export class OutboundError extends Error {
  override name = 'OutboundError';
  readonly reason: OutboundRefusal;

  constructor(reason: OutboundRefusal, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

export interface OutboundInit {
  method?: string;
  headers?: ConstructorParameters<typeof Headers>[0];
  body?: string | URLSearchParams | Uint8Array | null;
  signal?: AbortSignal | null;
  /** Tighter limits for this fetch. */
  timeoutMs?: number;
  maxBytes?: number;
  // `redirect` and `dispatcher` (set by oidc-provider) are accepted and ignored: redirects are
  // never followed and the connection is always ours.
  [other: string]: unknown;
}

export type GuardedFetch = (url: string | URL, init?: OutboundInit) => Promise<Response>;

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_BYTES = 256 * 1024;

const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

function parseTarget(input: string | URL): URL {
  const url = URL.parse(String(input));
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new OutboundError('url', 'only http and https URLs are fetched');
  if (url.username || url.password) throw new OutboundError('url', 'URLs with credentials are not fetched');
  return url;
}

/** Every address the host name has must be allowed: one refused address refuses the host. */
async function checkedAddress(hostname: string, resolve: Resolver, allowLoopback: boolean): Promise<ResolvedAddress> {
  const literal = isIP(hostname);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(hostname);
    } catch (cause) {
      throw new OutboundError('resolution', `${hostname} does not resolve`, { cause });
    }
  }
  if (addresses.length === 0) throw new OutboundError('resolution', `${hostname} does not resolve`);
  const refused = addresses.find((a) => !mayConnect(a.address, allowLoopback));
  if (refused) throw new OutboundError('address', `${hostname} resolves to an address that is not public`);
  return addresses[0]!;
}

/** The socket connects to the checked address, whatever a second resolution would say. */
function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
}

function requestBody(body: OutboundInit['body'], headers: Headers): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (body instanceof URLSearchParams) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
    return Buffer.from(body.toString());
  }
  return typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
}

async function readBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new OutboundError('too_large', `the response is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > maxBytes) throw new OutboundError('too_large', `the response is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function responseHeaders(response: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) headers.append(name, item);
  }
  return headers;
}

/**
 * The one fetch for URLs a client or an operator gave us (client ID metadata documents, JWKS
 * URLs, logout endpoints): the host is resolved here and every address checked, the connection
 * goes to the checked address (so a second DNS answer cannot point it elsewhere), redirects are
 * refused, and the exchange is bounded in time and size. Certificates are verified for the name.
 */
export function createGuardedFetch(options: OutboundOptions): GuardedFetch {
  const resolve = options.resolve ?? systemResolver;
  const ca = options.ca?.length ? [...rootCertificates, ...options.ca] : undefined;

  return async function guardedFetch(input, init = {}) {
    const url = parseTarget(input);
    const timeoutMs = init.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBytes = init.maxBytes ?? options.maxBytes ?? DEFAULT_MAX_BYTES;
    const signals = [AbortSignal.timeout(timeoutMs), ...(init.signal ? [init.signal] : [])];
    const signal = AbortSignal.any(signals);
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const pinned = await checkedAddress(hostname, resolve, options.allowLoopback);
    const headers = new Headers(init.headers);
    headers.set('accept-encoding', 'identity');
    if (!headers.get('user-agent')) headers.set('user-agent', 'Ostiary');
    const body = requestBody(init.body, headers);
    const method = (init.method ?? 'GET').toUpperCase();

    return new Promise<Response>((resolvePromise, reject) => {
      const fail = (error: unknown) => reject(error instanceof OutboundError ? error : new OutboundError('network', 'the fetch failed', { cause: error }));
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)({
        protocol: url.protocol,
        hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method,
        headers: Object.fromEntries(headers),
        lookup: pinnedLookup(pinned),
        ...(isIP(hostname) ? {} : { servername: hostname }),
        ...(ca ? { ca } : {}),
        agent: false,
      });
      const abort = () => request.destroy(new OutboundError('timeout', `no complete answer within ${timeoutMs} ms`));
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      request.on('socket', (socket) => {
        socket.once('connect', () => {
          if (socket.remoteAddress && !mayConnect(socket.remoteAddress, options.allowLoopback)) {
            request.destroy(new OutboundError('address', 'connected to an address that is not public'));
          }
        });
      });
      request.on('error', (error) => {
        signal.removeEventListener('abort', abort);
        fail(error);
      });
      request.on('response', (response) => {
        const done = () => signal.removeEventListener('abort', abort);
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 599) {
          done();
          response.destroy();
          request.destroy();
          return fail(new OutboundError('network', `the server answered status ${status}`));
        }
        if (status >= 300 && status < 400) {
          done();
          response.destroy();
          request.destroy();
          return fail(new OutboundError('redirect', `the server answered ${status}: redirects are not followed`));
        }
        readBody(response, maxBytes).then(
          (buffer) => {
            done();
            // A Response with a body may not have a null-body status (204, 205, 304).
            const empty = method === 'HEAD' || status === 204 || status === 205 || status === 304;
            try {
              resolvePromise(new Response(empty ? null : buffer, { status, statusText: response.statusMessage ?? '', headers: responseHeaders(response) }));
            } catch (error) {
              fail(new OutboundError('network', 'the answer could not be read', { cause: error }));
            }
          },
          (error) => {
            done();
            request.destroy();
            fail(signal.aborted ? new OutboundError('timeout', `no complete answer within ${timeoutMs} ms`) : error);
          },
        );
      });
      request.end(body);
    });
  };
}
