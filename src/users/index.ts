import { randomBytes, randomUUID } from 'node:crypto';
import { createTtlCache, pageOf, pageQuery, unstorable, type Database, type Page, type PageRequest } from '../db/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import { changedFields, type Actor, type Audit } from '../audit/index.ts';
import type { Grants } from '../grants/index.ts';
import type { Roles } from '../roles/index.ts';
import { checkPassword, dummyPasswordHash, hashPassword, MAX_PASSWORD_INPUT, needsRehash, verifyPassword, type PasswordPolicy } from './passwords.ts';
import { checkEmails } from './email-check.ts';
import { emailKey, normalizeEmail } from './email.ts';
import { cleanName } from './names.ts';
import type { Transaction } from '../db/index.ts';
import { isLocale, type Locale } from '../i18n/index.ts';
import { lockedUntilAfter, type LockoutPolicy } from '../config/index.ts';

export { emailKey, normalizeEmail } from './email.ts';
export { MAX_PASSWORD_LENGTH, type PasswordPolicy } from './passwords.ts';
export { createPasswordResets, type PasswordResets, type ResetLink } from './password-reset.ts';
export { createLinks, type Links } from './links.ts';
export { createSignups, type Signups, type VerificationLink } from './signup.ts';
export { createAccounts, type Accounts, type AccountOverview } from './account.ts';
export type { UserMail, UserMailTemplate } from './user-mail.ts';
export type { EmailCheck, EmailProblem } from './email-check.ts';

export interface UserView {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  disabled: boolean;
  roles: string[];
  createdAt: Date;
}

const SELECT = {
  id: true,
  email: true,
  emailVerified: true,
  name: true,
  disabled: true,
  createdAt: true,
  roles: { select: { role: { select: { name: true } } } },
} as const;

function view({ roles, ...user }: { roles: { role: { name: string } }[] } & Omit<UserView, 'roles'>): UserView {
  return { ...user, roles: roles.map((r) => r.role.name).sort() };
}

export interface UserPatch {
  name?: string | null;
  emailVerified?: boolean;
  disabled?: boolean;
  roles?: readonly string[];
}


export type AuthResult =
  | { ok: true; user: UserView }
  | { ok: false; reason: 'unknown_email' | 'wrong_password' | 'locked' | 'disabled' | 'unverified'; userId?: string; lockedUntil?: Date };

export interface NewUser {
  email: string;
  password: string;
  name?: string;
  emailVerified?: boolean;
  roles?: readonly string[];
  /** The language of mails to this person. */
  locale?: string;
}


/** How long another process may go on taking a disabled person for active at introspection (this one forgets at once). */
export const ACTIVE_CACHE_MS = 1000;

export interface UserPolicies {
  lockout: LockoutPolicy;
  passwordPolicy: PasswordPolicy;
  /** Sign-in refuses people whose address is not verified (`reason: 'unverified'`). */
  requireVerifiedEmail?: boolean;
}

