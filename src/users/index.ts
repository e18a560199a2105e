import { randomUUID } from 'node:crypto';
import type { Database } from '../db/index.ts';
import { conflict, invalidInput, isUniqueViolation, notFound } from '../errors.ts';
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
  createdAt: Date;
}

const VIEW = { id: true, email: true, emailVerified: true, name: true, disabled: true, createdAt: true } as const;

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

export function createUsers(db: Database) {
  return {
    async create(input: { email: string; password: string; name?: string; emailVerified?: boolean }): Promise<UserView> {
      const email = normalizeEmail(input.email);
      checkPassword(input.password);
      try {
        return await db.user.create({
          data: {
            id: randomUUID(),
            email,
            name: input.name?.trim() || null,
            emailVerified: input.emailVerified ?? false,
            passwordHash: await hashPassword(input.password),
          },
          select: VIEW,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(`a user with email ${email} already exists`);
        throw error;
      }
    },

    async list(): Promise<UserView[]> {
      return db.user.findMany({ select: VIEW, orderBy: { createdAt: 'asc' } });
    },

    async findById(id: string): Promise<UserView | null> {
      return db.user.findUnique({ where: { id }, select: VIEW });
    },

    /** By id or email. */
    async setPassword(idOrEmail: string, password: string): Promise<UserView> {
      checkPassword(password);
      const passwordHash = await hashPassword(password);
      const where = idOrEmail.includes('@') ? { email: normalizeEmail(idOrEmail) } : { id: idOrEmail };
      const { count } = await db.user.updateMany({ where, data: { passwordHash } });
      if (count === 0) throw notFound(`no user ${idOrEmail}`);
      return (await db.user.findFirst({ where, select: VIEW }))!;
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
      const { passwordHash: _, ...view } = user;
      return view;
    },
  };
}

export type Users = ReturnType<typeof createUsers>;
