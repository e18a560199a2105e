import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, type InteractionResults } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Audit, AuditEventInput } from '../audit/index.ts';
import { allowedUpstreamsOf, allowsPasswordSignIn, isFirstParty, requiresMfa } from '../clients/index.ts';
import { allowPasskeyScripts, pageLocale, pageText, registerPageDefaults, setPageLocale } from './page-defaults.ts';
import { ACR_PASSWORD, asksForMfa, STEP_UP_REASON, type LiveProvider } from '../oidc/index.ts';
import type { Csrf, RateLimitHooks } from '../security/index.ts';
import type { Signups, Users } from '../users/index.ts';
import type { I18n, Translate } from '../i18n/index.ts';
import { destinationOf } from './destination.ts';
import { visitorOf } from './visitor.ts';
import { signupRoutes, verifyFallback, type InteractionKit } from './signup.ts';
import { AMR_PASSWORD, secondFactorStep } from './second-factor.ts';
import { passkeySignIn } from './passkey-sign-in.ts';
import { createSigner } from './signed.ts';
import type { Mfa } from '../mfa/index.ts';
import type { Upstreams } from '../upstreams/index.ts';
import { upstreamSignIn } from './upstreams.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

declare module 'fastify' {
  interface FastifyRequest {
    interaction: Interaction;
  }
}

const EXPIRED = 'errors:interaction.expired';
const INVALID_LOGIN = 'login:invalid';
const FORGED = 'errors:interaction.forged';

interface Deps {
  live: LiveProvider;
  users: Users;
  audit: Audit;
  csrf: Csrf;
  limits: RateLimitHooks;
  /** Mail can be sent: the login page links to the password reset. */
  passwordReset: boolean;
  signups: Signups;
  i18n: I18n;
  /** The pages' CSP (the views'). */
  pageCsp: string;
  mfa: Mfa;
  /** Signs what the second step of a sign-in carries from the first. */
  stepKey: Buffer;
  /** MFA=required. */
  mfaRequired: boolean;
  upstreams: Upstreams;
  /** UPSTREAM_DOMAINS: the upstream the people of an email domain sign in through. */
  upstreamDomains: ReadonlyMap<string, string>;
  /** Cookies are Secure (an https issuer). */
  secure: boolean;
}

type Form = { Body: { email?: unknown; password?: unknown; csrf?: unknown } };

