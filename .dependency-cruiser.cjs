/**
 * The layering of src/ (README, "Architecture"), checked by `npm test`:
 *   composition (main.ts, server.ts, services.ts) -> fronts -> services -> store, db and vocabulary.
 * Type-only imports count.
 */
const FRONTS = '(admin|cli|demo|interactions|oidc|observability|http|security)';
const SERVICES = '(api-keys|apis|assertions|audit|backup|check|clients|config-file|grants|jobs|keys|mail|mfa|outbound|roles|secrets|upstreams|users)';
const BELOW = '(provider-store|db|config|scopes|metrics|i18n)';

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'No import cycles, type-only ones included.', from: {}, to: { circular: true } },
    {
      name: 'services-below-fronts',
      severity: 'error',
      comment: 'Services never depend on a front (routes, commands, pages, the provider host) or on the composition root.',
      from: { path: `^src/(${SERVICES.slice(1, -1)}|${BELOW.slice(1, -1)})/` },
      to: { path: [`^src/${FRONTS}/`, '^src/(main|server|services)\\.ts$'] },
    },
    {
      name: 'store-and-db-below-services',
      severity: 'error',
      comment: 'The store, the database layer and the shared vocabulary depend on no service.',
      from: { path: `^src/${BELOW}/` },
      to: { path: `^src/${SERVICES}/` },
    },
    {
      name: 'errors-at-the-bottom',
      severity: 'error',
      comment: 'The error table is imported by everyone and imports nothing of ours.',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'entry-files-only',
      severity: 'error',
      comment: "A folder is reached through its index.ts; its other files are its own business.",
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'root-files-use-entry-files',
      severity: 'error',
      comment: 'The composition root, too, reaches folders through their index.ts.',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/[^/]+/', pathNot: '^src/[^/]+/index\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/db/generated/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
