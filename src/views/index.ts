import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

export { registerStylesheet } from './assets.ts';

/**
 * One template engine for every page: Fastify routes render through @fastify/view with this
 * instance, and the provider's own pages (errors, logout) call `render` directly.
 * `<%= %>` escapes HTML; templates never use the raw form for request data.
 */
export function createViews() {
  const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true });
  return {
    eta,
    render: (page: string, data: Record<string, unknown>) => eta.renderAsync(page, data),
  };
}

export type Views = ReturnType<typeof createViews>;
