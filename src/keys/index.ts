import type { Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import type { Grants } from '../grants/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { summary, type SigningKeySummary } from './json.ts';
import { createJwks } from './jwks.ts';
import { createLifecycle } from './lifecycle.ts';
import type { KeyPolicy } from './policy.ts';
import { rewrap } from './rewrap.ts';

export { signingKeyJson, type SigningKeySummary } from './json.ts';
export { sealContext, SIGNING_ALG, type KeyState, type Transition } from './model.ts';
export { keyPolicy, type KeyPolicy } from './policy.ts';

/** The signing keys: their lifecycle, the JWKS they publish, and their encryption at rest. */
export function createSigningKeys(
  db: Database,
  secrets: Secrets,
  policy: KeyPolicy,
  grants: Pick<Grants, 'revokeIssuedSince'>,
  audit: Audit,
  clock: () => Date = () => new Date(),
) {
  return {
    ...createLifecycle({ db, secrets, policy, grants, audit, clock }),
    ...createJwks(db, secrets),

    async list(): Promise<SigningKeySummary[]> {
      return (await db.signingKey.findMany({ orderBy: { generation: 'asc' } })).map(summary);
    },

    /** Re-encrypts every private key under the first key-encryption key; returns how many changed. */
    rewrap: (onProgress?: (done: number, total: number) => void) => rewrap(db, secrets, onProgress),
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;
export { startKeyScheduler, type KeyScheduler } from './scheduler.ts';
export { generateKeyMaterial, type KeyMaterial } from './material.ts';
