import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Branding } from './branding.ts';

const VIEWS_DIR = new URL('../../views/', import.meta.url);

/**
 * What our pages load: our stylesheet, the brand's (generated from the configuration) and the
 * brand's logo file, each read once at start. Browsers cache ours for an hour; the brand's
 * assets are addressed by a hash of their content, so they may be cached for good.
 */
export async function registerStylesheet(app: FastifyInstance, branding: Branding): Promise<void> {
  const css = await readFile(new URL('ostiary.css', VIEWS_DIR), 'utf8');
  const asset = (reply: FastifyReply, type: string, maxAge: number) =>
    reply.type(type).header('cache-control', `public, max-age=${maxAge}`).header('content-security-policy', branding.csp);
  app.get('/assets/ostiary.css', async (_request, reply) => asset(reply, 'text/css; charset=utf-8', 3600).send(css));
  app.get('/assets/brand.css', async (_request, reply) => asset(reply, 'text/css; charset=utf-8', 86_400).send(branding.stylesheet));
  const { logoFile } = branding;
  if (logoFile) app.get(logoFile.path, async (_request, reply) => asset(reply, logoFile.contentType, 86_400).send(logoFile.bytes));
}
