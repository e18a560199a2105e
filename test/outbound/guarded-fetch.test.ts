import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress, createGuardedFetch, OutboundError, type Resolver } from '../../src/outbound/index.ts';
import { startHttpsOrigin, type HttpsOrigin } from '../support/https-origin.ts';

describe('address classification', () => {
  it.each([
    '0.0.0.0', '10.1.2.3', '100.64.0.1', '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.0.0.8', '192.0.2.1',
    '192.168.1.1', '198.18.0.1', '198.51.100.7', '203.0.113.9', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255',
    '::', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1', 'fec0::1', '64:ff9b::a00:1', '2001:db8::1',
    '2002:a00:1::1', '2001::1', '100::1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '::10.0.0.1',
    '::8.8.8.8', 'not-an-ip', '3fff::1',
  ])('%s is refused', (address) => {
    expect(classifyAddress(address)).toBe('refused');
  });

  it.each(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1'])('%s is loopback', (address) => {
    expect(classifyAddress(address)).toBe('loopback');
  });

  it.each(['8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.1', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBe('public');
    },
  );
});

async function refusal(promise: Promise<unknown>): Promise<OutboundError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OutboundError);
    return error as OutboundError;
  }
  throw new Error('the fetch was not refused');
}

describe('the guarded fetch', () => {
  let origin: HttpsOrigin;
  const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];

  beforeAll(async () => {
    origin = await startHttpsOrigin();
    origin.json('/doc.json', { hello: 'world' }, { 'cache-control': 'max-age=60' });
    origin.route('/moved', (_req, res) => res.writeHead(302, { location: '/doc.json' }).end());
    origin.route('/big', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(10_000)));
    origin.route('/chunked-big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 10; i += 1) res.write('y'.repeat(1000));
      res.end();
    });
    origin.route('/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      // never ends: the timeout must cut it
    });
    origin.route('/reset-content', (_req, res) => res.writeHead(205).end());
    origin.route('/odd-status', (_req, res) => res.writeHead(799).end('x'));
    origin.route('/echo', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${req.headers['content-type']} ${body}`));
    });
  });
  afterAll(async () => origin.close());

  it('fetches from an allowed loopback origin, verifying its certificate', async () => {
    const fetch = createGuardedFetch({ allowLoopback: true, ca: [origin.ca] });
    const response = await fetch(`${origin.origin}/doc.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('max-age=60');
    expect(await response.json()).toEqual({ hello: 'world' });
  });

  it('answers a null-body status without a body, and refuses a status HTTP does not have', async () => {
    const fetch = createGuardedFetch({ allowLoopback: true, ca: [origin.ca] });
    expect((await fetch(`${origin.origin}/reset-content`)).status).toBe(205);
    await expect(fetch(`${origin.origin}/odd-status`)).rejects.toMatchObject({ reason: 'network' });
  });

  it('refuses a host resolving to loopback when loopback is not allowed, before connecting', async () => {
    const before = origin.hits.get('/doc.json') ?? 0;
    const fetch = createGuardedFetch({ allowLoopback: false, resolve: toLoopback, ca: [origin.ca] });
    expect((await refusal(fetch(`https://client.example.com:${origin.port}/doc.json`))).reason).toBe('address');
    expect((await refusal(fetch(`${origin.origin}/doc.json`))).reason).toBe('address');
    expect((await refusal(fetch(`https://127.0.0.1:${origin.port}/doc.json`))).reason).toBe('address');
    expect((await refusal(fetch(`https://[::ffff:127.0.0.1]:${origin.port}/doc.json`))).reason).toBe('address');
    expect(origin.hits.get('/doc.json') ?? 0).toBe(before);
  });

  it('refuses a host when any of its addresses is private', async () => {
    const mixed: Resolver = async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ];
    const fetch = createGuardedFetch({ allowLoopback: false, resolve: mixed });
    expect((await refusal(fetch('https://mixed.example.com/doc.json'))).reason).toBe('address');
  });

  it('connects to the address it checked, not to a second answer', async () => {
    let calls = 0;
    // First answer loopback (allowed here), later answers a private address: only one lookup is made.
    const rebinding: Resolver = async () => (calls++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.0.0.1', family: 4 }]);
    const fetch = createGuardedFetch({ allowLoopback: true, resolve: rebinding, ca: [origin.ca] });
    const response = await fetch(`https://localhost:${origin.port}/doc.json`);
    expect(response.status).toBe(200);
    expect(calls).toBe(1);
  });

  it('refuses redirects, oversize bodies (declared or streamed) and slow answers', async () => {
    const fetch = createGuardedFetch({ allowLoopback: true, ca: [origin.ca], maxBytes: 5000, timeoutMs: 500 });
    expect((await refusal(fetch(`${origin.origin}/moved`))).reason).toBe('redirect');
    expect((await refusal(fetch(`${origin.origin}/big`))).reason).toBe('too_large');
    expect((await refusal(fetch(`${origin.origin}/chunked-big`))).reason).toBe('too_large');
    expect((await refusal(fetch(`${origin.origin}/slow`))).reason).toBe('timeout');
  });

  it('refuses other schemes, credentials in URLs, names that do not resolve and untrusted certificates', async () => {
    const fetch = createGuardedFetch({ allowLoopback: true });
    expect((await refusal(fetch('file:///etc/passwd'))).reason).toBe('url');
    expect((await refusal(fetch(`https://user:pw@localhost:${origin.port}/doc.json`))).reason).toBe('url');
    const nowhere = createGuardedFetch({ allowLoopback: true, resolve: async () => [] });
    expect((await refusal(nowhere('https://nowhere.example/doc.json'))).reason).toBe('resolution');
    expect((await refusal(fetch(`${origin.origin}/doc.json`))).reason).toBe('network');
  });

  it('sends a method and a form body', async () => {
    const fetch = createGuardedFetch({ allowLoopback: true, ca: [origin.ca] });
    const response = await fetch(`${origin.origin}/echo`, { method: 'POST', body: new URLSearchParams({ logout_token: 'x' }) });
    expect(await response.text()).toBe('POST application/x-www-form-urlencoded logout_token=x');
  });
});
