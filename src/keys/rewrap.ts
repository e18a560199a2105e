import type { Database } from '../db/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { sealContext } from './model.ts';

/** Re-encrypts every private key under the first key-encryption key; returns how many changed. */
export async function rewrap(db: Database, secrets: Secrets): Promise<number> {
  const rows = await db.signingKey.findMany({ select: { kid: true, privateJwkEncrypted: true } });
  let changed = 0;
  for (const row of rows.filter((r) => !secrets.isCurrent(r.privateJwkEncrypted))) {
    const resealed = secrets.seal(secrets.open(row.privateJwkEncrypted, sealContext(row.kid)), sealContext(row.kid));
    // Conditional on the sealed value read: a key another instance rewrapped meanwhile is left alone.
    const { count } = await db.signingKey.updateMany({
      where: { kid: row.kid, privateJwkEncrypted: row.privateJwkEncrypted },
      data: { privateJwkEncrypted: resealed },
    });
    changed += count;
  }
  return changed;
}
