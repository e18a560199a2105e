import type { Database } from '../db/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { sealContext } from './model.ts';

/** Re-encrypts every private key under the first key-encryption key; returns how many changed. */
export async function rewrap(db: Database, secrets: Secrets, onProgress?: (done: number, total: number) => void): Promise<number> {
  const rows = await db.signingKey.findMany({ select: { kid: true, privateJwkEncrypted: true } });
  const stale = rows.filter((r) => !secrets.isCurrent(r.privateJwkEncrypted));
  let changed = 0;
  let done = 0;
  for (const row of stale) {
    const resealed = secrets.seal(secrets.open(row.privateJwkEncrypted, sealContext(row.kid)), sealContext(row.kid));
    // Conditional on the sealed value read: a key another instance rewrapped meanwhile is left alone.
    const { count } = await db.signingKey.updateMany({
      where: { kid: row.kid, privateJwkEncrypted: row.privateJwkEncrypted },
      data: { privateJwkEncrypted: resealed },
    });
    changed += count;
    onProgress?.(++done, stale.length);
  }
  return changed;
}
