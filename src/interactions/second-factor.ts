import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEventInput } from '../audit/index.ts';
import type { Mfa } from '../mfa/index.ts';
import type { RateLimitHooks } from '../security/index.ts';
import type { InteractionKit } from './signup.ts';
import { pageText } from './page-defaults.ts';
import type { Signer } from './signed.ts';
import { visitorOf } from './visitor.ts';

const PURPOSE = 'second-step';
/** How long the second step may take after the password was right. */
const STEP_SECONDS = 300;
const WRONG = 'mfa:wrong';
const EXPIRED = 'errors:interaction.expired';

/** RFC 8176: a password, then a one-time code (from the app, or a recovery code): two factors. */
export const AMR_PASSWORD = ['pwd'];
export const AMR_PASSWORD_AND_CODE = ['pwd', 'otp', 'mfa'];

interface Deps {
  mfa: Mfa;
  /** The person may still sign in (exists, not disabled). */
  isActive(userId: string): Promise<boolean>;
  signer: Signer;
  limits: RateLimitHooks;
  record(request: FastifyRequest, event: Omit<AuditEventInput, 'clientId' | 'ip' | 'userAgent' | 'requestId'>): Promise<void>;
}

type Form = { Body: { pending?: unknown; code?: unknown; csrf?: unknown } };

/**
 * The second step of a sign-in for people with an authenticator app: after the right password,
 * a page asks for a code (`code`); the password's success travels to it in a signed field bound
 * to the sign-in request, valid for five minutes.
 */
export function secondFactorStep(app: FastifyInstance, kit: InteractionKit, { mfa, isActive, signer, limits, record }: Deps) {
  /** The code page; asked again, it keeps the first asking's expiry (a wrong code buys no time). */
  const ask = (request: FastifyRequest, reply: FastifyReply, userId: string, error: string | null, status = 200, seconds = STEP_SECONDS) =>
    reply.code(status).view('second-factor', kit.page(request, { pending: signer.sign(PURPOSE, { uid: kit.interactionOf(request).uid, sub: userId }, seconds), error }));

  app.post<Form>('/interaction/:uid/second-factor', { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    const interaction = kit.interactionOf(request);
    if (interaction.prompt.name !== 'login') return kit.wrongPrompt(reply);
    const pending = signer.open<{ uid: string; sub: string }>(PURPOSE, request.body?.pending);
    if (!pending || pending.uid !== interaction.uid || typeof pending.sub !== 'string') return reply.code(400).view('error', { message: pageText(reply)(EXPIRED) });
    if (!(await isActive(pending.sub))) {
      await record(request, { type: 'login.failure', outcome: 'failure', subject: pending.sub, details: { reason: 'disabled', factor: 'otp' } });
      return reply.code(400).view('error', { message: pageText(reply)(EXPIRED) });
    }
    const code = typeof request.body?.code === 'string' ? request.body.code.slice(0, 64) : '';
    const result = await mfa.verify(pending.sub, code, { ...visitorOf(request), id: `user:${pending.sub}` });
    if (result.ok) {
      await kit.loggedIn(request, pending.sub);
      return kit.finish(request, reply, { login: { accountId: pending.sub, amr: AMR_PASSWORD_AND_CODE } });
    }
    // The reason is for the audit trail; the person sees one message whatever it was.
    await record(request, { type: 'login.failure', outcome: 'failure', subject: pending.sub, details: { reason: result.reason, factor: 'otp' } });
    if (result.lockedUntil) await record(request, { type: 'login.lockout', outcome: 'failure', subject: pending.sub, details: { lockedUntil: result.lockedUntil.toISOString(), factor: 'otp' } });
    const left = Math.max(1, Math.floor(Number((pending as { exp?: number }).exp) - Date.now() / 1000));
    return ask(request, reply, pending.sub, pageText(reply)(WRONG), 401, left);
  });

  return {
    /** Whether this person's sign-in needs the second step. */
    needed: (userId: string) => mfa.enrolled(userId),
    /** The page that asks for the code. */
    ask: (request: FastifyRequest, reply: FastifyReply, userId: string) => ask(request, reply, userId, null),
  };
}
