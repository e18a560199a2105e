import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Database } from '../db/index.ts';
import type { Secrets } from '../secrets/index.ts';

export type KeyState = 'next' | 'current' | 'retired' | 'removed';
export const SIGNING_ALG = 'RS256';

/** States whose public key is published in the JWKS, signing key first. */
const PUBLISHED: KeyState[] = ['current', 'next', 'retired'];

export interface SigningKeySummary {
  kid: string;
  alg: string;
  state: string;
  createdAt: Date;
}

const sealContext = (kid: string) => `signing-key:${kid}`;

export function createSigningKeys(db: Database, secrets: Secrets) {
  async function create(state: KeyState): Promise<SigningKeySummary> {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const privateJwk = { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' };
    const publicJwk = { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: SIGNING_ALG, use: 'sig' };
    return db.signingKey.create({
      data: { kid, alg: SIGNING_ALG, state, publicJwk, privateJwkEncrypted: secrets.seal(JSON.stringify(privateJwk), sealContext(kid)) },
      select: { kid: true, alg: true, state: true, createdAt: true },
    });
  }

  async function published() {
    const rows = await db.signingKey.findMany({ where: { state: { in: PUBLISHED } }, orderBy: { createdAt: 'asc' } });
    return rows.sort((a, b) => PUBLISHED.indexOf(a.state as KeyState) - PUBLISHED.indexOf(b.state as KeyState));
  }

  return {
    /** Creates the first signing key when none is current. Returns it when created. */
    async ensureCurrent(): Promise<SigningKeySummary | null> {
      if (await db.signingKey.count({ where: { state: 'current' } })) return null;
      return create('current');
    },

    /** Private JWKs for the provider's keystore: the signing key first, then the others published. */
    async privateJwks(): Promise<{ keys: JWK[] }> {
      const rows = await published();
      return { keys: rows.map((row) => JSON.parse(secrets.open(row.privateJwkEncrypted, sealContext(row.kid))) as JWK) };
    },

    async list(): Promise<SigningKeySummary[]> {
      return db.signingKey.findMany({ select: { kid: true, alg: true, state: true, createdAt: true }, orderBy: { createdAt: 'asc' } });
    },
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;
