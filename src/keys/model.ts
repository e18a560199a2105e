import type { Database, Transaction } from '../db/index.ts';

export type KeyState = 'next' | 'current' | 'retired' | 'removed';
/** One signing algorithm today; keys are per alg so ES256/PS256/EdDSA can be added beside it. */
export const SIGNING_ALG = 'RS256';

/** States whose public key is in the JWKS, in keystore order: the signing key first. */
export const PUBLISHED: KeyState[] = ['current', 'next', 'retired'];

export type KeyRow = Awaited<ReturnType<Database['signingKey']['findFirstOrThrow']>>;

export interface Transition {
  kid: string;
  from: KeyState | null;
  to: KeyState;
}

export const later = (date: Date, seconds: number) => new Date(date.getTime() + seconds * 1000);
export const sealContext = (kid: string) => `signing-key:${kid}`;

/** The newest key of the algorithm in a state. */
export const byState = (tx: Transaction | Database, state: KeyState) =>
  tx.signingKey.findFirst({ where: { alg: SIGNING_ALG, state }, orderBy: { generation: 'desc' } });
