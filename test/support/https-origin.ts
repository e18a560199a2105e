import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsIdentity {
  cert: string;
  key: string;
}

let identity: TlsIdentity | undefined;

/** A self-signed certificate for localhost and 127.0.0.1 (made once per test process with openssl). */
export function loopbackCertificate(): TlsIdentity {
  if (identity) return identity;
  const dir = mkdtempSync(join(tmpdir(), 'ostiary-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    identity = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
    return identity;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export interface HttpsOrigin {
  /** https://localhost:<port> */
  origin: string;
  port: number;
  /** The PEM the fetcher must trust. */
  ca: string;
  /** Answers `path` with this handler (replacing any earlier one). */
  route(path: string, handler: Handler): void;
  /** Serves `body` as JSON at `path`, with extra headers. */
  json(path: string, body: unknown, headers?: Record<string, string>): void;
  /** How many requests reached each path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** An HTTPS server on loopback standing for a client's (or an issuer's) web origin. */
export async function startHttpsOrigin(): Promise<HttpsOrigin> {
  const { cert, key } = loopbackCertificate();
  const routes = new Map<string, Handler>();
  const hits = new Map<string, number>();
  const server = createServer({ cert, key }, (request, response) => {
    const path = new URL(request.url ?? '/', 'https://localhost').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const handler = routes.get(path);
    if (!handler) {
      response.writeHead(404).end();
      return;
    }
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `https://localhost:${port}`,
    port,
    ca: cert,
    hits,
    route: (path, handler) => routes.set(path, handler),
    json(path, body, headers = {}) {
      routes.set(path, (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
