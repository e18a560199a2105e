import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 bits from the CSPRNG, base64url. Shown once; only its SHA-256 is stored. */
export const generateClientSecret = () => randomBytes(32).toString('base64url');

export const hashClientSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Hashes the presented secret and compares the digests in constant time. */
export function clientSecretMatches(storedHash: string, presented: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = createHash('sha256').update(presented).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
