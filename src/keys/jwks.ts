import type { JWK } from 'jose';
import type { Database } from '../db/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { PUBLISHED, sealContext, type KeyState } from './model.ts';

/** The published keys as the provider's keystore and the JWKS see them. */
export function createJwks(db: Database, secrets: Secrets) {
  return {
    /** Private JWKs for the provider's keystore: the signing key first, then the others published. */
    async privateJwks(): Promise<{ keys: JWK[] }> {
      const rows = await db.signingKey.findMany({ where: { state: { in: PUBLISHED } }, orderBy: { generation: 'desc' } });
      rows.sort((a, b) => PUBLISHED.indexOf(a.state as KeyState) - PUBLISHED.indexOf(b.state as KeyState));
      return { keys: rows.map((row) => JSON.parse(secrets.open(row.privateJwkEncrypted, sealContext(row.kid))) as JWK) };
    },

    /** The public keys of the JWKS (no private material). */
    async publicJwks(): Promise<{ keys: JWK[] }> {
      const rows = await db.signingKey.findMany({ where: { state: { in: PUBLISHED } }, select: { publicJwk: true } });
      return { keys: rows.map((row) => row.publicJwk as JWK) };
    },

    /** Changes whenever the published keys or their states change: cheap to poll. */
    async publishedVersion(): Promise<string> {
      const rows = await db.signingKey.findMany({ where: { state: { in: PUBLISHED } }, select: { kid: true, state: true }, orderBy: { kid: 'asc' } });
      return rows.map((r) => `${r.kid}:${r.state}`).join(',');
    },
  };
}
