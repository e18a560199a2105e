import { isIP } from 'node:net';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Actor, Audit } from '../audit/index.ts';
import { deleteInBatches, type Database } from '../db/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';

/** How long a ceremony may take, from the options to the answer. */
const CEREMONY_SECONDS = 300;
const NAME_LENGTH = 64;
const MAX_PASSKEYS = 20;
/** An answer is a few kilobytes at most; anything larger is not one. */
const RESPONSE_LENGTH = 16 * 1024;
const CREDENTIAL_ID = /^[A-Za-z0-9_-]{16,1400}$/;
/** COSE algorithms we take keys in (EdDSA, ES256, RS256), named so the library need not probe the runtime (an experimental Node API that warns). */
const ALGORITHMS = [-8, -7, -257];

type Purpose = 'register' | 'sign_in';

/** Why an answer was refused: for the audit trail (the person sees one message whatever it was). */
export type PasskeyRefusal = 'malformed' | 'unknown_credential' | 'wrong_person' | 'wrong_challenge' | 'wrong_origin' | 'wrong_rp_id' | 'not_verified' | 'counter_regressed' | 'disabled' | 'invalid';

export type PasskeySignIn = { ok: true; userId: string; amr: string[] } | { ok: false; reason: PasskeyRefusal; userId?: string };

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  synced: boolean;
}

export interface PasskeyDeps {
  db: Database;
  audit: Audit;
  /** The relying party: its id is the issuer's host name, its one origin the issuer's. */
  issuer: string;
  /** The name a browser shows when it creates a passkey. */
  rpName: string;
  /** Tells the person that a passkey was added or removed. */
  tell(userId: string, change: 'passkey_added' | 'passkey_removed', actor: Actor): Promise<void>;
  /** Whether the person may sign in at all (exists, not disabled). */
  mayUse(userId: string): Promise<boolean>;
  clock?: () => Date;
}

/** The library's refusals are plain errors; their words say which check failed. */
function refusalOf(error: unknown): PasskeyRefusal {
  const message = error instanceof Error ? error.message : '';
  if (/challenge/i.test(message)) return 'wrong_challenge';
  if (/origin/i.test(message)) return 'wrong_origin';
  if (/RP ID/i.test(message)) return 'wrong_rp_id';
  if (/user verification|not present/i.test(message)) return 'not_verified';
  if (/counter/i.test(message)) return 'counter_regressed';
  return 'invalid';
}

