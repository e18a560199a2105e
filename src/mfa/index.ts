import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { renderSVG } from 'uqr';
import type { Actor, Audit } from '../audit/index.ts';
import { lockedUntilAfter, type LockoutPolicy } from '../config/index.ts';
import type { Database, Transaction } from '../db/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import type { Locale } from '../i18n/index.ts';
import type { Secrets } from '../secrets/index.ts';
import { createPasskeys, type PasskeyView } from './passkeys.ts';

export type { PasskeyRefusal, PasskeySignIn, PasskeyView, Passkeys } from './passkeys.ts';

/** RFC 6238 as every authenticator app reads it: SHA-1, 6 digits, 30 seconds. */
const TOTP_SHAPE = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** One step either side: a phone's clock may be off by half a minute. */
const DRIFT_STEPS = 1;
const RECOVERY_CODES = 10;
/** Ten characters of this alphabet (50 bits), shown as two groups of five. */
const RECOVERY_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
const RECOVERY_FORM = /^[a-z2-9]{5}-?[a-z2-9]{5}$/;
const TOTP_FORM = /^\d{6}$/;
/** How long a setup may wait for its first code; after that it must be begun again (with the password). */
const SETUP_SECONDS = 600;

const sealContext = (userId: string) => `totp:${userId}`;

/** The mails this folder sends (src/mail's outbox, declared here as users/ does). */
export interface MfaMail {
  readonly transport: 'smtp' | 'files' | 'off';
  queue(template: 'recovery-code-used' | 'second-factor-changed', recipient: string, params: Readonly<Record<string, string>>, locale: Locale, actor: Actor): Promise<unknown>;
}

export interface MfaDeps {
  db: Database;
  secrets: Secrets;
  audit: Audit;
  mail: MfaMail;
  /** Where to tell a person about their second factor (src/users). */
  contactOf(userId: string): Promise<{ email: string; locale: Locale } | null>;
  /** Whether the person may sign in at all (src/users: exists, not disabled). */
  isActive(userId: string): Promise<boolean>;
  /** The name authenticator apps list the account under, and browsers show for a passkey. */
  issuerName: string;
  /** Passkeys belong to the issuer's host name and origin. */
  issuer: string;
  /** Wrong codes lock the second step like wrong passwords lock the first, on a counter of their own. */
  lockout: LockoutPolicy;
  clock?: () => Date;
}

/** An authenticator app being set up: what the person scans or types. */
export interface TotpSetup {
  uri: string;
  secret: string;
  /** The URI as a QR code, an SVG element (no script, no style). */
  qrSvg: string;
}

export type SecondFactorResult = { ok: true; method: 'otp' | 'recovery_code' } | { ok: false; reason: 'wrong_code' | 'replayed' | 'locked' | 'not_enrolled'; lockedUntil?: Date };

