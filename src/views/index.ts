import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { pageCsp } from '../security/index.ts';
import type { Branding } from './branding.ts';

export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

export { registerAssets } from './assets.ts';
export { contrast, createBranding, textOn, type Branding, type PageBrand } from './branding.ts';

/**
 * One template engine for every page: Fastify routes render through @fastify/view with this
 * instance (and `context` as its default context), and the provider's own pages (errors,
 * logout) call `render` directly. `<%= %>` escapes HTML; templates never use the raw form for
 * request data. Pages get the brand as `it.brand`; mails need no branding but their words.
 */
export function createViews(branding?: Branding) {
  const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true });
  const context: Record<string, unknown> = branding ? { brand: branding.page } : {};
  return {
    eta,
    context,
    /** The CSP of every page these views render. */
    csp: branding?.csp ?? pageCsp(),
    render: (page: string, data: Record<string, unknown>) => eta.renderAsync(page, { ...context, ...data }),
  };
}

export type Views = ReturnType<typeof createViews>;
