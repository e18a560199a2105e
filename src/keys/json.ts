import { fingerprint } from './material.ts';
import type { KeyRow } from './model.ts';

export interface SigningKeySummary {
  kid: string;
  alg: string;
  state: string;
  fingerprint: string;
  createdAt: Date;
  activatesAt: Date | null;
  activatedAt: Date | null;
  retiresAt: Date | null;
  retiredAt: Date | null;
  removesAt: Date | null;
  removedAt: Date | null;
  revokedAt: Date | null;
}

/** A key as `keys list` shows it: no key material, the public key's fingerprint. */
export function summary(row: KeyRow): SigningKeySummary {
  const { publicJwk, privateJwkEncrypted: _, generation: __, ...rest } = row;
  return { ...rest, fingerprint: fingerprint(publicJwk) };
}

/** The snake_case JSON form shared by the CLI and the admin API. */
export const signingKeyJson = (k: SigningKeySummary) => ({
  kid: k.kid,
  state: k.state,
  alg: k.alg,
  fingerprint: k.fingerprint,
  created_at: k.createdAt,
  activates_at: k.activatesAt,
  activated_at: k.activatedAt,
  retires_at: k.retiresAt,
  retired_at: k.retiredAt,
  removes_at: k.removesAt,
  removed_at: k.removedAt,
  revoked_at: k.revokedAt,
});
