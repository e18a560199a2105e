import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/index.ts';
import { ACCOUNT_CALLBACK_PATH, ACCOUNT_CLIENT_ID } from '../clients/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { I18n } from '../i18n/index.ts';
import type { LiveProvider } from '../oidc/index.ts';
import type { Csrf, RateLimitHooks } from '../security/index.ts';
import type { SessionView } from '../grants/index.ts';
import type { AccountOverview, Accounts } from '../users/index.ts';
import type { Upstreams } from '../upstreams/index.ts';
import { accountCsrf } from './account-csrf.ts';
import { accountSessions, type AccountSession } from './account-session.ts';
import { allowPasskeyScripts, formText, pageLocale, pageText, registerPageDefaults } from './page-defaults.ts';
import { EMAIL_CHANGE_LINK_PROBLEMS, isProblem, problemOf, refusalPage } from './problems.ts';
import { visitorOf } from './visitor.ts';

export const ACCOUNT_PATH = '/account';

/** What a finished change says above the page (`/account?done=...`). */
const NOTICES = new Set(['name', 'password', 'email', 'app', 'mfa_off', 'passkey_added', 'passkey_removed', 'upstream_unlinked']);

/** Refusals each form shows beside its fields, by form. */
const FORM_PROBLEMS: Record<Section, ReadonlySet<ErrorCode>> = {
  none: new Set(),
  name: new Set(['user.name_invalid']),
  password: new Set(['user.password_wrong', 'user.password_too_short', 'user.password_too_long', 'user.password_too_weak']),
  email: new Set(['user.password_wrong', 'user.email_invalid', 'user.email_unchanged', 'mail.off']),
  delete: new Set(['user.password_wrong', 'user.deletion_off']),
  mfa: new Set(['user.password_wrong', 'mfa.totp_exists', 'mfa.totp_not_started', 'mfa.required']),
  passkeys: new Set(['user.password_wrong', 'mfa.required', 'mfa.passkey_name_missing', 'mfa.passkey_refused', 'mfa.passkey_exists', 'mfa.passkeys_too_many', 'mfa.passkey_not_found', 'mfa.passkeys_unavailable']),
  upstreams: new Set(['user.password_wrong', 'upstream.not_linked', 'upstream.last_way_in']),
};
type Section = 'none' | 'name' | 'password' | 'email' | 'delete' | 'mfa' | 'passkeys' | 'upstreams';
const GONE: ReadonlySet<ErrorCode> = new Set(['user.not_found']);

interface Deps {
  accounts: Accounts;
  live: LiveProvider;
  i18n: I18n;
  /** The pages' CSP (the views'). */
  pageCsp: string;
  csrf: Csrf;
  limits: RateLimitHooks;
  issuer: string;
  /** Signs the account page's cookies. */
  cookieKey: Buffer;
  /** The issuer is https: the cookies are Secure. */
  secure: boolean;
  upstreams: Upstreams;
}

type Form = { Body: Record<string, unknown> };
/** A signed-in person on the page, the provider session they signed in with, and their live sessions. */
type SignedIn = AccountSession & { sessionUid: string; live: SessionView[] };
type WithToken = { Params: { token: string } };

/**
 * The account page: a person signed in through the provider sees and changes their name,
 * password and address, the apps they let in and their sessions, and may delete the account.
 */