/** A posted answer (JSON text) in the shape of a credential, or nothing. */
function parseResponse<T extends { id: string; rawId: string; type: string; response: object }>(text: unknown): T | undefined {
  if (typeof text !== 'string' || text.length > RESPONSE_LENGTH) return undefined;
  try {
    const value = JSON.parse(text) as T;
    const shaped = value && typeof value === 'object' && typeof value.id === 'string' && CREDENTIAL_ID.test(value.id) && value.rawId === value.id && value.type === 'public-key' && typeof value.response === 'object' && value.response !== null;
    const parts = shaped ? (value.response as Record<string, unknown>) : {};
    const textual = ['clientDataJSON', 'userHandle'].every((key) => parts[key] === undefined || typeof parts[key] === 'string');
    return shaped && textual ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The challenge the browser says it answered (the library checks the rest of the client data). */
function challengeOf(response: { response: object }): string | undefined {
  try {
    const data = JSON.parse(Buffer.from((response.response as { clientDataJSON: string }).clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' && data.challenge.length <= 512 ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}

const transportsOf = (text: string) => (text ? (text.split(',') as AuthenticatorTransport[]) : undefined);

const viewOf = (row: { id: string; name: string; createdAt: Date; lastUsedAt: Date | null; deviceType: string }): PasskeyView => ({
  id: row.id,
  name: row.name,
  createdAt: row.createdAt,
  lastUsedAt: row.lastUsedAt,
  synced: row.deviceType === 'multiDevice',
});

/**
 * Passkeys (WebAuthn, through @simplewebauthn/server; the `Passkey` and `PasskeyChallenge`
 * tables): discoverable credentials with user verification, added on the account page and
 * used to sign in on their own or as the second step. Every challenge is stored when handed out
 * and taken once: an answer to another challenge, a replayed answer or a late one is refused.
 * Nothing of a refused ceremony is stored.
 */
export function createPasskeys({ db, audit, issuer, rpName, tell, mayUse, clock = () => new Date() }: PasskeyDeps) {
  const { hostname, origin } = new URL(issuer);
  // A relying party id is a domain name: browsers refuse passkeys for an issuer at an IP address.
  const available = isIP(hostname.replace(/^\[|\]$/g, '')) === 0;
  const unavailable = () => fail('mfa.passkeys_unavailable', 'passkeys need an issuer with a host name, not an IP address');

  async function challengeFor(purpose: Purpose, boundTo: string, challenge: string): Promise<void> {
    await db.passkeyChallenge.create({ data: { id: challenge, purpose, boundTo, expiresAt: new Date(clock().getTime() + CEREMONY_SECONDS * 1000) } });
  }

  /**
   * Takes the challenge, once, if it was handed out for this purpose and this person or sign-in
   * request and has not expired. Taken before anything else is checked: an answer is tried once.
   */
  async function take(purpose: Purpose, boundTo: string, challenge: string): Promise<boolean> {
    const { count } = await db.passkeyChallenge.deleteMany({ where: { id: challenge, purpose, boundTo, expiresAt: { gt: clock() } } });
    return count === 1;
  }

  const countOf = (userId: string) => db.passkey.count({ where: { userId } });

  /** The browser's answer to a registration challenge of this person, checked; or why not. */
  async function verifiedRegistration(userId: string, responseText: unknown) {
    const response = parseResponse<RegistrationResponseJSON>(responseText);
    const challenge = response && challengeOf(response);
    if (!response || !challenge) return { ok: false as const, reason: 'malformed' as PasskeyRefusal };
    if (!(await take('register', userId, challenge))) return { ok: false as const, reason: 'wrong_challenge' as PasskeyRefusal };
    try {
      const result = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: hostname, requireUserVerification: true, supportedAlgorithmIDs: ALGORITHMS });
      return result.verified ? { ok: true as const, info: result.registrationInfo } : { ok: false as const, reason: 'invalid' as PasskeyRefusal };
    } catch (error) {
      return { ok: false as const, reason: refusalOf(error) };
    }
  }

  const ofUser = (userId: string) => db.passkey.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } });

  return {
    /** Whether passkeys can work for this issuer (a host name, not an IP address). */
    available,

    /** The person's passkeys, oldest first. */
    async list(userId: string): Promise<PasskeyView[]> {
      return (await ofUser(userId)).map(viewOf);
    },

    /** How many passkeys the person has. */
    count: countOf,

    /** Which of these people have a passkey. */
    async among(userIds: readonly string[]): Promise<Set<string>> {
      const rows = await db.passkey.findMany({ where: { userId: { in: [...userIds] } }, select: { userId: true }, distinct: ['userId'] });
      return new Set(rows.map((row) => row.userId));
    },

    has: async (userId: string) => (await countOf(userId)) > 0,

    /** What the browser needs to create a passkey for this person (their existing ones excluded). */
    async registrationOptions(user: { id: string; email: string; name: string | null }): Promise<PublicKeyCredentialCreationOptionsJSON> {
      if (!available) throw unavailable();
      const existing = await ofUser(user.id);
      const options = await generateRegistrationOptions({
        rpName,
        rpID: hostname,
        userName: user.email,
        userDisplayName: user.name ?? user.email,
        userID: new TextEncoder().encode(user.id),
        attestationType: 'none',
        timeout: CEREMONY_SECONDS * 1000,
        excludeCredentials: existing.map((row) => ({ id: row.id, transports: transportsOf(row.transports) })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
        supportedAlgorithmIDs: ALGORITHMS,
      });
      await challengeFor('register', user.id, options.challenge);
      return options;
    },

    /** Keeps the passkey the browser created, if its answer is to this person's challenge, from our origin, verified. */
    async register(userId: string, nameInput: string, responseText: unknown, actor: Actor): Promise<PasskeyView> {
      const name = nameInput.replace(/[\p{Cc}\p{Cf}]/gu, '').trim().slice(0, NAME_LENGTH);
      if (!name) throw fail('mfa.passkey_name_missing', 'give the passkey a name', { field: 'name' });
      if ((await countOf(userId)) >= MAX_PASSKEYS) throw fail('mfa.passkeys_too_many', `at most ${MAX_PASSKEYS} passkeys: remove one first`);
      const verified = await verifiedRegistration(userId, responseText);
      if (!verified.ok) {
        await audit.refused(actor, { type: 'user.passkey_added', subject: userId, details: { reason: verified.reason } });
        throw fail('mfa.passkey_refused', 'the passkey was not created');
      }
      const { credential, credentialDeviceType, credentialBackedUp } = verified.info;
      let row;
      try {
        row = await db.passkey.create({
          data: {
            id: credential.id,
            userId,
            name,
            publicKey: Buffer.from(credential.publicKey).toString('base64url'),
            counter: credential.counter,
            transports: (credential.transports ?? []).join(','),
            deviceType: credentialDeviceType,
            backedUp: credentialBackedUp,
            createdAt: clock(),
          },
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw fail('mfa.passkey_exists', 'this passkey is added already');
        throw error;
      }
      const view = viewOf(row);
      await audit.change(actor, { type: 'user.passkey_added', subject: userId, details: { passkey: row.id, synced: view.synced } });
      await tell(userId, 'passkey_added', actor);
      return view;
    },

    /**
     * What the browser needs to sign in with a passkey, for this sign-in request; for the second
     * step of a known person, only their passkeys.
     */
    async signInOptions(signInRequest: string, userId?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      if (!available) throw unavailable();
      const allowed = userId ? await ofUser(userId) : [];
      const options = await generateAuthenticationOptions({
        rpID: hostname,
        userVerification: 'required',
        timeout: CEREMONY_SECONDS * 1000,
        allowCredentials: allowed.map((row) => ({ id: row.id, transports: transportsOf(row.transports) })),
      });
      await challengeFor('sign_in', signInRequest, options.challenge);
      return options;
    },

    /**
     * Checks a passkey's answer to a challenge of this sign-in request: whose passkey it is, and
     * the RFC 8176 methods it proves (a key the person holds, hardware-bound or synced, and their
     * verification: two factors). `expectedUserId` is the second step's person.
     */
    async signIn(signInRequest: string, responseText: unknown, expectedUserId?: string): Promise<PasskeySignIn> {
      const response = parseResponse<AuthenticationResponseJSON>(responseText);
      const challenge = response && challengeOf(response);
      if (!response || !challenge) return { ok: false, reason: 'malformed' };
      const [taken, row] = await Promise.all([take('sign_in', signInRequest, challenge), db.passkey.findUnique({ where: { id: response.id } })]);
      if (!taken) return { ok: false, reason: 'wrong_challenge', userId: row?.userId };
      if (!row) return { ok: false, reason: 'unknown_credential' };
      const handle = response.response.userHandle;
      // A discoverable credential names its person; it must be the passkey's (and the second step's).
      const handleMatches = handle === undefined ? expectedUserId !== undefined : Buffer.from(handle, 'base64url').toString('utf8') === row.userId;
      if (!handleMatches || (expectedUserId !== undefined && row.userId !== expectedUserId)) return { ok: false, reason: 'wrong_person', userId: expectedUserId ?? row.userId };
      if (!(await mayUse(row.userId))) return { ok: false, reason: 'disabled', userId: row.userId };
      let info;
      try {
        const result = await verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: hostname,
          requireUserVerification: true,
          credential: { id: row.id, publicKey: Buffer.from(row.publicKey, 'base64url'), counter: row.counter, transports: transportsOf(row.transports) },
        });
        if (!result.verified) return { ok: false, reason: 'invalid', userId: row.userId };
        info = result.authenticationInfo;
      } catch (error) {
        return { ok: false, reason: refusalOf(error), userId: row.userId };
      }
      // Conditional on the counter read: of two answers running alongside, one moves it.
      const { count } = await db.passkey.updateMany({ where: { id: row.id, counter: row.counter }, data: { counter: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: clock() } });
      if (count !== 1) return { ok: false, reason: 'counter_regressed', userId: row.userId };
      return { ok: true, userId: row.userId, amr: [row.deviceType === 'multiDevice' ? 'swk' : 'hwk', 'user', 'mfa'] };
    },

    /** Removes one of the person's passkeys (the password stays a way in). False when they have no such passkey. */
    async remove(userId: string, passkeyId: string, actor: Actor): Promise<boolean> {
      const { count } = await db.passkey.deleteMany({ where: { id: passkeyId, userId } });
      if (count === 0) return false;
      await audit.change(actor, { type: 'user.passkey_removed', subject: userId, details: { passkey: passkeyId } });
      await tell(userId, 'passkey_removed', actor);
      return true;
    },

    /** Deletes challenges nobody answered in time, a batch at a time. */
    deleteExpired: (batchSize: number): Promise<number> =>
      deleteInBatches(
        batchSize,
        (limit) => db.passkeyChallenge.findMany({ where: { expiresAt: { lte: clock() } }, select: { id: true }, take: limit }),
        async (batch) => (await db.passkeyChallenge.deleteMany({ where: { id: { in: batch.map((row) => row.id) } } })).count,
      ),
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;
