import argon2 from 'argon2';
import { fail } from '../errors.ts';

// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/** The length rules every new password follows, whoever sets it. */
export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw fail('user.password_too_short', `password must be at least ${MIN_PASSWORD_LENGTH} characters`, { field: 'password' });
  if (password.length > MAX_PASSWORD_LENGTH) throw fail('user.password_too_long', `password must be at most ${MAX_PASSWORD_LENGTH} characters`, { field: 'password' });
}

export const hashPassword = (password: string) => argon2.hash(password, OPTIONS);

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

export const needsRehash = (hash: string) => argon2.needsRehash(hash, OPTIONS);

/** A hash of nothing anyone knows, verified when an email is unknown so timing does not tell. */
let dummyHash: Promise<string> | undefined;
export const dummyPasswordHash = () => (dummyHash ??= hashPassword(`unknown-user-${Math.random()}`));
