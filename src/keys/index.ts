import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { isUniqueViolation, notFound } from '../errors.ts';
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

/** Thrown inside a transaction when another instance changed the row first. */
class LostRace extends Error {}

export function createSigningKeys(db: Database, secrets: Secrets, policy: KeyPolicy, clock: () => Date = () => new Date()) {
  const byState = (state: KeyState) => db.signingKey.findFirst({ where: { alg: SIGNING_ALG, state }, orderBy: { generation: 'desc' } });

  /** Adds a key; returns null when another instance added this generation first. */
  async function create(state: 'next' | 'current', times: { activatesAt?: Date; activatedAt?: Date; retiresAt?: Date }): Promise<KeyRow | null> {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const latest = await db.signingKey.findFirst({ where: { alg: SIGNING_ALG }, orderBy: { generation: 'desc' }, select: { generation: true } });
    try {
      return await db.signingKey.create({
        data: {
          kid,
          alg: SIGNING_ALG,
          state,
          generation: (latest?.generation ?? -1) + 1,
          publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: SIGNING_ALG, use: 'sig' },
          privateJwkEncrypted: secrets.seal(JSON.stringify({ ...jwk, kid, alg: SIGNING_ALG, use: 'sig' }), sealContext(kid)),
          ...times,
        },
      });
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  /** next -> current and current -> retired in one transaction; false if another instance did it. */
  async function promote(next: KeyRow, current: KeyRow | null): Promise<boolean> {
    const now = clock();
    try {
      await db.$transaction(async (tx) => {
        const promoted = await tx.signingKey.updateMany({
          where: { kid: next.kid, state: 'next' },
          data: { state: 'current', activatedAt: now, retiresAt: later(now, policy.rotationInterval) },
        });
        if (promoted.count !== 1) throw new LostRace();
        if (!current) return;
        const retired = await tx.signingKey.updateMany({
          where: { kid: current.kid, state: 'current' },
          data: { state: 'retired', retiredAt: now, removesAt: later(now, policy.retention) },
        });
        if (retired.count !== 1) throw new LostRace();
      });
      return true;
    } catch (error) {
      if (error instanceof LostRace) return false;
      throw error;
    }
  }

  async function ensureCurrent(): Promise<KeyRow | null> {
    if (await byState('current')) return null;
    const now = clock();
    const next = await byState('next');
    if (next) return (await promote(next, null)) ? next : null;
    return create('current', { activatedAt: now, retiresAt: later(now, policy.rotationInterval) });
  }

  /** Grants that had a code or token issued since `since`: what a key active since then signed for. */
  async function revokeGrantsSince(since: Date): Promise<number> {
    const rows = await db.oidcPayload.findMany({
      where: { type: { in: TOKEN_MODELS }, createdAt: { gte: since }, grantId: { not: null } },
      select: { grantId: true },
      distinct: ['grantId'],
    });
    const grantIds = rows.map((r) => r.grantId!);
    if (grantIds.length === 0) return 0;
    await db.oidcPayload.deleteMany({ where: { OR: [{ grantId: { in: grantIds } }, { type: 'Grant', id: { in: grantIds } }] } });
    return grantIds.length;
  }

  return {
    /** Creates the first signing key when none is current. Returns it when this call created it. */
    async ensureCurrent(): Promise<SigningKeySummary | null> {
      const row = await ensureCurrent();
      return row && summary(row);
    },

    /**
     * Performs every transition that is due, on the schedule the rows carry. Safe to run on
     * every instance at once: each transition is a conditional write that only one can win.
     */
    async tick(): Promise<Transition[]> {
      const done: Transition[] = [];
      const now = clock();
      const created = await ensureCurrent();
      if (created) done.push({ kid: created.kid, from: created.state === 'next' ? 'next' : null, to: 'current' });

      const current = await byState('current');
      let next = await byState('next');
      const retiresAt = current?.retiresAt ?? later(current?.activatedAt ?? now, policy.rotationInterval);
      if (current && !next && now.getTime() >= retiresAt.getTime() - policy.prepublish * 1000) {
        // Published at least `prepublish` before it signs, even after downtime.
        const activatesAt = new Date(Math.max(retiresAt.getTime(), later(now, policy.prepublish).getTime()));
        next = await create('next', { activatesAt });
        if (next) done.push({ kid: next.kid, from: null, to: 'next' });
      }
      if (current && next?.activatesAt && now >= next.activatesAt && (await promote(next, current))) {
        done.push({ kid: next.kid, from: 'next', to: 'current' }, { kid: current.kid, from: 'current', to: 'retired' });
      }

      const expired = await db.signingKey.findMany({ where: { state: 'retired', removesAt: { lte: now } } });
      for (const key of expired) {
        const { count } = await db.signingKey.updateMany({ where: { kid: key.kid, state: 'retired' }, data: { state: 'removed', removedAt: now } });
        if (count === 1) done.push({ kid: key.kid, from: 'retired', to: 'removed' });
      }
      return done;
    },

    /**
     * Rotates now: the next key (made if there is none) becomes current, the current retires.
     * Concurrent calls perform one rotation between them.
     */
    async rotate(): Promise<{ current: string; retired: string | null; rotated: boolean }> {
      const current = await byState('current');
      const next = (await byState('next')) ?? (await create('next', { activatesAt: clock() })) ?? (await byState('next'));
      if (!next) throw new Error('no next key could be created');
      const rotated = await promote(next, current);
      const now = await byState('current');
      return { current: now?.kid ?? next.kid, retired: rotated ? (current?.kid ?? null) : null, rotated };
    },

    /**
     * Emergency: removes a key from the JWKS at once and revokes the grants that used it.
     * A revoked current key is replaced immediately so signing continues.
     */
    async revoke(kid: string): Promise<{ kid: string; revokedGrants: number; current: string | null }> {
      const key = await db.signingKey.findUnique({ where: { kid } });
      if (!key || key.state === 'removed') throw notFound(`no published signing key ${kid}`);
      const now = clock();
      await db.signingKey.updateMany({ where: { kid, state: key.state }, data: { state: 'removed', removedAt: now, revokedAt: now } });
      if (key.state === 'current') await ensureCurrent();
      const revokedGrants = key.state === 'next' ? 0 : await revokeGrantsSince(key.activatedAt ?? key.createdAt);
      return { kid, revokedGrants, current: (await byState('current'))?.kid ?? null };
    },

    /** Private JWKs for the provider's keystore: the signing key first, then the others published. */
    async privateJwks(): Promise<{ keys: JWK[] }> {
      const rows = await db.signingKey.findMany({ where: { state: { in: PUBLISHED } }, orderBy: { generation: 'desc' } });
      rows.sort((a, b) => PUBLISHED.indexOf(a.state as KeyState) - PUBLISHED.indexOf(b.state as KeyState));
      return { keys: rows.map((row) => JSON.parse(secrets.open(row.privateJwkEncrypted, sealContext(row.kid))) as JWK) };
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
