import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('OpenTelemetry traces', () => {
  let collector: Server;
  const received: string[] = [];
  let server: TestServer;

  beforeAll(async () => {
    // A stand-in OTLP/HTTP collector on loopback that keeps what it is sent.
    collector = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push(`${request.method} ${request.url} ${body}`);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as { port: number };
    server = await startTestServer('sqlite', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'ostiary-test' });
  });
  afterAll(async () => {
    await server?.stop();
    collector?.close();
  });

  it('exports a span per request, named by route, when an OTLP endpoint is configured', async () => {
    await fetch(`${server.url}/.well-known/openid-configuration`);
    await fetch(`${server.url}/token`, { method: 'POST' });
    await fetch(`${server.url}/auth?client_id=x&code=trace-secret-code&login_hint=trace-secret-hint`);
    for (let i = 0; i < 50 && !received.some((r) => r.includes('/token')); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    const traces = received.filter((r) => r.startsWith('POST /v1/traces'));
    expect(traces.length).toBeGreaterThan(0);
    const all = traces.join('\n');
    expect(all).toContain('ostiary-test');
    expect(all).toContain('/token');
    expect(all).toContain('/.well-known/openid-configuration');
    for (let i = 0; i < 50 && !received.join('\n').includes('/auth?'); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    const withQuery = received.join('\n');
    expect(withQuery).toContain('client_id=x&code=[redacted]&login_hint=[redacted]');
    expect(withQuery).not.toMatch(/trace-secret/);
  });
});
