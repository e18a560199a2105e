import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OstiaryError, type ErrorCode } from '../errors.ts';
import { accountCsrf } from './account-csrf.ts';
import { registerPageDefaults } from './page-defaults.ts';
import type { I18n } from '../i18n/index.ts';
import type { Csrf, RateLimitHooks } from '../security/index.ts';
import type { PasswordResets } from '../users/index.ts';
import { visitorOf } from './visitor.ts';

export const PASSWORD_RESET_PATH = '/account/password/reset';

const FORGED = 'This form could not be accepted. Open the page again and retry.';
const EMAIL_INVALID = 'Enter your email address.';
/** The person sees the same words whatever was wrong with the link's use, per kind. */
const LINK_PROBLEMS: Partial<Record<ErrorCode, string>> = {
  'user.reset_link_invalid': 'This password reset link is not valid. Ask for a new one.',
  'user.reset_link_used': 'This password reset link was used already. Ask for a new one if you still need it.',
  'user.reset_link_expired': 'This password reset link has expired. Ask for a new one.',
};
const PASSWORD_PROBLEMS: Partial<Record<ErrorCode, string>> = {
  'user.password_too_short': 'This password is too short.',
  'user.password_too_long': 'This password is too long.',
  'user.password_too_weak': 'This password is too easy to guess. Try a longer phrase of unrelated words.',
};

interface Deps {
  passwordResets: PasswordResets;
  i18n: I18n;
  csrf: Csrf;
  limits: RateLimitHooks;
  /** The issuer is https: the cookie is Secure. */
  secure: boolean;
}

type Form = { Body: { email?: unknown; password?: unknown; csrf?: unknown } };
type WithToken = { Params: { token: string } };

/** "Forgot your password?": ask for a link by mail, then set a new password with it. */
export async function passwordResetRoutes(app: FastifyInstance, { passwordResets, i18n, csrf, limits, secure }: Deps): Promise<void> {
  await registerPageDefaults(app);
  const forms = accountCsrf(csrf, secure);
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    if (!forms.verify(request)) return reply.code(403).view('error', { message: FORGED });
  });

  const csrfToken = (request: FastifyRequest, reply: FastifyReply) => forms.token(request, reply);

  const text = (value: unknown) => (typeof value === 'string' ? value : '');

  /** A refused link: its own page; anything else goes to the error handler. */
  function linkProblem(error: unknown, reply: FastifyReply) {
    const message = error instanceof OstiaryError ? LINK_PROBLEMS[error.code] : undefined;
    if (!message) throw error;
    return reply.code((error as OstiaryError).status).view('reset-link', { message, requestPath: PASSWORD_RESET_PATH });
  }

  app.get(PASSWORD_RESET_PATH, async (request, reply) => reply.view('reset-request', { csrf: csrfToken(request, reply), email: '', error: null }));

  app.post<Form>(PASSWORD_RESET_PATH, { preHandler: [limits.passwordResetPerIp, limits.passwordResetPerAccount] }, async (request, reply) => {
    const email = text(request.body?.email).trim();
    if (!email || email.length > 320) {
      return reply.code(400).view('reset-request', { csrf: csrfToken(request, reply), email: email.slice(0, 320), error: EMAIL_INVALID });
    }
    const locale = i18n.negotiate({ acceptLanguage: request.headers['accept-language'] });
    // Answered before the work is done: for a known address it writes a link and queues a
    // mail, for an unknown one it does not, and the answer's timing must not tell them apart.
    void passwordResets.requestPasswordReset(email, visitorOf(request), locale).catch((err: unknown) => request.log.error({ err }, 'password reset request failed'));
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
    try {
      await passwordResets.resetPassword(token, text(request.body?.password), visitorOf(request));
    } catch (error) {
      const problem = error instanceof OstiaryError ? PASSWORD_PROBLEMS[error.code] : undefined;
      if (!problem) return linkProblem(error, reply);
      return reply.code(400).view('reset-password', { csrf: csrfToken(request, reply), action: `${PASSWORD_RESET_PATH}/${token}`, error: problem });
    }
    return reply.view('reset-done', {});
  });
}
