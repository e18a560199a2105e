import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { SIGNING_ALG } from './model.ts';

export interface KeyMaterial {
  kid: string;
  publicJwk: JWK;
  privateJwk: JWK;
}

/** RSA generation is slow (tens of ms): done before taking the lock, kept only if needed. */
export async function generateKeyMaterial(): Promise<KeyMaterial> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return {
    kid,
    publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: SIGNING_ALG, use: 'sig' },
    privateJwk: { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' },
  };
}

/** SHA-256 of the public key (SPKI DER), as hex: what `keys list` shows to compare keys by. */
export function fingerprint(publicJwk: unknown): string {
  const der = createPublicKey({ key: publicJwk as JWK & { kty: string }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}
