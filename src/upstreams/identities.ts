import { randomUUID } from 'node:crypto';
import type { Actor, Audit } from '../audit/index.ts';
import type { Database, Transaction } from '../db/index.ts';
import { fail, isUniqueViolation, OstiaryError } from '../errors.ts';
import type { Roles } from '../roles/index.ts';
import type { Users } from '../users/index.ts';
import type { UpstreamIdentityClaims } from './claims.ts';
import type { UpstreamRuntime } from './store.ts';

/** What a sign-in through an upstream comes to. */
export type SignInOutcome =
  /** A person whose identity there is linked (or was just created): they are signed in. */
  | { outcome: 'signed_in'; userId: string; created: boolean }
  /** An account has the address the upstream verified: its owner confirms with the password before the two are linked. */
  | { outcome: 'confirm_link'; userId: string; email: string };

export interface LinkedUpstream {
  slug: string;
  name: string;
  email: string | null;
  linkedAt: Date;
  lastSignInAt: Date | null;
}

interface Deps {
  db: Database;
  audit: Audit;
  users: Users;
  roles: Roles;
  /** How many passkeys the person has (a way in of their own). */
  passkeyCount(userId: string): Promise<number>;
}

/**
 * Which person an upstream identity is (table UpstreamIdentity): found by the upstream's subject,
 * created just in time where the upstream allows it, or linked to an existing account only after
 * its owner proves it with the password; never silently by address.
 */
