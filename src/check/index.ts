import type { Config } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { keyPolicy, type SigningKeySummary } from '../keys/index.ts';
import type { ClientView } from '../clients/index.ts';
import { checkFromInside } from './inside.ts';

export { checkFromOutside } from './outside.ts';
export type { CheckItem, CheckStatus } from './item.ts';

/** The self-check from inside: what the configuration, the key and client services and the database say. */
export function createChecks(deps: {
  config: Config;
  db: Database;
  provider: 'sqlite' | 'postgresql';
  signingKeys: { list(): Promise<SigningKeySummary[]> };
  clients: { list(): Promise<ClientView[]> };
  migrationsPending: () => Promise<string[]>;
}) {
  return {
    async inside() {
      const pendingMigrations = await deps.migrationsPending().catch(() => ['every one (the database has no migration table)']);
      // A database behind on its migrations may lack the tables: then there are no keys and clients to check.
      const unlessBehind = <T>(read: Promise<T[]>) => (pendingMigrations.length ? read.catch(() => [] as T[]) : read);
      const [keys, clients] = await Promise.all([unlessBehind(deps.signingKeys.list()), unlessBehind(deps.clients.list())]);
      const longestClientTtl = Math.max(0, ...clients.flatMap((c) => [c.accessTokenTtl ?? 0, c.idTokenTtl ?? 0]));
      const corsOrigins = [...new Set(clients.flatMap((c) => c.redirectUris.map((u) => URL.parse(u)?.origin).filter((o): o is string => !!o && o !== 'null')))];
      const { config, db, provider } = deps;
      return checkFromInside({ config, db, provider, policy: keyPolicy(config), keys, pendingMigrations, longestClientTtl, corsOrigins, now: new Date() });
    },
  };
}