/** Login and consent pages for the provider's interactions (prompt "login", then "consent"). */
export async function interactionRoutes(app: FastifyInstance, { live, users, audit, csrf, limits, passwordReset, signups, i18n, pageCsp, mfa, stepKey, mfaRequired, upstreams, upstreamDomains, secure }: Deps): Promise<void> {
  // Read on each use: the provider is replaced when the signing keys change.
  const provider = (): Provider => live.provider;
  await registerPageDefaults(app, i18n, pageCsp);
  app.decorateRequest('interaction', null as unknown as Interaction);
  app.addHook('preHandler', async (request, reply) => {
    try {
      request.interaction = await provider().interactionDetails(request.raw, reply.raw);
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound)) throw error;
      const fallback = verifyFallback(request.url);
      if (fallback) return reply.redirect(fallback, 303);
      return reply.code(400).view('error', { message: pageText(reply)(EXPIRED) });
    }
    // The sign-in request's ui_locales come before the browser's languages, on every page of it.
    setPageLocale(request, reply, i18n, request.interaction.params.ui_locales);
    if (request.method === 'POST' && !csrf.verify(request.interaction.uid, (request.body as Form['Body'] | undefined)?.csrf)) {
      return reply.code(403).view('error', { message: pageText(reply)(FORGED) });
    }
  });

  const context = (request: FastifyRequest) => ({
    clientId: String(request.interaction.params.client_id),
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    requestId: request.id,
  });
  const record = (request: FastifyRequest, event: Omit<AuditEventInput, 'clientId' | 'ip' | 'userAgent' | 'requestId'>) =>
    audit.record({ ...context(request), ...event });

  async function clientOf(interaction: Interaction) {
    const client = await provider().Client.find(String(interaction.params.client_id));
    const metadata: Record<string, unknown> = client?.metadata() ?? {};
    return {
      name: String(metadata.client_name ?? metadata.client_id),
      firstParty: isFirstParty(metadata),
      requireMfa: requiresMfa(metadata),
      upstreams: allowedUpstreamsOf(metadata),
      passwordSignIn: allowsPasswordSignIn(metadata),
    };
  }

  async function finish(request: FastifyRequest, reply: FastifyReply, result: InteractionResults, merge = false) {
    const url = await provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: merge });
    return reply.redirect(url, 303);
  }

  /** Grants what the consent prompt found missing, on the existing grant or a new one. */
  async function grantMissing(interaction: Interaction): Promise<string> {
    const { prompt, params, session, grantId } = interaction;
    const { Grant } = provider();
    const grant = grantId ? await Grant.find(grantId) : new Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
    if (!grant) throw new errors.SessionNotFound('grant not found');
    const details = prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    return grant.save();
  }

  /** Human descriptions of what consent would grant: OIDC scopes by meaning, API scopes by name and API. */
  function requestedScopes(interaction: Interaction, t: Translate): string[] {
    const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    const oidc = (details.missingOIDCScope ?? []).map((scope) => t(`consent:scopes.${scope}`, { defaultValue: scope }));
    const api = Object.entries(details.missingResourceScopes ?? {}).flatMap(([resource, scopes]) => scopes.map((s) => t('consent:api_scope', { scope: s, resource })));
    return [...oidc, ...api];
  }

  const wrongPrompt = (reply: FastifyReply) => reply.code(400).view('error', { message: pageText(reply)(EXPIRED) });
  const page = (interaction: Interaction, data: Record<string, unknown>) => ({
    uid: interaction.uid,
    csrf: csrf.tokenFor(interaction.uid),
    passwordReset,
    signup: signups.open,
    ...data,
  });
  const loggedIn = (request: FastifyRequest, userId: string, details?: Record<string, string>) =>
    record(request, { type: 'login.success', outcome: 'success', actor: `user:${userId}`, subject: userId, ...(details ? { details } : {}) });

  /** The login page: email and password, and a passkey button where passkeys work here. */
  async function loginPage(request: FastifyRequest, reply: FastifyReply, { email = '', error = null, status = 200 }: { email?: unknown; error?: string | null; status?: number }) {
    const client = await clientOf(request.interaction);
    if (mfa.passkeys.available) allowPasskeyScripts(reply);
    const providers = (await upstreams.enabled()).filter((upstream) => !client.upstreams || client.upstreams.includes(upstream.slug));
    return reply.code(status).view('login', page(request.interaction, {
      clientName: client.name,
      email,
      error,
      passkeys: mfa.passkeys.available,
      upstreams: providers,
      homeRealm: upstreamDomains.size > 0,
      passwordSignIn: client.passwordSignIn,
      // Sign-up and the reset make passwords: not offered where the app takes none.
      ...(client.passwordSignIn ? {} : { signup: false, passwordReset: false }),
    }));
  }

  app.get('/interaction/:uid', async (request, reply) => {
    const { interaction } = request;
    const client = await clientOf(interaction);
    // Step-up inside a session signed in with the password alone: only the missing code is asked
    // for. Someone with no app yet gives the password first (a session alone never sets one up).
    const stepUp = interaction.prompt.name === 'login' && interaction.prompt.reasons.includes(STEP_UP_REASON) ? interaction.session?.accountId : undefined;
    if (stepUp) {
      const factors = await secondStep.factorsOf(stepUp);
      // A session signed in through an upstream keeps saying so after the code.
      const earlier = interaction.session?.amr;
      const first = Array.isArray(earlier) && earlier.includes('fed') ? { amr: earlier.map(String) } : undefined;
      if (factors.totp || factors.passkey) return secondStep.ask(request, reply, stepUp, factors, { first });
    }
    if (interaction.prompt.name === 'login') return loginPage(request, reply, { email: interaction.params.login_hint ?? '' });
    if (interaction.prompt.name === 'consent') {
      if (client.firstParty) return finish(request, reply, { consent: { grantId: await grantMissing(interaction) } }, true);
      const user = await users.findById(String(interaction.session?.accountId));
      const destination = destinationOf(interaction);
      return reply.view('consent', page(interaction, { clientName: client.name, email: user?.email ?? '', scopes: requestedScopes(interaction, pageText(reply)), destination }));
    }
    return wrongPrompt(reply);
  });

  app.post<Form>('/interaction/:uid/login', { preHandler: [limits.loginPerIp, limits.loginPerAccount] }, async (request, reply) => {
    const { interaction } = request;
    if (interaction.prompt.name !== 'login') return wrongPrompt(reply);
    const email = typeof request.body?.email === 'string' ? request.body.email : '';
    const password = typeof request.body?.password === 'string' ? request.body.password : '';
    // Home-realm discovery: the people of a company's domain sign in at the company's provider.
    const realm = upstreamDomains.get(email.trim().toLowerCase().split('@').at(-1) ?? '');
    // An upstream this app does not offer (or one switched off) leaves the password as the way in.
    if (realm && email.includes('@') && (await federated.offers(request, realm))) return federated.startAt(request, reply, realm, email.trim());
    if (!(await clientOf(interaction)).passwordSignIn) return reply.code(403).view('error', { message: pageText(reply)('upstream:password_not_offered'), back: `/interaction/${interaction.uid}`, backText: pageText(reply)('upstream:back') });
    const result = await users.authenticate(email, password);
    if (result.ok) return passwordAccepted(request, reply, result.user.id);
    // The reason is for the audit trail; the person sees the same message whatever it was.
    await record(request, { type: 'login.failure', outcome: 'failure', subject: result.userId ?? null, details: { reason: result.reason } });
    if (result.lockedUntil) {
      await record(request, { type: 'login.lockout', outcome: 'failure', subject: result.userId ?? null, details: { lockedUntil: result.lockedUntil.toISOString() } });
    }
    if (result.reason === 'unverified' && passwordReset) {
      void signups.sendVerificationForSignIn(result.userId!, interaction.uid, visitorOf(request), pageLocale(reply)).catch((err: unknown) => request.log.error({ err }, 'verification mail failed'));
      return reply.code(403).view('verify-sent', page(interaction, { email }));
    }
    return loginPage(request, reply, { email, error: pageText(reply)(INVALID_LOGIN), status: 401 });
  });

  app.post('/interaction/:uid/consent', async (request, reply) => {
    const { interaction } = request;
    if (interaction.prompt.name !== 'consent') return wrongPrompt(reply);
    const grantId = await grantMissing(interaction);
    const accountId = String(interaction.session?.accountId);
    await record(request, { type: 'consent.granted', outcome: 'success', actor: `user:${accountId}`, subject: accountId });
    return finish(request, reply, { consent: { grantId } }, true);
  });

  app.post('/interaction/:uid/abort', async (request, reply) => {
    const { interaction } = request;
    if (interaction.prompt.name === 'consent') {
      const accountId = String(interaction.session?.accountId);
      await record(request, { type: 'consent.denied', outcome: 'failure', actor: `user:${accountId}`, subject: accountId });
    }
    return finish(request, reply, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  });

  async function passwordAccepted(request: FastifyRequest, reply: FastifyReply, userId: string) {
    const factors = await secondStep.factorsOf(userId);
    if (factors.totp) return secondStep.ask(request, reply, userId, factors);
    const wanted = secondStep.required || asksForMfa(request.interaction.params.acr_values) || (await clientOf(request.interaction)).requireMfa;
    // A passkey is the second step of those who have one but no app; the others set up an app.
    if (wanted) return factors.passkey ? secondStep.ask(request, reply, userId, factors) : secondStep.enrol(request, reply, userId);
    await loggedIn(request, userId);
    return finish(request, reply, { login: { accountId: userId, amr: AMR_PASSWORD, acr: ACR_PASSWORD } });
  }

  const kit: InteractionKit = {
    interactionOf: (request) => request.interaction as ReturnType<InteractionKit['interactionOf']>,
    page: (request, data) => page(request.interaction, data),
    finish: (request, reply, result) => finish(request, reply, result),
    wrongPrompt,
    clientName: async (request) => (await clientOf(request.interaction)).name,
    loggedIn,
    passwordAccepted,
    loginPage: (request, reply, error, status) => loginPage(request, reply, { error, status }),
    passwordSignIn: async (request) => (await clientOf(request.interaction)).passwordSignIn,
  };
  if (passwordReset) signupRoutes(app, kit, { signups, limits });
  const secondStep = secondFactorStep(app, kit, {
    mfa,
    isActive: users.isActive,
    emailOf: async (userId) => (await users.findById(userId))?.email,
    required: mfaRequired,
    signer: createSigner(stepKey),
    limits,
    record,
    completeFirst: (request, userId, first) => federated.complete(request, userId, first),
  });
  passkeySignIn(app, kit, { passkeys: mfa.passkeys, secondStep, limits, record });
  const federated = upstreamSignIn(app, kit, {
    upstreams,
    users,
    signer: createSigner(stepKey),
    limits,
    record,
    secondStep,
    secure,
    mfaRequired,
    requireMfa: async (request) => (await clientOf(request.interaction)).requireMfa,
    allows: async (request, slug) => {
      const allowed = (await clientOf(request.interaction)).upstreams;
      return !allowed || allowed.includes(slug);
    },
  });
}
