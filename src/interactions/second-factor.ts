import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEventInput } from '../audit/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { Mfa, TotpSetup } from '../mfa/index.ts';
import { ACR_MFA } from '../oidc/index.ts';
import { isProblem } from './problems.ts';
import type { RateLimitHooks } from '../security/index.ts';
import type { InteractionKit } from './signup.ts';
import { allowPasskeyScripts, formText, pageText } from './page-defaults.ts';
import type { Signer } from './signed.ts';
import { visitorOf } from './visitor.ts';

const PURPOSE = 'second-step';
const SETUP = 'second-step-setup';
const ENROLLED = 'second-step-enrolled';
/** How long setting up an app inside a sign-in may take (the setup's own limit). */
const SETUP_SECONDS = 600;
const MFA_CONFIRM: ReadonlySet<ErrorCode> = new Set(['mfa.code_wrong']);
const SETUP_GONE: ReadonlySet<ErrorCode> = new Set(['mfa.totp_not_started', 'mfa.totp_exists']);
/** How long the second step may take after the password was right. */
const STEP_SECONDS = 300;
const WRONG = 'mfa:wrong';
const EXPIRED = 'errors:interaction.expired';

/** RFC 8176: a password, then a one-time code (from the app, or a recovery code): two factors. */
export const AMR_PASSWORD = ['pwd'];
export const AMR_PASSWORD_AND_CODE = ['pwd', 'otp', 'mfa'];
/** An upstream provider's sign-in (`fed`), with a password where the person also gave theirs. */
export const AMR_FEDERATED = ['fed'];
export const AMR_FEDERATED_AND_PASSWORD = ['fed', 'pwd'];

/**
 * What the first step was when it was not the password: an upstream's sign-in (its slug, the
 * identity it vouched for, and whether that identity is to be linked once the second step is
 * done), or a session's earlier sign-in being stepped up (its methods).
 */
export interface FirstStep {
  idp?: string;
  amr?: readonly string[];
  identity?: { subject: string; email?: string; emailVerified: boolean; name?: string };
  link?: boolean;
}

/** The methods of a sign-in that went on to a one-time code: the first step's, then the code's. */
const withCode = (first: FirstStep | undefined) => (first?.amr ? [...new Set([...first.amr, 'otp', 'mfa'])] : AMR_PASSWORD_AND_CODE);
const firstDetails = (first: FirstStep | undefined) => (first?.idp ? { upstream: first.idp } : undefined);

function identityOf(value: unknown): FirstStep['identity'] {
  const v = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  if (typeof v.subject !== 'string') return undefined;
  return { subject: v.subject, emailVerified: v.emailVerified === true, ...(typeof v.email === 'string' ? { email: v.email } : {}), ...(typeof v.name === 'string' ? { name: v.name } : {}) };
}

function firstOf(pending: { idp?: unknown; amr?: unknown; identity?: unknown; link?: unknown }): FirstStep | undefined {
  const amr = Array.isArray(pending.amr) ? pending.amr.map(String) : undefined;
  if (typeof pending.idp !== 'string') return amr ? { amr } : undefined;
  const identity = identityOf(pending.identity);
  return { idp: pending.idp, amr: amr ?? AMR_FEDERATED, ...(identity ? { identity } : {}), link: pending.link === true };
}

/** What a person's second step may be: a code of their app, a passkey, or both. */
export interface SecondFactors {
  totp: boolean;
  passkey: boolean;
}

interface Deps {
  mfa: Mfa;
  /** The person may still sign in (exists, not disabled). */
  isActive(userId: string): Promise<boolean>;
  /** The label an authenticator app lists the account under (the address). */
  emailOf(userId: string): Promise<string | undefined>;
  /** MFA=required: a person without a second factor sets one up before the sign-in continues. */
  required: boolean;
  signer: Signer;
  limits: RateLimitHooks;
  record(request: FastifyRequest, event: Omit<AuditEventInput, 'clientId' | 'ip' | 'userAgent' | 'requestId'>): Promise<void>;
  /** What an upstream's first step leaves for after the second (the link it asked for, the sign-in's record). */
  completeFirst(request: FastifyRequest, userId: string, first: FirstStep): Promise<void>;
}