export function createUpstreamIdentities({ db, audit, users, roles, passkeyCount }: Deps) {
  /** Gives the upstream's default roles the person does not hold yet. */
  async function grantDefaultRoles(upstream: UpstreamRuntime, userId: string, actor: Actor): Promise<void> {
    if (upstream.defaultRoles.length === 0) return;
    const held = new Set((await roles.of({ userId })).map((role) => role.name));
    for (const name of upstream.defaultRoles.filter((role) => !held.has(role))) {
      try {
        await roles.grant(name, { userId }, actor);
      } catch (error) {
        // A role deleted since, or granted meanwhile by another sign-in: the sign-in goes on.
        if (!(error instanceof OstiaryError) && !isUniqueViolation(error)) throw error;
      }
    }
  }

  async function insertIdentity(upstream: UpstreamRuntime, identity: UpstreamIdentityClaims, userId: string, tx: Transaction | Database) {
    await tx.upstreamIdentity.create({ data: { id: randomUUID(), upstreamId: upstream.slug, subject: identity.subject, userId, email: identity.email ?? null, lastSignInAt: new Date() } });
  }

  return {
    /**
     * The person behind `identity`. Refusals are typed: `upstream.no_account` (no account and no
     * sign-up through this upstream), `upstream.email_missing`, `upstream.email_unverified` (the
     * upstream does not vouch for the address: it neither links nor creates an account, whether or
     * not one has the address), `upstream.account_disabled`. Nothing is changed for a person
     * found or to be linked until the sign-in completes (`signedIn`, `link`).
     */
    async signIn(upstream: UpstreamRuntime, identity: UpstreamIdentityClaims, visitor: Omit<Actor, 'id'>): Promise<SignInOutcome> {
      const actor = (userId: string): Actor => ({ ...visitor, id: `user:${userId}` });
      const linked = await db.upstreamIdentity.findUnique({ where: { upstreamId_subject: { upstreamId: upstream.slug, subject: identity.subject } }, select: { id: true, userId: true } });
      if (linked) {
        if (!(await users.isActive(linked.userId))) throw fail('upstream.account_disabled', 'the account linked to this identity is disabled');
        return { outcome: 'signed_in', userId: linked.userId, created: false };
      }
      if (!identity.email) throw fail('upstream.email_missing', 'the upstream gave no email address for the person');
      // Said before looking the address up: the answer tells nobody whether it has an account.
      if (!identity.emailVerified) throw fail('upstream.email_unverified', 'the upstream does not say the address is verified');
      const existing = await db.user.findUnique({ where: { email: identity.email }, select: { id: true, disabled: true } });
      if (existing) {
        if (existing.disabled) throw fail('upstream.account_disabled', 'the account with this address is disabled');
        return { outcome: 'confirm_link', userId: existing.id, email: identity.email };
      }
      if (!upstream.jit) throw fail('upstream.no_account', 'no account has this address, and this upstream does not create accounts');
      const created = await users.createWithoutPassword(
        { email: identity.email, name: identity.name, emailVerified: identity.emailVerified },
        { ...visitor, id: 'system' },
        async (tx, user) => {
          await insertIdentity(upstream, identity, user.id, tx);
          await audit.change(actor(user.id), { type: 'upstream.linked', subject: user.id, details: { upstream: upstream.slug, how: 'created' } }, tx);
        },
      );
      await grantDefaultRoles(upstream, created.id, actor(created.id));
      return { outcome: 'signed_in', userId: created.id, created: true };
    },

    /** A completed sign-in through a linked identity: when, and the address the upstream gave this time. */
    async signedIn(upstreamId: string, subject: string, email: string | undefined): Promise<void> {
      await db.upstreamIdentity.updateMany({ where: { upstreamId, subject }, data: { lastSignInAt: new Date(), email: email ?? null } });
    },

    /** Links `identity` to `userId`, whose owner has just proved the account is theirs (password, and second factor where they have one). */
    async link(upstream: UpstreamRuntime, identity: UpstreamIdentityClaims, userId: string, actor: Actor): Promise<void> {
      try {
        await db.$transaction(async (tx) => {
          await insertIdentity(upstream, identity, userId, tx);
          await audit.change(actor, { type: 'upstream.linked', subject: userId, details: { upstream: upstream.slug, how: 'password' } }, tx);
        });
      } catch (error) {
        // Linked meanwhile (the same callback twice), or the account has another identity there.
        if (isUniqueViolation(error)) throw fail('upstream.already_linked', 'the account or the identity is linked already');
        throw error;
      }
      await grantDefaultRoles(upstream, userId, actor);
    },

    /** The upstreams the person signs in through, by name. */
    async linkedTo(userId: string): Promise<LinkedUpstream[]> {
      const rows = await db.upstreamIdentity.findMany({ where: { userId }, select: { email: true, createdAt: true, lastSignInAt: true, upstream: { select: { id: true, name: true } } }, orderBy: { createdAt: 'asc' } });
      return rows.map((row) => ({ slug: row.upstream.id, name: row.upstream.name, email: row.email, linkedAt: row.createdAt, lastSignInAt: row.lastSignInAt }));
    },

    /** The upstream the person last signed in through (the `idp` claim of a federated sign-in). */
    async lastUsed(userId: string): Promise<string | undefined> {
      const row = await db.upstreamIdentity.findFirst({ where: { userId }, orderBy: { lastSignInAt: 'desc' }, select: { upstreamId: true } });
      return row?.upstreamId;
    },

    /**
     * Unlinks one upstream, as long as another way in remains: a password, a passkey or another
     * upstream. A person with a password confirms with it (a stolen session cannot cut the owner off).
     */
    async unlink(userId: string, slug: string, confirm: () => Promise<void>, actor: Actor): Promise<void> {
      const [identities, user, passkeys] = await Promise.all([
        db.upstreamIdentity.findMany({ where: { userId }, select: { id: true, upstreamId: true } }),
        db.user.findUnique({ where: { id: userId }, select: { hasPassword: true } }),
        passkeyCount(userId),
      ]);
      const target = identities.find((identity) => identity.upstreamId === slug);
      if (!user || !target) throw fail('upstream.not_linked', 'the account is not linked to this upstream');
      if (!user.hasPassword && passkeys === 0 && identities.length <= 1) throw fail('upstream.last_way_in', 'this upstream is the only way into the account: set a password or add a passkey first');
      if (user.hasPassword) await confirm();
      await db.$transaction(async (tx) => {
        await tx.upstreamIdentity.delete({ where: { id: target.id } });
        // Counted again after the delete: two unlinks at once cannot both take the last way in.
        if (!user.hasPassword && passkeys === 0 && (await tx.upstreamIdentity.count({ where: { userId } })) === 0) {
          throw fail('upstream.last_way_in', 'this upstream is the only way into the account: set a password or add a passkey first');
        }
        await audit.change(actor, { type: 'upstream.unlinked', subject: userId, details: { upstream: slug } }, tx);
      });
    },

    /** Whether the person has a password of their own (people created through an upstream may not). */
    hasPassword: async (userId: string): Promise<boolean> => Boolean((await db.user.findUnique({ where: { id: userId }, select: { hasPassword: true } }))?.hasPassword),
  };
}

export type UpstreamIdentities = ReturnType<typeof createUpstreamIdentities>;
