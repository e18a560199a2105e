import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { accountCsrf } from './account-csrf.ts';
import { pageLocale, pageText, registerPageDefaults } from './page-defaults.ts';
import type { I18n } from '../i18n/index.ts';
import type { Csrf, RateLimitHooks } from '../security/index.ts';
import type { PasswordResets } from '../users/index.ts';
import { isProblem, PASSWORD_PROBLEMS, problemOf, RESET_LINK_PROBLEMS } from './problems.ts';
import { visitorOf } from './visitor.ts';

export const PASSWORD_RESET_PATH = '/account/password/reset';

const EMAIL_INVALID = 'reset:email_invalid';
interface Deps {
  passwordResets: PasswordResets;
  i18n: I18n;
  /** The pages' CSP (the views'). */
  pageCsp: string;
  csrf: Csrf;
  limits: RateLimitHooks;
  /** The issuer is https: the cookie is Secure. */
  secure: boolean;
}

type Form = { Body: { email?: unknown; password?: unknown; csrf?: unknown } };
type WithToken = { Params: { token: string } };

/** "Forgot your password?": ask for a link by mail, then set a new password with it. */
export async function passwordResetRoutes(app: FastifyInstance, { passwordResets, i18n, pageCsp, csrf, limits, secure }: Deps): Promise<void> {
  await registerPageDefaults(app, i18n, pageCsp);
  const forms = accountCsrf(csrf, secure);
  forms.guard(app);

  const csrfToken = (request: FastifyRequest, reply: FastifyReply) => forms.token(request, reply);

  const text = (value: unknown) => (typeof value === 'string' ? value : '');

  /** A refused link: its own page; anything else goes to the error handler. */
  function linkProblem(error: unknown, reply: FastifyReply) {
    const problem = problemOf(error, RESET_LINK_PROBLEMS, pageText(reply));
    return reply.code(problem.status).view('reset-link', { message: problem.message, requestPath: PASSWORD_RESET_PATH });
  }

  app.get(PASSWORD_RESET_PATH, async (request, reply) => reply.view('reset-request', { csrf: csrfToken(request, reply), email: '', error: null }));

  app.post<Form>(PASSWORD_RESET_PATH, { preHandler: [limits.passwordResetPerIp, limits.passwordResetPerAccount] }, async (request, reply) => {
    const email = text(request.body?.email).trim();
    if (!email || email.length > 320) {
      return reply.code(400).view('reset-request', { csrf: csrfToken(request, reply), email: email.slice(0, 320), error: pageText(reply)(EMAIL_INVALID) });
    }
    // Answered before the work is done: for a known address it writes a link and queues a
    // mail, for an unknown one it does not, and the answer's timing must not tell them apart.
    void passwordResets.requestPasswordReset(email, visitorOf(request), pageLocale(reply)).catch((err: unknown) => request.log.error({ err }, 'password reset request failed'));
    return reply.view('reset-sent', {});
  });

  app.get<WithToken>(`${PASSWORD_RESET_PATH}/:token`, async (request, reply) => {
    try {
      await passwordResets.resetLink(request.params.token);
    } catch (error) {
      return linkProblem(error, reply);
    }
    return reply.view('reset-password', { csrf: csrfToken(request, reply), action: `${PASSWORD_RESET_PATH}/${request.params.token}`, error: null });
  });

  app.post<WithToken & Form>(`${PASSWORD_RESET_PATH}/:token`, async (request, reply) => {
    const { token } = request.params;
    let done;
    try {
      done = await passwordResets.resetPassword(token, text(request.body?.password), visitorOf(request));
    } catch (error) {
      if (!isProblem(error, PASSWORD_PROBLEMS)) return linkProblem(error, reply);
      const { message } = problemOf(error, PASSWORD_PROBLEMS, pageText(reply));
      return reply.code(400).view('reset-password', { csrf: csrfToken(request, reply), action: `${PASSWORD_RESET_PATH}/${token}`, error: message });
    }
    return reply.view('reset-done', { appsSignedOut: done.appsSignedOut });
  });
}
