import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults } from 'oidc-provider';
import type { RateLimitHooks } from '../security/index.ts';
import type { Signups } from '../users/index.ts';
import { formText, pageLocale, pageText } from './page-defaults.ts';
import { problemOf, refusalPage, SIGNUP_PROBLEMS, VERIFICATION_PROBLEMS } from './problems.ts';
import { visitorOf } from './visitor.ts';

/** What the sign-in request's routes share with these (src/interactions/routes.ts). */
export interface InteractionKit {
  /** The sign-in request this request belongs to: its uid, prompt and parameters. */
  interactionOf(request: FastifyRequest): { uid: string; prompt: { name: string }; params: Record<string, unknown> };
  page(request: FastifyRequest, data: Record<string, unknown>): Record<string, unknown>;
  finish(request: FastifyRequest, reply: FastifyReply, result: InteractionResults): Promise<unknown>;
  wrongPrompt(reply: FastifyReply): unknown;
  clientName(request: FastifyRequest): Promise<string>;
  loggedIn(request: FastifyRequest, userId: string, details?: Record<string, string>): Promise<void>;
  /** The login page again, with a refusal. */
  loginPage(request: FastifyRequest, reply: FastifyReply, error: string, status: number): Promise<unknown>;
  /** The password (or its equal) was right: the second step where the person has one, else the sign-in completes. */
  passwordAccepted(request: FastifyRequest, reply: FastifyReply, userId: string): Promise<unknown>;
  /** The app takes password sign-ins (sign-up makes a password account: refused where it does not). */
  passwordSignIn(request: FastifyRequest): Promise<boolean>;
}

interface Deps {
  signups: Signups;
  limits: RateLimitHooks;
}

type SignupForm = { Body: { email?: unknown; name?: unknown; password?: unknown; csrf?: unknown } };
type WithToken = { Params: { uid: string; token: string } };

const VERIFY_PATH = /^\/interaction\/[^/?#]+\/verify\/([A-Za-z0-9_-]{43})(?:\?.*)?$/;

/**
 * Where a verification link goes when its sign-in request is gone (expired, or the link was
 * opened in another browser): the page that verifies the address alone.
 */
export function verifyFallback(url: string): string | undefined {
  const token = VERIFY_PATH.exec(url)?.[1];
  return token ? `/account/verify/${token}` : undefined;
}


/** "Create an account" inside a sign-in request, and the mailed link that confirms the address. */
export function signupRoutes(app: FastifyInstance, kit: InteractionKit, { signups, limits }: Deps): void {
  if (signups.open) {
    const form = async (request: FastifyRequest, reply: FastifyReply, values: { email: string; name: string }, error: string | null, status = 200) =>
      reply.code(status).view('signup', kit.page(request, { clientName: await kit.clientName(request), passwordMinLength: signups.passwordMinLength, ...values, error }));

    const noPasswords = (request: FastifyRequest, reply: FastifyReply) =>
      reply.code(403).view('error', { message: pageText(reply)('upstream:password_not_offered'), back: `/interaction/${kit.interactionOf(request).uid}`, backText: pageText(reply)('upstream:back') });

    app.get('/interaction/:uid/signup', async (request, reply) => {
      if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
      if (!(await kit.passwordSignIn(request))) return noPasswords(request, reply);
      return form(request, reply, { email: formText(kit.interactionOf(request).params.login_hint, 320), name: '' }, null);
    });

    app.post<SignupForm>('/interaction/:uid/signup', { preHandler: [limits.signupPerIp, limits.signupPerAccount] }, async (request, reply) => {
      const interaction = kit.interactionOf(request);
      if (interaction.prompt.name !== 'login') return kit.wrongPrompt(reply);
      if (!(await kit.passwordSignIn(request))) return noPasswords(request, reply);
      const values = { email: formText(request.body?.email, 320).trim(), name: formText(request.body?.name, 1024) };
      let checked;
      try {
        checked = signups.check({ ...values, password: formText(request.body?.password) });
      } catch (error) {
        const problem = problemOf(error, SIGNUP_PROBLEMS, pageText(reply));
        return form(request, reply, values, problem.message, problem.status);
      }
      // Answered before the work is done: a new address gets an account and a link, a taken one
      // a notice to its owner, and neither the page nor its timing tells them apart.
      void signups.signUp(checked, interaction.uid, visitorOf(request), pageLocale(reply)).catch((err: unknown) => request.log.error({ err }, 'sign-up failed'));
      return reply.view('verify-sent', kit.page(request, { email: checked.email }));
    });
  } else {
    // Closed or by invitation: the sign-up address says so on our page, not as a bare 404.
    const closed = async (_request: FastifyRequest, reply: FastifyReply) => reply.code(404).view('error', { message: pageText(reply)('errors:page.signup_closed') });
    app.get('/interaction/:uid/signup', closed);
    app.post('/interaction/:uid/signup', closed);
  }

  const confirmPage = async (request: FastifyRequest<WithToken>, reply: FastifyReply) => {
    const link = await signups.verificationLink(request.params.token);
    if (link.returnTo !== request.params.uid) return reply.redirect(`/account/verify/${request.params.token}`, 303);
    return reply.view('verify', kit.page(request, { email: link.email, action: `/interaction/${request.params.uid}/verify/${request.params.token}` }));
  };

  app.get<WithToken>('/interaction/:uid/verify/:token', async (request, reply) => {
    try {
      return await confirmPage(request, reply);
    } catch (error) {
      return refusalPage(reply, error, VERIFICATION_PROBLEMS);
    }
  });

  app.post<WithToken>('/interaction/:uid/verify/:token', async (request, reply) => {
    let link;
    try {
      link = await signups.verifyEmail(request.params.token, visitorOf(request));
    } catch (error) {
      return refusalPage(reply, error, VERIFICATION_PROBLEMS);
    }
    const interaction = kit.interactionOf(request);
    if (link.returnTo !== interaction.uid || interaction.prompt.name !== 'login') return reply.view('verified', {});
    // The address is proven by the link, the password by this browser's sign-up or sign-in.
    return kit.passwordAccepted(request, reply, link.userId);
  });
}
