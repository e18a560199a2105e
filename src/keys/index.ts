import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { notFound } from '../errors.ts';
import type { Grants } from '../grants/index.ts';
import { withLock, type Transaction } from '../db/lock.ts';
import type { Secrets } from '../secrets/index.ts';

export type KeyState = 'next' | 'current' | 'retired' | 'removed';
/** One signing algorithm today; keys are per alg so ES256/PS256/EdDSA can be added beside it. */
export const SIGNING_ALG = 'RS256';

/** States whose public key is in the JWKS, in keystore order: the signing key first. */
const PUBLISHED: KeyState[] = ['current', 'next', 'retired'];
/** oidc-provider's default clock tolerance: a token is accepted this long after its exp. */
const CLOCK_TOLERANCE_SECONDS = 15;
/** Bearer models whose rows show a grant was used while a key signed. */
const TOKEN_MODELS = ['AuthorizationCode', 'AccessToken', 'RefreshToken'];

export interface KeyPolicy {
  rotationInterval: number;
  prepublish: number;
  /** How long a retired key stays published: until everything it signed has expired. */
  retention: number;
}

export function keyPolicy(config: Config): KeyPolicy {
  const longestToken = Math.max(config.ttl.accessToken, config.ttl.idToken);
  return {
    rotationInterval: config.keys.rotationInterval,
    prepublish: config.keys.prepublish,
    // Another instance may sign with a retired key until it reloads; its tokens then live their TTL.
    retention: longestToken + config.keys.reload + CLOCK_TOLERANCE_SECONDS,
  };
}

type KeyRow = Awaited<ReturnType<Database['signingKey']['findFirstOrThrow']>>;

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

export interface Transition {
  kid: string;
  from: KeyState | null;
  to: KeyState;
}

const later = (date: Date, seconds: number) => new Date(date.getTime() + seconds * 1000);
const sealContext = (kid: string) => `signing-key:${kid}`;