export async function accountRoutes(app: FastifyInstance, { accounts, live, i18n, pageCsp, csrf, limits, issuer, cookieKey, secure, upstreams }: Deps): Promise<void> {
  await registerPageDefaults(app, i18n, pageCsp);
  const forms = accountCsrf(csrf, secure);
  forms.guard(app);
  const sessions = accountSessions(app, live, issuer, cookieKey, secure);

  const actorOf = (request: FastifyRequest, session: AccountSession): Actor => ({ ...visitorOf(request), id: `user:${session.userId}` });

  /**
   * The page's signed-in person, while the provider session they signed in with lasts: its uid,
   * and all of the person's live sessions (the page lists them).
   */
  async function signedIn(request: FastifyRequest): Promise<SignedIn | undefined> {
    const session = sessions.current(request);
    if (!session) return undefined;
    const live = await accounts.sessions(session.userId);
    const alive = live.find((s) => sessions.handleOf(s.uid) === session.sessionHandle);
    return alive && { ...session, sessionUid: alive.uid, live };
  }

  /** Deleted or disabled since the page signed them in: the page forgets them. */
  function signedOut(reply: FastifyReply) {
    sessions.end(reply);
    return reply.redirect(ACCOUNT_PATH, 303);
  }

  async function render(request: FastifyRequest, reply: FastifyReply, session: SignedIn, extra: { errors?: Partial<Record<Section, string>>; values?: Record<string, string>; notice?: string } = {}, status = 200) {
    let overview: AccountOverview;
    let secondFactor;
    let linked;
    let hasPassword;
    try {
      [overview, secondFactor, linked, hasPassword] = await Promise.all([
        accounts.overview(session.userId, ACCOUNT_CLIENT_ID),
        accounts.secondFactor(session.userId),
        upstreams.identities.linkedTo(session.userId),
        upstreams.identities.hasPassword(session.userId),
      ]);
    } catch (error) {
      if (!isProblem(error, GONE)) throw error;
      return signedOut(reply);
    }
    const dates = new Intl.DateTimeFormat(pageLocale(reply), { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
    if (accounts.passkeys) allowPasskeyScripts(reply);
    return reply.code(status).view('account', {
      csrf: forms.token(request, reply),
      user: overview.user,
      apps: overview.apps.map((a) => ({ clientId: a.clientId, name: a.clientName ?? a.clientId, scope: a.scope, since: dates.format(a.createdAt) })),
      sessions: session.live.map((s) => ({ since: dates.format(s.signedInAt), current: s.uid === session.sessionUid })),
      secondFactor,
      passkeys: accounts.passkeys && secondFactor.passkeys.map((p) => ({ id: p.id, name: p.name, added: dates.format(p.createdAt), used: p.lastUsedAt && dates.format(p.lastUsedAt), synced: p.synced })),
      mfaRequired: accounts.mfaRequired,
      upstreams: linked.map((u) => ({ slug: u.slug, name: u.name, email: u.email, since: dates.format(u.linkedAt) })),
      hasPassword,
      deletion: accounts.deletion,
      emailChanges: accounts.emailChanges,
      signOut: `/session/end?client_id=${ACCOUNT_CLIENT_ID}`,
      errors: extra.errors ?? {},
      values: extra.values ?? {},
      notice: extra.notice ?? null,
    });
  }

  /** Runs a form's change as the signed-in person; a refusal shows the page again with it beside the form. */
  function change(section: Section, limit: boolean, run: (request: FastifyRequest<Form>, reply: FastifyReply, session: SignedIn) => Promise<unknown>, values: (body: Record<string, unknown>) => Record<string, string> = () => ({})) {
    const handler = async (request: FastifyRequest<Form>, reply: FastifyReply) => {
      const session = await signedIn(request);
      if (!session) return reply.redirect(ACCOUNT_PATH, 303);
      try {
        return await run(request, reply, session);
      } catch (error) {
        if (isProblem(error, GONE)) return signedOut(reply);
        if (!isProblem(error, FORM_PROBLEMS[section])) throw error;
        const problem = problemOf(error, FORM_PROBLEMS[section], pageText(reply));
        return render(request, reply, session, { errors: { [section]: problem.message }, values: values(request.body ?? {}) }, problem.status);
      }
    };
    return limit ? { preHandler: [limits.loginPerIp], handler } : { handler };
  }

  app.get<{ Querystring: { done?: unknown } }>(ACCOUNT_PATH, async (request, reply) => {
    const session = await signedIn(request);
    if (!session) return reply.redirect(await sessions.start(request, reply, ACCOUNT_PATH, pageLocale(reply)), 303);
    const done = typeof request.query.done === 'string' && NOTICES.has(request.query.done) ? request.query.done : undefined;
    return render(request, reply, session, { notice: done && pageText(reply)(`account:done_${done}`) });
  });

  app.get(ACCOUNT_CALLBACK_PATH, async (request, reply) => {
    let session;
    try {
      session = await sessions.finish(request, reply);
    } catch (error) {
      // A refused or failed sign-in (the person cancelled, a code used twice): say so and offer a new one.
      request.log.info({ err: error }, 'account sign-in refused');
      session = undefined;
    }
    if (!session) return reply.code(400).view('account-signin-failed', { href: ACCOUNT_PATH });
    return reply.redirect(session.back, 303);
  });

  app.post<Form>(
    `${ACCOUNT_PATH}/name`,
    change('name', false, async (request, reply, session) => {
      await accounts.rename(session.userId, formText(request.body.name), actorOf(request, session));
      return reply.redirect(`${ACCOUNT_PATH}?done=name`, 303);
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/password`,
    change('password', true, async (request, reply, session) => {
      await accounts.changePassword(session.userId, formText(request.body.current_password), formText(request.body.password), session.sessionUid, actorOf(request, session), pageLocale(reply));
      return reply.redirect(`${ACCOUNT_PATH}?done=password`, 303);
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/email`,
    change(
      'email',
      true,
      async (request, reply, session) => {
        const actor = actorOf(request, session);
        const { email } = await accounts.checkEmailChange(session.userId, formText(request.body.email, 320).trim(), formText(request.body.current_password), actor);
        // Answered before the work is done: a taken address gets no link, and the timing must not tell.
        void accounts.mailEmailChange(session.userId, email, actor, pageLocale(reply)).catch((err: unknown) => request.log.error({ err }, 'address change mail failed'));
        return reply.redirect(`${ACCOUNT_PATH}?done=email`, 303);
      },
      (body) => ({ email: formText(body.email, 320) }),
    ),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/apps/revoke`,
    change('none', false, async (request, reply, session) => {
      const clientId = formText(request.body.client_id, 256);
      if (clientId && clientId !== ACCOUNT_CLIENT_ID) await accounts.revokeApp(session.userId, clientId, actorOf(request, session));
      return reply.redirect(`${ACCOUNT_PATH}?done=app`, 303);
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/sessions/end`,
    change('none', false, async (request, reply, session) => {
      await accounts.endSessions(session.userId, actorOf(request, session));
      sessions.end(reply);
      return reply.view('account-ended', { title: 'account:ended_title', heading: 'account:ended_heading', message: 'account:ended_text', href: ACCOUNT_PATH });
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/delete`,
    change('delete', true, async (request, reply, session) => {
      await accounts.deleteAccount(session.userId, formText(request.body.current_password), actorOf(request, session));
      sessions.end(reply);
      return reply.view('account-ended', { title: 'account:deleted_title', heading: 'account:deleted_heading', message: 'account:deleted_text', href: null });
    }),
  );

  // Two-step sign-in: an authenticator app, confirmed by a first code, and its recovery codes.
  const MFA_CONFIRM: ReadonlySet<ErrorCode> = new Set(['mfa.code_wrong']);

  app.post<Form>(
    `${ACCOUNT_PATH}/totp`,
    change('mfa', true, async (request, reply, session) => {
      const setup = await accounts.beginTotp(session.userId, formText(request.body.current_password), actorOf(request, session));
      return reply.view('account-totp', { csrf: forms.token(request, reply), setup, error: null });
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/totp/confirm`,
    change('mfa', true, async (request, reply, session) => {
      try {
        const codes = await accounts.confirmTotp(session.userId, formText(request.body.code, 64), actorOf(request, session));
        return reply.view('account-recovery-codes', { codes });
      } catch (error) {
        if (!isProblem(error, MFA_CONFIRM)) throw error;
        const setup = await accounts.pendingTotp(session.userId);
        return reply.code(400).view('account-totp', { csrf: forms.token(request, reply), setup, error: problemOf(error, MFA_CONFIRM, pageText(reply)).message });
      }
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/recovery-codes`,
    change('mfa', true, async (request, reply, session) => {
      const codes = await accounts.newRecoveryCodes(session.userId, formText(request.body.current_password), actorOf(request, session));
      return reply.view('account-recovery-codes', { codes });
    }),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/totp/remove`,
    change('mfa', true, async (request, reply, session) => {
      await accounts.removeTotp(session.userId, formText(request.body.current_password), actorOf(request, session));
      return reply.redirect(`${ACCOUNT_PATH}?done=mfa_off`, 303);
    }),
  );

  // Passkeys: the browser's script asks for a challenge (JSON), then posts the new passkey in the form.
  app.post(`${ACCOUNT_PATH}/passkeys/options`, { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    const session = await signedIn(request);
    if (!session) return reply.code(401).type('application/json').send({ error: 'signed_out' });
    try {
      return reply.type('application/json').send(await accounts.passkeyOptions(session.userId));
    } catch (error) {
      if (!isProblem(error, FORM_PROBLEMS.passkeys)) throw error;
      return reply.code(error.status).type('application/json').send({ error: error.code });
    }
  });

  app.post<Form>(
    `${ACCOUNT_PATH}/passkeys`,
    change(
      'passkeys',
      true,
      async (request, reply, session) => {
        await accounts.addPasskey(session.userId, formText(request.body.current_password), formText(request.body.name, 256), request.body.response, actorOf(request, session));
        return reply.redirect(`${ACCOUNT_PATH}?done=passkey_added`, 303);
      },
      (body) => ({ passkey_name: formText(body.name, 64) }),
    ),
  );

  app.post<Form>(
    `${ACCOUNT_PATH}/passkeys/remove`,
    change('passkeys', true, async (request, reply, session) => {
      await accounts.removePasskey(session.userId, formText(request.body.current_password), formText(request.body.passkey, 2048), actorOf(request, session));
      return reply.redirect(`${ACCOUNT_PATH}?done=passkey_removed`, 303);
    }),
  );

  // Unlinking an upstream: the person's password first where they have one; another way in stays.
  app.post<Form>(
    `${ACCOUNT_PATH}/upstreams/unlink`,
    change('upstreams', true, async (request, reply, session) => {
      const actor = actorOf(request, session);
      const confirm = () => accounts.confirmPassword(session.userId, formText(request.body.current_password), actor);
      await upstreams.identities.unlink(session.userId, formText(request.body.upstream, 40), confirm, actor);
      return reply.redirect(`${ACCOUNT_PATH}?done=upstream_unlinked`, 303);
    }),
  );

  // The mailed link that confirms a new address: only the person it was asked for may use it, so
  // the browser signs in first (and comes back here).
  const linkRefused = (reply: FastifyReply, error: unknown) => refusalPage(reply, error, EMAIL_CHANGE_LINK_PROBLEMS);

  app.get<WithToken>(`${ACCOUNT_PATH}/email/:token`, async (request, reply) => {
    const path = `${ACCOUNT_PATH}/email/${request.params.token}`;
    try {
      // A link that cannot be used says so at once, before any sign-in.
      await accounts.checkEmailChangeLink(request.params.token);
      const session = await signedIn(request);
      if (!session) return reply.redirect(await sessions.start(request, reply, path, pageLocale(reply)), 303);
      const { email, current } = await accounts.emailChange(request.params.token, session.userId);
      return reply.view('account-email', { csrf: forms.token(request, reply), email, current, action: path });
    } catch (error) {
      return linkRefused(reply, error);
    }
  });

  app.post<WithToken>(`${ACCOUNT_PATH}/email/:token`, async (request, reply) => {
    const session = await signedIn(request);
    if (!session) return reply.redirect(`${ACCOUNT_PATH}/email/${request.params.token}`, 303);
    try {
      const { email } = await accounts.confirmEmailChange(request.params.token, session.userId, actorOf(request, session), pageLocale(reply));
      return reply.view('account-email-done', { email, href: ACCOUNT_PATH });
    } catch (error) {
      return linkRefused(reply, error);
    }
  });
}