type Form = { Body: { pending?: unknown; code?: unknown; csrf?: unknown; recovery?: unknown } };
type PageOptions = { error?: string | null; status?: number; seconds?: number; recovery?: boolean; first?: FirstStep };

/**
 * The second step of a sign-in for people with an authenticator app: after the right password,
 * a page asks for a code (`code`); the password's success travels to it in a signed field bound
 * to the sign-in request, valid for five minutes.
 */
export function secondFactorStep(app: FastifyInstance, kit: InteractionKit, { mfa, isActive, emailOf, required, signer, limits, record, completeFirst }: Deps) {
  /** The sign-in is done: what the first step left is done too, then the person is signed in. */
  async function completed(request: FastifyRequest, userId: string, first: FirstStep | undefined, details?: Record<string, string>) {
    if (first?.idp) await completeFirst(request, userId, first);
    const all = { ...details, ...firstDetails(first) };
    await kit.loggedIn(request, userId, Object.keys(all).length ? all : undefined);
  }

  /** The person's second steps: their app, and their passkeys where passkeys work here. */
  async function factorsOf(userId: string): Promise<SecondFactors> {
    const [totp, passkey] = await Promise.all([mfa.enrolled(userId), mfa.passkeys.available ? mfa.passkeys.has(userId) : false]);
    return { totp, passkey };
  }

  /** The second step's page; asked again, it keeps the first asking's expiry (a wrong code buys no time). */
  const ask = (request: FastifyRequest, reply: FastifyReply, userId: string, factors: SecondFactors, { error = null, status = 200, seconds = STEP_SECONDS, recovery = false, first }: PageOptions = {}) => {
    if (factors.passkey) allowPasskeyScripts(reply);
    return reply.code(status).view('second-factor', kit.page(request, { pending: signer.sign(PURPOSE, { uid: kit.interactionOf(request).uid, sub: userId, ...first }, seconds), error, ...factors, recovery: recovery && factors.totp }));
  };

  const secondsLeft = (exp: number) => Math.max(1, Math.floor(exp - Date.now() / 1000));

  /** The signed field of `purpose` this form carries, if it is for this sign-in request: whose, until when, and whether they may still sign in. */
  async function openPending(request: FastifyRequest<Form>, purpose: string): Promise<{ userId: string; exp: number; active: boolean; first?: FirstStep } | undefined> {
    const pending = signer.open<{ uid: string; sub: string; exp: number; idp: string; amr: string[]; identity: unknown; link: boolean }>(purpose, request.body?.pending);
    if (!pending || pending.uid !== kit.interactionOf(request).uid || typeof pending.sub !== 'string' || typeof pending.exp !== 'number') return undefined;
    const first = firstOf(pending);
    return { userId: pending.sub, exp: pending.exp, active: await isActive(pending.sub), ...(first ? { first } : {}) };
  }

  const expired = (reply: FastifyReply) => reply.code(400).view('error', { message: pageText(reply)(EXPIRED) });
  const codeOf = (request: FastifyRequest<Form>) => formText(request.body?.code, 64);

  app.post<Form>('/interaction/:uid/second-factor', { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const pending = await openPending(request, PURPOSE);
    if (!pending) return expired(reply);
    const { userId } = pending;
    if (!pending.active) {
      await record(request, { type: 'login.failure', outcome: 'failure', subject: userId, details: { reason: 'disabled', factor: 'otp' } });
      return expired(reply);
    }
    const result = await mfa.verify(userId, codeOf(request), { ...visitorOf(request), id: `user:${userId}` });
    if (result.ok) {
      await completed(request, userId, pending.first);
      return kit.finish(request, reply, { login: { accountId: userId, amr: withCode(pending.first), acr: ACR_MFA } });
    }
    // The reason is for the audit trail; the person sees one message whatever it was.
    await record(request, { type: 'login.failure', outcome: 'failure', subject: userId, details: { reason: result.reason, factor: 'otp' } });
    if (result.lockedUntil) await record(request, { type: 'login.lockout', outcome: 'failure', subject: userId, details: { lockedUntil: result.lockedUntil.toISOString(), factor: 'otp' } });
    const recovery = request.body?.recovery === 'true';
    return ask(request, reply, userId, await factorsOf(userId), { error: pageText(reply)(WRONG), status: 401, seconds: secondsLeft(pending.exp), recovery, first: pending.first });
  });

  // The same step with a recovery code instead of the app's (the person lost their phone).
  app.post<Form>('/interaction/:uid/second-factor/recovery', async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const pending = await openPending(request, PURPOSE);
    if (!pending?.active) return expired(reply);
    return ask(request, reply, pending.userId, await factorsOf(pending.userId), { seconds: secondsLeft(pending.exp), recovery: true, first: pending.first });
  });
  const setupPage = (request: FastifyRequest, reply: FastifyReply, userId: string, setup: TotpSetup, error: string | null, status = 200, first?: FirstStep) =>
    reply.code(status).view('account-totp', kit.page(request, {
      setup,
      error,
      required: true,
      action: `/interaction/${kit.interactionOf(request).uid}/second-factor/setup`,
      pending: signer.sign(SETUP, { uid: kit.interactionOf(request).uid, sub: userId, ...first }, SETUP_SECONDS),
    }));

  // MFA=required, for someone without a second factor: set up an app inside the sign-in.
  app.post<Form>('/interaction/:uid/second-factor/setup', { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const pending = await openPending(request, SETUP);
    if (!pending?.active) return expired(reply);
    const { userId } = pending;
    try {
      const codes = await mfa.confirmTotp(userId, codeOf(request), { ...visitorOf(request), id: `user:${userId}` });
      const uid = kit.interactionOf(request).uid;
      return reply.view('account-recovery-codes', kit.page(request, { codes, continueAction: `/interaction/${uid}/second-factor/continue`, pending: signer.sign(ENROLLED, { uid, sub: userId, ...pending.first }, SETUP_SECONDS) }));
    } catch (error) {
      if (isProblem(error, SETUP_GONE)) return expired(reply);
      if (!isProblem(error, MFA_CONFIRM)) throw error;
      const setup = await mfa.pendingTotp(userId, (await emailOf(userId)) ?? '');
      return setupPage(request, reply, userId, setup, pageText(reply)(`errors:${error.code}`), 400, pending.first);
    }
  });

  app.post<Form>('/interaction/:uid/second-factor/continue', async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const pending = await openPending(request, ENROLLED);
    if (!pending?.active) return expired(reply);
    const { userId } = pending;
    await completed(request, userId, pending.first);
    return kit.finish(request, reply, { login: { accountId: userId, amr: withCode(pending.first), acr: ACR_MFA } });
  });

  return {
    /** The second steps this person has. */
    factorsOf,
    /** Ends a sign-in whose second step another page took (a passkey). */
    completed,
    /** Whoever has no second factor sets one up before the sign-in continues (MFA=required). */
    required,
    /** The page of the second step. */
    ask: (request: FastifyRequest, reply: FastifyReply, userId: string, factors: SecondFactors, options?: PageOptions) => ask(request, reply, userId, factors, options),
    /** The person of the second step this form continues, with what is left of its time, if it is for this sign-in request. */
    pendingOf: (request: FastifyRequest<Form>) => openPending(request, PURPOSE),
    secondsLeft,
    /** The page that sets up an app inside the sign-in. */
    async enrol(request: FastifyRequest, reply: FastifyReply, userId: string, first?: FirstStep) {
      const setup = await mfa.beginTotp(userId, (await emailOf(userId)) ?? '');
      return setupPage(request, reply, userId, setup, null, 200, first);
    },
  };
}