/** SHA-256 of the public key (SPKI DER), as hex: what `keys list` shows to compare keys by. */
function fingerprint(publicJwk: unknown): string {
  const der = createPublicKey({ key: publicJwk as JWK & { kty: string }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

function summary(row: KeyRow): SigningKeySummary {
  const { publicJwk, privateJwkEncrypted: _, generation: __, ...rest } = row;
  return { ...rest, fingerprint: fingerprint(publicJwk) };
}

const LOCK = 'signing-keys';

interface KeyMaterial {
  kid: string;
  publicJwk: JWK;
  privateJwk: JWK;
}

/** RSA generation is slow (tens of ms): done before taking the lock, kept only if needed. */
async function generateKeyMaterial(): Promise<KeyMaterial> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return {
    kid,
    publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: SIGNING_ALG, use: 'sig' },
    privateJwk: { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' },
  };
}

export function createSigningKeys(db: Database, secrets: Secrets, policy: KeyPolicy, grants: Pick<Grants, 'revoke'>, clock: () => Date = () => new Date()) {
  const byState = (tx: Transaction | Database, state: KeyState) =>
    tx.signingKey.findFirst({ where: { alg: SIGNING_ALG, state }, orderBy: { generation: 'desc' } });

  type Schedule = Partial<Pick<KeyRow, 'activatesAt' | 'activatedAt' | 'retiresAt'>>;

  async function insert(tx: Transaction, material: KeyMaterial, state: 'next' | 'current', times: Schedule): Promise<KeyRow> {
    const latest = await tx.signingKey.findFirst({ where: { alg: SIGNING_ALG }, orderBy: { generation: 'desc' }, select: { generation: true } });
    return tx.signingKey.create({
      data: {
        kid: material.kid,
        alg: SIGNING_ALG,
        state,
        generation: (latest?.generation ?? -1) + 1,
        publicJwk: material.publicJwk as object,
        privateJwkEncrypted: secrets.seal(JSON.stringify(material.privateJwk), sealContext(material.kid)),
        ...times,
      },
    });
  }

  /** next -> current, and the current (if any) -> retired. Caller holds the lock. */
  async function promote(tx: Transaction, next: KeyRow, current: KeyRow | null, now: Date): Promise<void> {
    await tx.signingKey.update({
      where: { kid: next.kid },
      data: { state: 'current', activatedAt: now, retiresAt: later(now, policy.rotationInterval) },
    });
    if (current) {
      await tx.signingKey.update({
        where: { kid: current.kid },
        data: { state: 'retired', retiredAt: now, removesAt: later(now, policy.retention) },
      });
    }
  }

  /** Makes sure a key signs: promotes a waiting next key, or adds one. Caller holds the lock. */
  async function ensureCurrentLocked(tx: Transaction, material: () => Promise<KeyMaterial>): Promise<Transition | null> {
    if (await byState(tx, 'current')) return null;
    const now = clock();
    const next = await byState(tx, 'next');
    if (next) {
      await promote(tx, next, null, now);
      return { kid: next.kid, from: 'next', to: 'current' };
    }
    const row = await insert(tx, await material(), 'current', { activatedAt: now, retiresAt: later(now, policy.rotationInterval) });
    return { kid: row.kid, from: null, to: 'current' };
  }

  /** Grants that had a code or token issued since `since`: what a key active since then signed for. */
  async function revokeGrantsSince(since: Date): Promise<number> {
    const rows = await db.oidcPayload.findMany({
      where: { type: { in: TOKEN_MODELS }, createdAt: { gte: since }, grantId: { not: null } },
      select: { grantId: true },
      distinct: ['grantId'],
    });
    return grants.revoke(rows.map((r) => r.grantId!));
  }

  /**
   * What is due, judged without the lock (and judged again under it): most ticks find nothing
   * and take no lock at all.
   */
  async function due(now: Date): Promise<{ any: boolean; newKey: boolean }> {
    const [current, next, expired] = await Promise.all([
      byState(db, 'current'),
      byState(db, 'next'),
      db.signingKey.count({ where: { state: 'retired', removesAt: { lte: now } } }),
    ]);
    const retiresAt = current && (current.retiresAt ?? later(current.activatedAt ?? current.createdAt, policy.rotationInterval));
    const newKey = current ? !next && now.getTime() >= retiresAt!.getTime() - policy.prepublish * 1000 : !next;
    const promotion = Boolean(next?.activatesAt && now >= next.activatesAt);
    return { any: !current || newKey || promotion || expired > 0, newKey };
  }

  return {
    /** Creates the first signing key when none is current. Returns the transition when this call made one. */
    async ensureCurrent(): Promise<Transition | null> {
      if (await byState(db, 'current')) return null;
      const material = await generateKeyMaterial();
      return withLock(db, LOCK, (tx) => ensureCurrentLocked(tx, async () => material));
    },

    /**
     * Performs every transition that is due, on the schedule the rows carry. Every instance
     * runs it; the lock makes each transition happen once.
     */
    async tick(): Promise<Transition[]> {
      const now = clock();
      const { any, newKey } = await due(now);
      if (!any) return [];
      const material = newKey ? await generateKeyMaterial() : undefined;
      const need = async () => material ?? generateKeyMaterial();
      return withLock(db, LOCK, async (tx) => {
        const done: Transition[] = [];
        const ensured = await ensureCurrentLocked(tx, need);
        if (ensured) done.push(ensured);

        const current = await byState(tx, 'current');
        let next = await byState(tx, 'next');
        const retiresAt = current?.retiresAt ?? later(current?.activatedAt ?? now, policy.rotationInterval);
        if (current && !next && now.getTime() >= retiresAt.getTime() - policy.prepublish * 1000) {
          // Published at least `prepublish` before it signs, even after downtime.
          const activatesAt = new Date(Math.max(retiresAt.getTime(), later(now, policy.prepublish).getTime()));
          next = await insert(tx, await need(), 'next', { activatesAt });
          done.push({ kid: next.kid, from: null, to: 'next' });
        }
        if (current && next?.activatesAt && now >= next.activatesAt) {
          await promote(tx, next, current, now);
          done.push({ kid: next.kid, from: 'next', to: 'current' }, { kid: current.kid, from: 'current', to: 'retired' });
        }

        const expired = await tx.signingKey.findMany({ where: { state: 'retired', removesAt: { lte: now } } });
        for (const key of expired) {
          await tx.signingKey.update({ where: { kid: key.kid }, data: { state: 'removed', removedAt: now } });
          done.push({ kid: key.kid, from: 'retired', to: 'removed' });
        }
        return done;
      });
    },

    /**
     * Rotates now: the next key (made if there is none) becomes current, the current retires.
     * Calls that overlap perform one rotation between them: a call that finds the current key
     * changed since it started leaves it alone.
     */
    async rotate(): Promise<{ current: string; retired: string | null; rotated: boolean }> {
      const seen = await byState(db, 'current');
      const material = await generateKeyMaterial();
      return withLock(db, LOCK, async (tx) => {
        const current = await byState(tx, 'current');
        if (seen && current?.kid !== seen.kid) return { current: current?.kid ?? '', retired: null, rotated: false };
        const now = clock();
        const next = (await byState(tx, 'next')) ?? (await insert(tx, material, 'next', { activatesAt: now }));
        await promote(tx, next, current, now);
        return { current: next.kid, retired: current?.kid ?? null, rotated: true };
      });
    },

    /**
     * Emergency: removes a key from the JWKS at once and revokes the grants that used it.
     * A revoked current key is replaced immediately so signing continues.
     */
    async revoke(kid: string): Promise<{ kid: string; revokedGrants: number; current: string | null }> {
      const material = await generateKeyMaterial();
      const key = await withLock(db, LOCK, async (tx) => {
        const row = await tx.signingKey.findUnique({ where: { kid } });
        if (!row || row.state === 'removed') throw notFound(`no published signing key ${kid}`);
        const now = clock();
        await tx.signingKey.update({ where: { kid }, data: { state: 'removed', removedAt: now, revokedAt: now } });
        await ensureCurrentLocked(tx, async () => material);
        return row;
      });
      const revokedGrants = key.state === 'next' ? 0 : await revokeGrantsSince(key.activatedAt ?? key.createdAt);
      return { kid, revokedGrants, current: (await byState(db, 'current'))?.kid ?? null };
    },

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

    async list(): Promise<SigningKeySummary[]> {
      return (await db.signingKey.findMany({ orderBy: { generation: 'asc' } })).map(summary);
    },

    /** Re-encrypts every private key under the first key-encryption key; returns how many changed. */
    async rewrap(): Promise<number> {
      const rows = await db.signingKey.findMany({ select: { kid: true, privateJwkEncrypted: true } });
      let changed = 0;
      for (const row of rows.filter((r) => !secrets.isCurrent(r.privateJwkEncrypted))) {
        const resealed = secrets.seal(secrets.open(row.privateJwkEncrypted, sealContext(row.kid)), sealContext(row.kid));
        const { count } = await db.signingKey.updateMany({
          where: { kid: row.kid, privateJwkEncrypted: row.privateJwkEncrypted },
          data: { privateJwkEncrypted: resealed },
        });
        changed += count;
      }
      return changed;
    },
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;

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
