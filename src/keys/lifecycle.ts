import type { Actor, Audit } from '../audit/index.ts';
import { type Database, type Transaction, withLock } from '../db/index.ts';
import { fail } from '../errors.ts';
import type { Grants } from '../grants/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { generateKeyMaterial, type KeyMaterial } from './material.ts';
import { byState, later, sealContext, SIGNING_ALG, type KeyRow, type Transition } from './model.ts';
import type { KeyPolicy } from './policy.ts';

const LOCK = 'signing-keys';

type Schedule = Partial<Pick<KeyRow, 'activatesAt' | 'activatedAt' | 'retiresAt'>>;
type MaterialSource = () => Promise<KeyMaterial>;

export interface LifecycleDeps {
  db: Database;
  secrets: Secrets;
  policy: KeyPolicy;
  grants: Pick<Grants, 'revokeIssuedSince'>;
  audit: Audit;
  clock: () => Date;
}

/** Lifecycle next -> current -> retired -> removed, one transition at a time under the lock. */
export function createLifecycle({ db, secrets, policy, grants, audit, clock }: LifecycleDeps) {
  /** Whether a next key is due beside a current one that retires at `retiresAt`. */
  const nextDue = (now: Date, retiresAt: Date) => now.getTime() >= retiresAt.getTime() - policy.prepublish * 1000;

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
  async function ensureCurrentLocked(tx: Transaction, material: MaterialSource): Promise<Transition | null> {
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

  /** Beside the current key: publishes the next one when due, and promotes it when its time has come. */
  async function advance(tx: Transaction, current: KeyRow, now: Date, material: MaterialSource): Promise<Transition[]> {
    const done: Transition[] = [];
    let next = await byState(tx, 'next');
    const retiresAt = current.retiresAt ?? later(current.activatedAt ?? now, policy.rotationInterval);
    if (!next && nextDue(now, retiresAt)) {
      // Published at least `prepublish` before it signs, even after downtime.
      const activatesAt = new Date(Math.max(retiresAt.getTime(), later(now, policy.prepublish).getTime()));
      next = await insert(tx, await material(), 'next', { activatesAt });
      done.push({ kid: next.kid, from: null, to: 'next' });
    }
    if (next?.activatesAt && now >= next.activatesAt) {
      await promote(tx, next, current, now);
      done.push({ kid: next.kid, from: 'next', to: 'current' }, { kid: current.kid, from: 'current', to: 'retired' });
    }
    return done;
  }

  /** Retired keys past their removal time leave the JWKS. */
  async function removeExpired(tx: Transaction, now: Date): Promise<Transition[]> {
    const expired = await tx.signingKey.findMany({ where: { state: 'retired', removesAt: { lte: now } } });
    for (const key of expired) await tx.signingKey.update({ where: { kid: key.kid }, data: { state: 'removed', removedAt: now } });
    return expired.map((key): Transition => ({ kid: key.kid, from: 'retired', to: 'removed' }));
  }

  async function tickLocked(tx: Transaction, now: Date, material: MaterialSource): Promise<Transition[]> {
    const ensured = await ensureCurrentLocked(tx, material);
    const current = await byState(tx, 'current');
    const advanced = current ? await advance(tx, current, now, material) : [];
    return [...(ensured ? [ensured] : []), ...advanced, ...(await removeExpired(tx, now))];
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
    const newKey = current ? !next && nextDue(now, retiresAt!) : !next;
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
      return withLock(db, LOCK, (tx) => tickLocked(tx, now, async () => material ?? generateKeyMaterial()));
    },

    /**
     * Rotates now: the next key (made if there is none) becomes current, the current retires.
     * Calls that overlap perform one rotation between them: a call that finds the current key
     * changed since it started leaves it alone.
     */
    async rotate(actor: Actor): Promise<{ current: string; retired: string | null; rotated: boolean }> {
      const seen = await byState(db, 'current');
      const material = await generateKeyMaterial();
      return withLock(db, LOCK, async (tx) => {
        const current = await byState(tx, 'current');
        if (seen && current?.kid !== seen.kid) return { current: current?.kid ?? '', retired: null, rotated: false };
        const now = clock();
        const next = (await byState(tx, 'next')) ?? (await insert(tx, material, 'next', { activatesAt: now }));
        await promote(tx, next, current, now);
        await audit.change(actor, { type: 'signing_key.rotated', details: { current: next.kid, retired: current?.kid ?? null } }, tx);
        return { current: next.kid, retired: current?.kid ?? null, rotated: true };
      });
    },

    /**
     * Emergency: removes a key from the JWKS at once and revokes the grants that used it (those
     * that had a code or token issued since it became active). A revoked current key is
     * replaced immediately so signing continues.
     */
    async revoke(kid: string, actor: Actor): Promise<{ kid: string; revokedGrants: number; current: string | null }> {
      const material = await generateKeyMaterial();
      const key = await withLock(db, LOCK, async (tx) => {
        const row = await tx.signingKey.findUnique({ where: { kid } });
        if (!row || row.state === 'removed') throw fail('signing_key.not_found', `no published signing key ${kid}`);
        const now = clock();
        await tx.signingKey.update({ where: { kid }, data: { state: 'removed', removedAt: now, revokedAt: now } });
        await ensureCurrentLocked(tx, async () => material);
        return row;
      });
      const revokedGrants = key.state === 'next' ? 0 : await grants.revokeIssuedSince(key.activatedAt ?? key.createdAt);
      await audit.change(actor, { type: 'signing_key.revoked', details: { kid, revokedGrants } });
      return { kid, revokedGrants, current: (await byState(db, 'current'))?.kid ?? null };
    },
  };
}
