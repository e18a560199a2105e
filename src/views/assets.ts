import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { PAGE_CSP } from '../security/index.ts';

const VIEWS_DIR = new URL('../../views/', import.meta.url);

/** The stylesheet our pages use, read once at start and cached by browsers for an hour. */
export async function registerStylesheet(app: FastifyInstance): Promise<void> {
  const css = await readFile(new URL('ostiary.css', VIEWS_DIR), 'utf8');
  app.get('/assets/ostiary.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').header('content-security-policy', PAGE_CSP).send(css),
  );
}
