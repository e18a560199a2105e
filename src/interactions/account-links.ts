import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { I18n } from '../i18n/index.ts';
import type { Csrf } from '../security/index.ts';
import type { Signups } from '../users/index.ts';
import { accountCsrf } from './account-csrf.ts';
import { formText, pageLocale, pageText, registerPageDefaults } from './page-defaults.ts';
import { INVITATION_PROBLEMS, isProblem, refusalPage, SIGNUP_PROBLEMS, VERIFICATION_PROBLEMS } from './problems.ts';
import { visitorOf } from './visitor.ts';

interface Deps {
  signups: Signups;
  i18n: I18n;
  /** The pages' CSP (the views'). */
  pageCsp: string;
  csrf: Csrf;
  /** The issuer is https: the CSRF cookie is Secure. */
  secure: boolean;
}

type WithToken = { Params: { token: string } };
type InvitationForm = WithToken & { Body: { name?: unknown; password?: unknown; csrf?: unknown } };

/**
 * Mailed links opened outside a sign-in request: confirming an address (when its sign-in
 * request is gone or the link opens in another browser) and accepting an invitation.
 */
export async function accountLinkRoutes(app: FastifyInstance, { signups, i18n, pageCsp, csrf, secure }: Deps): Promise<void> {
  await registerPageDefaults(app, i18n, pageCsp);
  const forms = accountCsrf(csrf, secure);
  forms.guard(app);

  app.get<WithToken>('/account/verify/:token', async (request, reply) => {
    try {
      const link = await signups.verificationLink(request.params.token);
      return reply.view('verify', { csrf: forms.token(request, reply), email: link.email, action: `/account/verify/${request.params.token}` });
    } catch (error) {
      return refusalPage(reply, error, VERIFICATION_PROBLEMS);
    }
  });

  app.post<WithToken>('/account/verify/:token', async (request, reply) => {
    try {
      await signups.verifyEmail(request.params.token, visitorOf(request));
    } catch (error) {
      return refusalPage(reply, error, VERIFICATION_PROBLEMS);
    }
    return reply.view('verified', {});
  });

  const invitationForm = (request: FastifyRequest<WithToken>, reply: FastifyReply, email: string, name: string, error: string | null, status = 200) =>
    reply.code(status).view('invitation', { csrf: forms.token(request, reply), email, name, error, passwordMinLength: signups.passwordMinLength, action: `/account/invitation/${request.params.token}` });

  app.get<WithToken>('/account/invitation/:token', async (request, reply) => {
    try {
      const { email } = await signups.invitation(request.params.token);
      return invitationForm(request, reply, email, '', null);
    } catch (error) {
      return refusalPage(reply, error, INVITATION_PROBLEMS);
    }
  });

  app.post<InvitationForm>('/account/invitation/:token', async (request, reply) => {
    const name = formText(request.body?.name, 1024);
    try {
      await signups.acceptInvitation(request.params.token, { name, password: formText(request.body?.password, 1024) }, visitorOf(request), pageLocale(reply));
    } catch (error) {
      if (!isProblem(error, SIGNUP_PROBLEMS)) return refusalPage(reply, error, INVITATION_PROBLEMS);
      const { email } = await signups.invitation(request.params.token);
      return invitationForm(request, reply, email, name, pageText(reply)(`errors:${error.code}`), 400);
    }
    return reply.view('invitation-done', {});
  });
}
