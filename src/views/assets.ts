import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Branding } from './branding.ts';

const VIEWS_DIR = new URL('../../views/', import.meta.url);
/** @simplewebauthn/browser's one-file build: the WebAuthn ceremonies in the browser (`SimpleWebAuthnBrowser`). */
const WEBAUTHN_BUNDLE = new URL('../dist/bundle/index.umd.min.js', `file://${createRequire(import.meta.url).resolve('@simplewebauthn/browser')}`);

/**
 * What our pages load: our stylesheet, the brand's (generated from the configuration), the
 * brand's logo file, and the two scripts of the passkey buttons (the WebAuthn library and ours),
 * each read once at start. Browsers cache ours for an hour; the brand's assets are addressed by
 * a hash of their content, so they may be cached for good.
 */
export async function registerAssets(app: FastifyInstance, branding: Branding): Promise<void> {
  const [css, passkeyScript, webauthn] = await Promise.all([
    readFile(new URL('ostiary.css', VIEWS_DIR), 'utf8'),
    readFile(new URL('passkey.js', VIEWS_DIR), 'utf8'),
    readFile(WEBAUTHN_BUNDLE, 'utf8'),
  ]);
  const asset = (reply: FastifyReply, type: string, maxAge: number) =>
    reply.type(type).header('cache-control', `public, max-age=${maxAge}`).header('content-security-policy', branding.csp);
  app.get('/assets/ostiary.css', async (_request, reply) => asset(reply, 'text/css; charset=utf-8', 3600).send(css));
  app.get('/assets/passkey.js', async (_request, reply) => asset(reply, 'text/javascript; charset=utf-8', 3600).send(passkeyScript));
  app.get('/assets/webauthn.js', async (_request, reply) => asset(reply, 'text/javascript; charset=utf-8', 3600).send(webauthn));
  app.get('/assets/brand.css', async (_request, reply) => asset(reply, 'text/css; charset=utf-8', 86_400).send(branding.stylesheet));
  const { logoFile } = branding;
  if (logoFile) app.get(logoFile.path, async (_request, reply) => asset(reply, logoFile.contentType, 86_400).send(logoFile.bytes));
}
