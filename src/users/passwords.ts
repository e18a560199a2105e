import argon2 from 'argon2';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as commonWords from '@zxcvbn-ts/language-common';
import * as englishWords from '@zxcvbn-ts/language-en';
import { fail } from '../errors.ts';

// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** The longest new password (NIST SP 800-63B asks for at least 64). */
export const MAX_PASSWORD_LENGTH = 256;
/** The longest password a sign-in compares: passwords set before the 256 limit may be longer. */
export const MAX_PASSWORD_INPUT = 1024;
/**
 * zxcvbn's score (0-4) a new password must reach: 3 is "safely unguessable", about 10^8
 * guesses, which the common-password lists, names, words, dates, keyboard walks and l33t
 * variants it matches all stay below.
 */
const MIN_STRENGTH_SCORE = 3;

export interface PasswordPolicy {
  /** PASSWORD_MIN_LENGTH: characters (code points) a new password needs at least. */
  readonly minLength: number;
}

/**
 * The estimator, built on first use (its dictionaries take a fifth of a second to load).
 * Only the first 64 characters are estimated and l33t substitutions are bounded: unbounded,
 * one 256-character password holds the event loop for a second.
 */
let estimator: ZxcvbnFactory | undefined;
const strength = () =>
  (estimator ??= new ZxcvbnFactory({
    dictionary: { ...commonWords.dictionary, ...englishWords.dictionary },
    graphs: commonWords.adjacencyGraphs,
    maxLength: 64,
    l33tMaxSubstitutions: 8,
  }));

/**
 * The rules every new password follows, whoever sets it (NIST SP 800-63B): a minimum and a
 * maximum length, no composition rules, and no password an offline attacker would guess early:
 * common and breached-looking ones, or ones built from the person's own email or name (`context`).
 */
export function checkPassword(password: string, policy: PasswordPolicy, context: readonly string[] = []): void {
  const length = [...password].length;
  const limits = { min: String(policy.minLength), max: String(MAX_PASSWORD_LENGTH) };
  if (length < policy.minLength) throw fail('user.password_too_short', `password must be at least ${policy.minLength} characters`, { field: 'password', params: limits });
  if (length > MAX_PASSWORD_LENGTH) throw fail('user.password_too_long', `password must be at most ${MAX_PASSWORD_LENGTH} characters`, { field: 'password', params: limits });
  const hints = context.flatMap((value) => [value, ...value.split(/[@.\s_-]+/)]).filter((hint) => hint.length >= 3);
  if (strength().check(password, hints).score < MIN_STRENGTH_SCORE) {
    throw fail('user.password_too_weak', 'password is too easy to guess: it is common, or made of words, names, dates or patterns; use a longer phrase of unrelated words', { field: 'password' });
  }
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
