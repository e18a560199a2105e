import { randomUUID } from 'node:crypto';
import type { Database } from '../db/index.ts';
import { conflict, invalidInput, isUniqueViolation, notFound } from '../errors.ts';
import type { Roles } from '../roles/index.ts';
import {
  dummyPasswordHash,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  needsRehash,
  verifyPassword,
} from './passwords.ts';

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

// Deliberately loose (RFC 5322 is not a regex): one @, something on each side, a dot after it.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL.test(normalized) || normalized.length > 254) throw invalidInput(`invalid email address: ${email}`);
  return normalized;
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw invalidInput(`password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw invalidInput(`password must be at most ${MAX_PASSWORD_LENGTH} characters`);
}

export function createUsers(db: Database, roles: Roles) {
  /** By id, or by email when it has an @. */
  const whereUser = (idOrEmail: string) => (idOrEmail.includes('@') ? { email: normalizeEmail(idOrEmail) } : { id: idOrEmail });

  async function findById(id: string): Promise<UserView | null> {
    const row = await db.user.findUnique({ where: { id }, select: SELECT });
    return row && view(row);
  }

  async function resolve(idOrEmail: string): Promise<UserView> {
    const row = await db.user.findFirst({ where: whereUser(idOrEmail), select: SELECT });
    if (!row) throw notFound(`no user ${idOrEmail}`);
    return view(row);
  }

  return {
    resolve,

    async create(input: { email: string; password: string; name?: string; emailVerified?: boolean; roles?: readonly string[] }): Promise<UserView> {
      const email = normalizeEmail(input.email);
      checkPassword(input.password);
      const roleIds = await roles.idsOf(input.roles ?? []);
      try {
        return view(
          await db.user.create({
            data: {
              id: randomUUID(),
              email,
              name: input.name?.trim() || null,
              emailVerified: input.emailVerified ?? false,
              passwordHash: await hashPassword(input.password),
              roles: { create: roleIds.map((roleId) => ({ roleId })) },
            },
            select: SELECT,
          }),
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(`a user with email ${email} already exists`);
        throw error;
      }
    },

    async list(): Promise<UserView[]> {
      return (await db.user.findMany({ select: SELECT, orderBy: { createdAt: 'asc' } })).map(view);
    },

    findById,

    /** By id or email. */
    async setPassword(idOrEmail: string, password: string): Promise<UserView> {
      checkPassword(password);
      const passwordHash = await hashPassword(password);
      const { count } = await db.user.updateMany({ where: whereUser(idOrEmail), data: { passwordHash } });
      if (count === 0) throw notFound(`no user ${idOrEmail}`);
      return resolve(idOrEmail);
    },

    /**
     * The user whose email and password match, or null. Unknown emails, wrong passwords and
     * disabled accounts all return null after the same amount of hashing work.
     */
    async authenticate(email: string, password: string): Promise<UserView | null> {
      const normalized = email.trim().toLowerCase();
      const user =
        password.length <= MAX_PASSWORD_LENGTH && normalized.length <= 254
          ? await db.user.findUnique({ where: { email: normalized } })
          : null;
      const valid = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password);
      if (!user || !valid || user.disabled) return null;
      if (needsRehash(user.passwordHash)) {
        await db.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(password) } });
      }
      return (await findById(user.id))!;
    },
  };
}

export type Users = ReturnType<typeof createUsers>;
