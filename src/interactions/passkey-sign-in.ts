import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEventInput } from '../audit/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { Passkeys } from '../mfa/index.ts';
import { ACR_MFA } from '../oidc/index.ts';
import type { RateLimitHooks } from '../security/index.ts';
import { isProblem } from './problems.ts';
import { AMR_PASSWORD, type secondFactorStep } from './second-factor.ts';
import type { InteractionKit } from './signup.ts';
import { pageText } from './page-defaults.ts';

const REFUSED = 'mfa:passkey_wrong';
const EXPIRED = 'errors:interaction.expired';
const UNAVAILABLE: ReadonlySet<ErrorCode> = new Set(['mfa.passkeys_unavailable']);

interface Deps {
  passkeys: Passkeys;
  secondStep: ReturnType<typeof secondFactorStep>;
  limits: RateLimitHooks;
  record(request: FastifyRequest, event: Omit<AuditEventInput, 'clientId' | 'ip' | 'userAgent' | 'requestId'>): Promise<void>;
}

type Form = { Body: { pending?: unknown; response?: unknown; csrf?: unknown } };

/**
 * Signing in with a passkey, on the login page (no address typed: the passkey names the person)
 * or as the second step after the password. The browser's script asks for a challenge bound to
 * this sign-in request (`passkey/options`, JSON), and posts the passkey's answer in a form.
 */
export function passkeySignIn(app: FastifyInstance, kit: InteractionKit, { passkeys, secondStep, limits, record }: Deps) {
  const refusedJson = (reply: FastifyReply, status: number, error: string) => reply.code(status).type('application/json').send({ error });

  /** The second step's person when the form carries one; `null` when it carries one that is not (any more) good. */
  async function secondStepOf(request: FastifyRequest<Form>) {
    if (request.body?.pending === undefined) return undefined;
    const pending = await secondStep.pendingOf(request);
    return pending?.active ? pending : null;
  }

  // Asked as each login page opens (for the autofill): limited like the page itself, not like a password try.
  app.post<Form>('/interaction/:uid/passkey/options', { preHandler: [limits.authorizePerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return refusedJson(reply, 400, 'interaction_expired');
    const second = await secondStepOf(request);
    if (second === null) return refusedJson(reply, 400, 'interaction_expired');
    try {
      return reply.type('application/json').send(await passkeys.signInOptions(kit.interactionOf(request).uid, second?.userId));
    } catch (error) {
      if (isProblem(error, UNAVAILABLE)) return refusedJson(reply, 409, error.code);
      throw error;
    }
  });

  app.post<Form>('/interaction/:uid/passkey', { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const second = await secondStepOf(request);
    if (second === null) return reply.code(400).view('error', { message: pageText(reply)(EXPIRED) });
    const result = await passkeys.signIn(kit.interactionOf(request).uid, request.body?.response, second?.userId);
    if (result.ok) {
      if (second) await secondStep.completed(request, result.userId, second.first, { factor: 'passkey' });
      else await kit.loggedIn(request, result.userId, { factor: 'passkey' });
      const amr = second ? [...new Set([...(second.first?.amr ?? AMR_PASSWORD), ...result.amr])] : result.amr;
      return kit.finish(request, reply, { login: { accountId: result.userId, amr, acr: ACR_MFA } });
    }
    // The reason is for the audit trail; the person sees one message whatever it was.
    await record(request, { type: 'login.failure', outcome: 'failure', subject: result.userId ?? null, details: { reason: result.reason, factor: 'passkey' } });
    const message = pageText(reply)(REFUSED);
    if (!second) return kit.loginPage(request, reply, message, 401);
    return secondStep.ask(request, reply, second.userId, await secondStep.factorsOf(second.userId), { error: message, status: 401, seconds: secondStep.secondsLeft(second.exp), first: second.first });
  });
}