export function createUsers(db: Database, roles: Roles, { lockout, passwordPolicy, requireVerifiedEmail = false }: UserPolicies, grants: Grants, audit: Audit) {
  // Introspection asks on every request; disabling also revokes the grants at once, everywhere.
  const active = createTtlCache<boolean>(ACTIVE_CACHE_MS);

  /** Counts a failure; from the threshold on, locks for an exponentially growing time. */
  async function recordFailure(userId: string, now: Date): Promise<{ lockedUntil?: Date }> {
    const { failedLogins } = await db.user.update({ where: { id: userId }, data: { failedLogins: { increment: 1 } }, select: { failedLogins: true } });
    const lockedUntil = lockedUntilAfter(lockout, failedLogins, now);
    if (!lockedUntil) return {};
    await db.user.update({ where: { id: userId }, data: { lockedUntil } });
    return { lockedUntil };
  }

  /** By id, or by email when it has an @. */
  const whereUser = (idOrEmail: string) => (idOrEmail.includes('@') ? { email: normalizeEmail(idOrEmail) } : { id: idOrEmail });

  async function findById(id: string): Promise<UserView | null> {
    const row = unstorable(id) ? null : await db.user.findUnique({ where: { id }, select: SELECT });
    return row && view(row);
  }

  /**
   * The same view for the provider's findAccount, read on every token request: the person's row
   * in one statement, their role names from the roles every token's claims already read (kept
   * for a second by each instance).
   */
  async function accountById(id: string): Promise<UserView | null> {
    const { roles: _relation, ...profile } = SELECT;
    const row = unstorable(id) ? null : await db.user.findUnique({ where: { id }, select: profile });
    if (!row) return null;
    return { ...row, roles: (await roles.of({ userId: id })).map((role) => role.name).sort() };
  }

  async function resolve(idOrEmail: string): Promise<UserView> {
    const row = unstorable(idOrEmail) ? null : await db.user.findFirst({ where: whereUser(idOrEmail), select: SELECT });
    if (!row) throw fail('user.not_found', `no user ${idOrEmail}`);
    return view(row);
  }

  async function insert(input: Omit<NewUser, 'password' | 'name'> & { name: string | null }, passwordHash: string, hasPassword: boolean, actor: Actor, alsoIn?: (tx: Transaction, user: UserView) => Promise<unknown>): Promise<UserView> {
    const roleIds = await roles.idsOf(input.roles ?? []);
    const data = {
      id: randomUUID(),
      email: input.email,
      name: input.name,
      locale: input.locale ?? null,
      emailVerified: input.emailVerified ?? false,
      passwordHash,
      hasPassword,
      roles: { create: roleIds.map((roleId) => ({ roleId })) },
    };
    try {
      return await db.$transaction(async (tx) => {
        const user = view(await tx.user.create({ data, select: SELECT }));
        await audit.change(actor, { type: 'user.created', subject: user.id }, tx);
        await alsoIn?.(tx, user);
        return user;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw fail('user.email_taken', `a user with email ${input.email} already exists`, { field: 'email' });
      throw error;
    }
  }

  return {
    resolve,

    /** A new person; `alsoIn` runs in the same transaction (e.g. using up an invitation). */
    async create(input: NewUser, actor: Actor, alsoIn?: (tx: Transaction) => Promise<void>): Promise<UserView> {
      const email = normalizeEmail(input.email);
      const name = cleanName(input.name);
      checkPassword(input.password, passwordPolicy, [email, name ?? '']);
      return insert({ ...input, email, name }, await hashPassword(input.password), true, actor, alsoIn);
    },

    /**
     * A new person without a password (they came through an upstream provider): the stored hash
     * is of a random value nobody knows, so no password signs in until they set one.
     */
    async createWithoutPassword(input: Omit<NewUser, 'password'>, actor: Actor, alsoIn?: (tx: Transaction, user: UserView) => Promise<unknown>): Promise<UserView> {
      const email = normalizeEmail(input.email);
      const name = cleanName(input.name);
      return insert({ ...input, email, name }, await hashPassword(randomBytes(32).toString('base64url')), false, actor, alsoIn);
    },

    async page(request: PageRequest & { email?: string }): Promise<Page<UserView>> {
      const where = request.email ? { email: normalizeEmail(request.email) } : {};
      const rows = await db.user.findMany({ where, select: SELECT, orderBy: { id: 'asc' }, ...pageQuery(request) });
      return pageOf(rows, request, view);
    },

    /** Changes what is given. Roles, when given, replace the user's roles. */
    async update(idOrEmail: string, patch: UserPatch, actor: Actor): Promise<UserView> {
      const user = await resolve(idOrEmail);
      const roleIds = patch.roles ? await roles.idsOf(patch.roles) : undefined;
      const data = {
        ...(patch.name !== undefined ? { name: cleanName(patch.name) } : {}),
        ...(patch.emailVerified !== undefined ? { emailVerified: patch.emailVerified } : {}),
        ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
        ...(roleIds ? { roles: { deleteMany: {}, create: roleIds.map((roleId) => ({ roleId })) } } : {}),
      };
      await db.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data });
        await audit.change(actor, { type: 'user.updated', subject: user.id, details: { fields: changedFields(patch, { emailVerified: 'email_verified' }) } }, tx);
      });
      active.forget(user.id);
      if (roleIds) roles.changed();
      // A disabled person keeps no session, grant or token: each would still introspect as active.
      if (patch.disabled) await grants.endEverything(user.id);
      return resolve(user.id);
    },

    /** Whether tokens of `id` may still be honoured: the person exists and is not disabled. */
    async isActive(id: string): Promise<boolean> {
      if (unstorable(id)) return false;
      return active.get(id, async () => {
        const row = await db.user.findUnique({ where: { id }, select: { disabled: true } });
        return row !== null && !row.disabled;
      });
    },

    /** Stored addresses not in normal form, refused, or colliding; `fix` rewrites the clean ones, as `actor`. */
    checkEmails: (fix?: { actor: Actor }) => checkEmails(db, audit, fix),

    /** A user's grants, to one client or to all, with everything issued under them; returns how many. */
    async revokeGrants(idOrEmail: string, clientId: string | undefined, actor: Actor): Promise<{ user: UserView; revoked: number }> {
      const user = await resolve(idOrEmail);
      const revoked = await grants.revokeForUser(user.id, clientId);
      await audit.change(actor, { type: 'user.grants_revoked', subject: user.id, clientId: clientId ?? null, details: { revoked } });
      return { user, revoked };
    },

    async list(): Promise<UserView[]> {
      return (await db.user.findMany({ select: SELECT, orderBy: { createdAt: 'asc' } })).map(view);
    },

    findById,
    accountById,

    /** Where and in which language to write to a person (their stored locale, else `fallback`). */
    async contactOf(id: string, fallback: Locale): Promise<{ email: string; locale: Locale } | null> {
      const row = unstorable(id) ? null : await db.user.findUnique({ where: { id }, select: { email: true, locale: true, disabled: true } });
      return row && !row.disabled ? { email: row.email, locale: isLocale(row.locale) ? row.locale : fallback } : null;
    },

    /** By id or email. */
    async setPassword(idOrEmail: string, password: string, actor: Actor): Promise<UserView> {
      const user = await resolve(idOrEmail);
      checkPassword(password, passwordPolicy, [user.email, user.name ?? '']);
      const passwordHash = await hashPassword(password);
      await db.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data: { passwordHash, hasPassword: true } });
        await audit.change(actor, { type: 'user.password_changed', subject: user.id }, tx);
      });
      return user;
    },

    /**
     * Checks an email and password. Unknown emails, wrong passwords, locked and disabled
     * accounts all cost the same hashing work and look alike to the caller's user; the reason is
     * returned for the audit trail only. Failures count towards a temporary lock.
     */
    async authenticate(email: string, password: string): Promise<AuthResult> {
      const key = emailKey(email);
      const user = password.length <= MAX_PASSWORD_INPUT && key ? await db.user.findUnique({ where: { email: key } }) : null;
      const valid = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password);
      if (!user) return { ok: false, reason: 'unknown_email' };
      const now = new Date();
      const locked = user.lockedUntil !== null && user.lockedUntil > now;
      if (user.disabled) return { ok: false, reason: 'disabled', userId: user.id };
      if (!valid) return { ok: false, reason: locked ? 'locked' : 'wrong_password', userId: user.id, ...(await recordFailure(user.id, now)) };
      if (locked) return { ok: false, reason: 'locked', userId: user.id };
      const rehash = needsRehash(user.passwordHash) ? { passwordHash: await hashPassword(password) } : {};
      // Written only when something changes: a sign-in that clears nothing writes nothing.
      if (user.failedLogins !== 0 || user.lockedUntil !== null || rehash.passwordHash) {
        await db.user.update({ where: { id: user.id }, data: { failedLogins: 0, lockedUntil: null, ...rehash } });
      }
      // Said only after the right password: it tells nothing to someone guessing addresses.
      if (requireVerifiedEmail && !user.emailVerified) return { ok: false, reason: 'unverified', userId: user.id };
      return { ok: true, user: (await findById(user.id))! };
    },
  };
}

export type Users = ReturnType<typeof createUsers>;

/** The snake_case JSON form shared by the CLI and the admin API. */
export const userJson = (u: UserView) => ({
  id: u.id,
  email: u.email,
  email_verified: u.emailVerified,
  name: u.name,
  disabled: u.disabled,
  roles: u.roles,
  created_at: u.createdAt,
});