function recoveryCode(): string {
  const bytes = randomBytes(RECOVERY_CODES);
  const chars = [...bytes].map((b) => RECOVERY_ALPHABET[b % RECOVERY_ALPHABET.length]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

/**
 * Second factors (the `TotpFactor` and `RecoveryCode` tables): an authenticator app confirmed by
 * a first code, and ten single-use recovery codes, shown once. TOTP secrets are sealed under the
 * key-encryption keys; recovery codes are stored as an HMAC under a key derived from them.
 */
export function createMfa({ db, secrets, audit, mail, contactOf, isActive, issuerName, issuer, lockout, clock = () => new Date() }: MfaDeps) {
  const recoveryKey = secrets.derive('recovery codes');
  const digestOf = (code: string) => createHmac('sha256', recoveryKey).update(code.replace('-', '')).digest('base64url');

  /** Tells the person by mail, where mail is on. */
  async function tell(userId: string, template: Parameters<MfaMail['queue']>[0], params: Record<string, string>, actor: Actor) {
    const contact = mail.transport === 'off' ? null : await contactOf(userId);
    if (contact) await mail.queue(template, contact.email, params, contact.locale, actor);
  }

  const passkeys = createPasskeys({ db, audit, issuer, rpName: issuerName, clock, mayUse: isActive, tell: (userId, change, actor) => tell(userId, 'second-factor-changed', { change }, actor) });

  const totpOf = (label: string, secret: string) => new TOTP({ ...TOTP_SHAPE, issuer: issuerName, label, secret: Secret.fromBase32(secret) });

  function setupOf(label: string, secret: string): TotpSetup {
    const uri = totpOf(label, secret).toString();
    return { uri, secret, qrSvg: renderSVG(uri) };
  }

  /** Replaces the person's recovery codes, inside `tx`. */
  async function newRecoveryCodes(userId: string, tx: Transaction): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODES }, recoveryCode);
    const now = clock();
    await tx.recoveryCode.deleteMany({ where: { userId } });
    await tx.recoveryCode.createMany({ data: codes.map((code) => ({ id: randomUUID(), userId, codeHash: digestOf(code), createdAt: now })) });
    return codes;
  }

  /** The setup waiting for its first code, if it was begun recently enough. */
  async function pendingFactor(userId: string) {
    const factor = await db.totpFactor.findUnique({ where: { userId } });
    const fresh = factor && !factor.confirmedAt && factor.createdAt.getTime() > clock().getTime() - SETUP_SECONDS * 1000;
    if (!fresh) throw fail('mfa.totp_not_started', 'no authenticator app is being set up');
    return factor;
  }

  /** Counts a wrong code; from the threshold on, locks the second step for an exponentially growing time. */
  async function recordFailure(userId: string, now: Date): Promise<Date | undefined> {
    const { failedAttempts } = await db.totpFactor.update({ where: { userId }, data: { failedAttempts: { increment: 1 } }, select: { failedAttempts: true } });
    const lockedUntil = lockedUntilAfter(lockout, failedAttempts, now);
    if (lockedUntil) await db.totpFactor.update({ where: { userId }, data: { lockedUntil } });
    return lockedUntil;
  }

  /** The time step a TOTP code is right for (within the drift), if it is. */
  function stepOf(secret: string, code: string, now: Date): number | undefined {
    const totp = totpOf('check', secret);
    const delta = totp.validate({ token: code, timestamp: now.getTime(), window: DRIFT_STEPS });
    return delta === null ? undefined : totp.counter({ timestamp: now.getTime() }) + delta;
  }

  async function useRecoveryCode(userId: string, code: string, now: Date): Promise<boolean> {
    const { count } = await db.recoveryCode.updateMany({ where: { userId, codeHash: digestOf(code.toLowerCase()), usedAt: null }, data: { usedAt: now } });
    return count === 1;
  }

  /** Whether the person's sign-ins ask for a second step. */
  async function enrolled(userId: string): Promise<boolean> {
    const factor = await db.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true } });
    return Boolean(factor?.confirmedAt);
  }

  return {
    passkeys,

    /** The person's factors: an authenticator app (and how many recovery codes are left) and passkeys. */
    async status(userId: string): Promise<{ totp: boolean; recoveryCodesLeft: number; passkeys: PasskeyView[] }> {
      const [totp, left, keys] = await Promise.all([enrolled(userId), db.recoveryCode.count({ where: { userId, usedAt: null } }), passkeys.list(userId)]);
      return { totp, recoveryCodesLeft: left, passkeys: keys };
    },

    enrolled,

    /** Which of these people have a factor beyond the password (an app or a passkey). */
    async enrolledAmong(userIds: readonly string[]): Promise<Set<string>> {
      const [rows, withPasskeys] = await Promise.all([
        db.totpFactor.findMany({ where: { userId: { in: [...userIds] }, confirmedAt: { not: null } }, select: { userId: true } }),
        passkeys.among(userIds),
      ]);
      return new Set([...rows.map((row) => row.userId), ...withPasskeys]);
    },

    /** A new secret for an authenticator app, in use only once `confirmTotp` sees a code of it. */
    async beginTotp(userId: string, label: string): Promise<TotpSetup> {
      const secret = new Secret({ size: 20 }).base32;
      const data = { secretEncrypted: secrets.seal(secret, sealContext(userId)), createdAt: clock(), failedAttempts: 0, lockedUntil: null, lastStep: null };
      // Only an unconfirmed setup is replaced: a confirmed app (even one confirmed a moment ago) stays.
      const { count } = await db.totpFactor.updateMany({ where: { userId, confirmedAt: null }, data });
      if (count === 0) {
        try {
          await db.totpFactor.create({ data: { userId, ...data } });
        } catch (error) {
          if (isUniqueViolation(error)) throw fail('mfa.totp_exists', 'an authenticator app is set up already: remove it first');
          throw error;
        }
      }
      return setupOf(label, secret);
    },

    /** The setup not confirmed yet, to show again. */
    async pendingTotp(userId: string, label: string): Promise<TotpSetup> {
      const factor = await pendingFactor(userId);
      return setupOf(label, secrets.open(factor.secretEncrypted, sealContext(userId)));
    },

    /** Takes the app into use with a right code of it; returns the recovery codes (shown once). */
    async confirmTotp(userId: string, code: string, actor: Actor): Promise<string[]> {
      const factor = await pendingFactor(userId);
      const now = clock();
      const step = TOTP_FORM.test(code.trim()) ? stepOf(secrets.open(factor.secretEncrypted, sealContext(userId)), code.trim(), now) : undefined;
      if (step === undefined) {
        await audit.refused(actor, { type: 'user.mfa_enrolled', subject: userId, details: { factor: 'totp', reason: 'wrong_code' } });
        throw fail('mfa.code_wrong', 'the code is not right', { field: 'code' });
      }
      // The app and its recovery codes come into use together, or not at all.
      const codes = await db.$transaction(async (tx) => {
        const { count } = await tx.totpFactor.updateMany({ where: { userId, confirmedAt: null, secretEncrypted: factor.secretEncrypted }, data: { confirmedAt: now, lastStep: step } });
        if (count !== 1) throw fail('mfa.totp_not_started', 'no authenticator app is being set up');
        const created = await newRecoveryCodes(userId, tx);
        await audit.change(actor, { type: 'user.mfa_enrolled', subject: userId, details: { factor: 'totp' } }, tx);
        return created;
      });
      await tell(userId, 'second-factor-changed', { change: 'on' }, actor);
      return codes;
    },

    /**
     * The second step of a sign-in: a code of the person's app (each accepted once) or one of
     * their recovery codes. Wrong codes count towards the second step's lock. The reason is for
     * the audit trail; the person sees one message whatever it was.
     */
    async verify(userId: string, input: string, actor: Actor): Promise<SecondFactorResult> {
      const factor = await db.totpFactor.findUnique({ where: { userId } });
      if (!factor?.confirmedAt) return { ok: false, reason: 'not_enrolled' };
      const now = clock();
      if (factor.lockedUntil && factor.lockedUntil > now) return { ok: false, reason: 'locked' };
      const code = input.trim().toLowerCase().replace(/\s/g, '');
      if (TOTP_FORM.test(code)) {
        const step = stepOf(secrets.open(factor.secretEncrypted, sealContext(userId)), code, now);
        if (step !== undefined) {
          // Conditional on a later step than the last one taken (of two uses of one code, one wins)
          // and on no lock set meanwhile by guesses running alongside.
          const { count } = await db.totpFactor.updateMany({
            where: { userId, AND: [{ OR: [{ lastStep: null }, { lastStep: { lt: step } }] }, { OR: [{ lockedUntil: null }, { lockedUntil: { lte: now } }] }] },
            data: { lastStep: step, failedAttempts: 0, lockedUntil: null },
          });
          if (count === 1) return { ok: true, method: 'otp' };
          return { ok: false, reason: 'replayed', lockedUntil: await recordFailure(userId, now) };
        }
      } else if (RECOVERY_FORM.test(code) && (await useRecoveryCode(userId, code, now))) {
        await db.totpFactor.update({ where: { userId }, data: { failedAttempts: 0, lockedUntil: null } });
        const left = await db.recoveryCode.count({ where: { userId, usedAt: null } });
        await audit.change(actor, { type: 'user.recovery_code_used', subject: userId, details: { left } });
        await tell(userId, 'recovery-code-used', { left: String(left) }, actor);
        return { ok: true, method: 'recovery_code' };
      }
      return { ok: false, reason: 'wrong_code', lockedUntil: await recordFailure(userId, now) };
    },

    /** Ten new recovery codes; the old ones stop working. */
    async regenerateRecoveryCodes(userId: string, actor: Actor): Promise<string[]> {
      if (!(await enrolled(userId))) throw fail('mfa.totp_not_started', 'no authenticator app is set up');
      const codes = await db.$transaction(async (tx) => {
        const created = await newRecoveryCodes(userId, tx);
        await audit.change(actor, { type: 'user.recovery_codes_generated', subject: userId }, tx);
        return created;
      });
      await tell(userId, 'second-factor-changed', { change: 'codes' }, actor);
      return codes;
    },

    /** Turns the second step off: the app's secret and the recovery codes are deleted. True when there was one. */
    async remove(userId: string, actor: Actor): Promise<boolean> {
      const factor = await db.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true } });
      await db.$transaction([db.totpFactor.deleteMany({ where: { userId } }), db.recoveryCode.deleteMany({ where: { userId } })]);
      // A setup never confirmed was never on: nothing to tell.
      if (!factor?.confirmedAt) return false;
      await audit.change(actor, { type: 'user.mfa_removed', subject: userId, details: { factor: 'totp' } });
      await tell(userId, 'second-factor-changed', { change: 'off' }, actor);
      return true;
    },

    /** An operator's reset: the app, the recovery codes and every passkey are removed; the password alone signs in. What was removed. */
    async reset(userId: string, actor: Actor): Promise<{ removed: boolean; totp: boolean; passkeys: number }> {
      const factor = await db.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true } });
      const [, , removed] = await db.$transaction([db.totpFactor.deleteMany({ where: { userId } }), db.recoveryCode.deleteMany({ where: { userId } }), db.passkey.deleteMany({ where: { userId } })]);
      const totp = Boolean(factor?.confirmedAt);
      const result = { removed: totp || removed.count > 0, totp, passkeys: removed.count };
      if (!result.removed) return result;
      await audit.change(actor, { type: 'user.mfa_removed', subject: userId, details: { totp, passkeys: removed.count } });
      await tell(userId, 'second-factor-changed', { change: 'reset' }, actor);
      return result;
    },

    /** Re-encrypts every TOTP secret under the first key-encryption key; returns how many changed. */
    async rewrap(): Promise<number> {
      const rows = await db.totpFactor.findMany({ select: { userId: true, secretEncrypted: true } });
      let changed = 0;
      for (const row of rows.filter((r) => !secrets.isCurrent(r.secretEncrypted))) {
        const resealed = secrets.seal(secrets.open(row.secretEncrypted, sealContext(row.userId)), sealContext(row.userId));
        const { count } = await db.totpFactor.updateMany({ where: { userId: row.userId, secretEncrypted: row.secretEncrypted }, data: { secretEncrypted: resealed } });
        changed += count;
      }
      return changed;
    },
  };
}

export type Mfa = ReturnType<typeof createMfa>;

/** The snake_case JSON form of a passkey, shared by the CLI and the admin API. */
export const passkeyJson = (p: PasskeyView) => ({ id: p.id, name: p.name, synced: p.synced, created_at: p.createdAt.toISOString(), last_used_at: p.lastUsedAt?.toISOString() ?? null });
