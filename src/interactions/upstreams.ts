import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Audit, AuditEventInput } from '../audit/index.ts';
import type { I18n } from '../i18n/index.ts';
import { OstiaryError, type ErrorCode } from '../errors.ts';
import { ACR_FEDERATED, asksForMfa } from '../oidc/index.ts';
import type { RateLimitHooks } from '../security/index.ts';
import { isSignInError, type PendingSignIn, type UpstreamIdentityClaims, type UpstreamRuntime, type Upstreams } from '../upstreams/index.ts';
import type { Users } from '../users/index.ts';
import { readCookie, setCookie } from './cookies.ts';
import { formText, pageText, registerPageDefaults } from './page-defaults.ts';
import { AMR_FEDERATED, AMR_FEDERATED_AND_PASSWORD, type FirstStep, type secondFactorStep } from './second-factor.ts';
import { createSigner, SIGNED_FORM, type Signer } from './signed.ts';
import type { InteractionKit } from './signup.ts';
import { visitorOf } from './visitor.ts';

/** The cookie that carries a sign-in through an upstream from its start to the redirect URI. */
const COOKIE = 'ostiary_upstream';
const PENDING = 'upstream-sign-in';
const LINK = 'upstream-link';
/** How long the person may take at the upstream, and to confirm a link. */
const PENDING_SECONDS = 600;
/** The callback parameters passed on (RFC 6749 4.1.2, RFC 9207); nothing else of the upstream's answer. */
const CALLBACK_PARAMS = ['code', 'state', 'iss', 'error', 'error_description'] as const;
/** Refusals the person sees in words of their own (the catalogue's `errors:<code>`). */
// user.email_taken: another first sign-in with the same address created the account a moment before.
const PERSON_PROBLEMS: ReadonlySet<ErrorCode> = new Set(['upstream.no_account', 'upstream.email_missing', 'upstream.email_unverified', 'upstream.account_disabled', 'upstream.already_linked', 'user.email_taken']);
const WRONG_PASSWORD = 'upstream:link_wrong_password';

type Record_ = (request: FastifyRequest, event: Omit<AuditEventInput, 'clientId' | 'ip' | 'userAgent' | 'requestId'>) => Promise<void>;

interface Deps {
  upstreams: Upstreams;
  users: Users;
  signer: Signer;
  limits: RateLimitHooks;
  record: Record_;
  secondStep: ReturnType<typeof secondFactorStep>;
  /** Cookies are Secure (an https issuer). */
  secure: boolean;
  /** MFA=required. */
  mfaRequired: boolean;
  requireMfa(request: FastifyRequest): Promise<boolean>;
  /** The app lets its users sign in through this upstream. */
  allows(request: FastifyRequest, slug: string): Promise<boolean>;
}

type Params = { Params: { uid: string; slug: string } };
type LinkForm = Params & { Body: { pending?: unknown; password?: unknown; csrf?: unknown } };
type Link = { uid: string; slug: string; sub: string; identity: UpstreamIdentityClaims };

/** The pending sign-in of this browser, if it is for this sign-in request and upstream. */
function pendingOf(request: FastifyRequest, signer: Signer, uid: string | undefined, slug: string): (PendingSignIn & { uid: string }) | undefined {
  const pending = signer.open<PendingSignIn & { uid: string }>(PENDING, readCookie(request, COOKIE, SIGNED_FORM));
  if (!pending || pending.slug !== slug || typeof pending.state !== 'string' || typeof pending.verifier !== 'string' || typeof pending.uid !== 'string') return undefined;
  if (uid !== undefined && pending.uid !== uid) return undefined;
  return pending as PendingSignIn & { uid: string };
}

/**
 * The upstream's redirect URI, ISSUER/upstreams/SLUG/callback: outside the sign-in request's
 * pages (the provider's interaction cookie is scoped to them), so it only hands the answer on to
 * the sign-in request this browser started. GET, or POST for response_mode=form_post (the
 * redirect makes it a GET, which carries the SameSite=Lax cookie).
 */
export async function upstreamCallbackRoutes(app: FastifyInstance, { stepKey, audit, i18n, pageCsp, upstreams, limits }: { stepKey: Buffer; audit: Audit; i18n: I18n; pageCsp: string; upstreams: Upstreams; limits: RateLimitHooks }) {
  await registerPageDefaults(app, i18n, pageCsp);
  const signer = createSigner(stepKey);
  const record = (request: FastifyRequest, event: Omit<AuditEventInput, 'ip' | 'userAgent' | 'requestId'>) =>
    audit.record({ ...event, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id });
  /** The answer's parameters we pass on, from the query or a form_post body. */
  const answerOf = (source: Record<string, unknown>) => {
    const forwarded = new URLSearchParams();
    for (const name of CALLBACK_PARAMS) {
      const value = formText(source[name], 2048);
      if (value) forwarded.set(name, value);
    }
    return forwarded;
  };
  type Callback = { Params: { slug: string }; Querystring: Record<string, unknown>; Body: Record<string, unknown> };
  const handler = async (request: FastifyRequest<Callback>, reply: FastifyReply) => {
    const { slug } = request.params;
    const pending = pendingOf(request, signer, undefined, slug);
    if (!pending) {
      await record(request, { type: 'upstream.refused', outcome: 'failure', details: { upstream: formText(slug, 40), reason: 'invalid', error: 'no_pending_sign_in' } });
      return reply.code(400).view('error', { message: pageText(reply)('upstream:no_pending') });
    }
    return reply.redirect(`/interaction/${encodeURIComponent(pending.uid)}/upstreams/${encodeURIComponent(slug)}/return?${answerOf(request.query)}`, 303);
  };
  app.get<Callback>('/upstreams/:slug/callback', { preHandler: [limits.authorizePerIp] }, handler);
  // A cross-site POST carries no SameSite=Lax cookie: its answer is turned into the same page's GET, a top-level navigation that does.
  app.post<Callback>('/upstreams/:slug/callback', { preHandler: [limits.authorizePerIp] }, async (request, reply) => {
    const body = request.body && typeof request.body === 'object' ? request.body : {};
    return reply.redirect(`/upstreams/${encodeURIComponent(request.params.slug)}/callback?${answerOf(body)}`, 303);
  });

  // The public key of Ostiary's client assertions at an upstream (private_key_jwt), for it to fetch.
  app.get<{ Params: { slug: string } }>('/upstreams/:slug/jwks.json', { preHandler: [limits.authorizePerIp] }, async (request, reply) => {
    const jwks = await upstreams.jwksOf(request.params.slug);
    if (!jwks) return reply.code(404).type('application/json').send({ error: 'not_found', error_description: 'No such key set.' });
    return reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(jwks);
  });
}

/**
 * Signing in through an upstream, inside a sign-in request: the button's form starts it, the
 * answer comes back through the redirect URI, and the person is signed in, created just in time,
 * or asked for their password before an existing account is linked.
 */
export function upstreamSignIn(app: FastifyInstance, kit: InteractionKit, { upstreams, users, signer, limits, record, secondStep, secure, mfaRequired, requireMfa, allows }: Deps) {
  const uidOf = (request: FastifyRequest) => kit.interactionOf(request).uid;
  const back = (request: FastifyRequest) => `/interaction/${uidOf(request)}`;
  const clearPending = (reply: FastifyReply) => setCookie(reply, COOKIE, '', { path: '/', sameSite: 'Lax', secure, maxAge: 0 });

  /** Our error page, with the way back to the login page; the failure is audited first. */
  async function failed(request: FastifyRequest, reply: FastifyReply, slug: string, status: number, message: string, details: Record<string, string>) {
    await record(request, { type: 'upstream.refused', outcome: 'failure', subject: details.subject ?? null, details: { upstream: slug, ...details } });
    return reply.code(status).view('error', { message, back: back(request), backText: pageText(reply)('upstream:back') });
  }

  const unknownUpstream = (request: FastifyRequest, reply: FastifyReply, slug: string) =>
    failed(request, reply, formText(slug, 40), 404, pageText(reply)('upstream:unknown'), { reason: 'invalid', error: 'unknown_upstream' });

  /**
   * The person is who the upstream says: the second step where they have one or it is asked for,
   * else signed in. A link asked for (`link`) is made only once every step is done.
   */
  async function accepted(request: FastifyRequest, reply: FastifyReply, userId: string, slug: string, identity: UpstreamIdentityClaims, link: boolean) {
    const first: FirstStep = { idp: slug, amr: link ? AMR_FEDERATED_AND_PASSWORD : AMR_FEDERATED, identity, link };
    const factors = await secondStep.factorsOf(userId);
    const wanted = mfaRequired || asksForMfa(kit.interactionOf(request).params.acr_values) || (await requireMfa(request));
    if (factors.totp || (wanted && factors.passkey)) return secondStep.ask(request, reply, userId, factors, { first });
    if (wanted) return secondStep.enrol(request, reply, userId, first);
    await complete(request, userId, first);
    await kit.loggedIn(request, userId, { upstream: slug });
    return kit.finish(request, reply, { login: { accountId: userId, amr: [...first.amr!], acr: ACR_FEDERATED } });
  }

  /** Every step of a sign-in through an upstream is done: the link it asked for is made, and the sign-in is recorded on the identity. */
  async function complete(request: FastifyRequest, userId: string, first: FirstStep): Promise<void> {
    const upstream = first.idp ? await upstreams.runtime(first.idp) : undefined;
    if (!upstream || !first.identity) return;
    if (first.link) await upstreams.identities.link(upstream, first.identity, userId, { ...visitorOf(request), id: `user:${userId}` });
    else await upstreams.identities.signedIn(upstream.slug, first.identity.subject, first.identity.email);
  }

  const linkPage = (request: FastifyRequest, reply: FastifyReply, upstream: UpstreamRuntime, link: Link, error: string | null, status = 200) =>
    reply.code(status).view('upstream-link', kit.page(request, {
      upstreamName: upstream.name,
      email: link.identity.email,
      slug: upstream.slug,
      pending: signer.sign(LINK, link, PENDING_SECONDS),
      error,
    }));

  // The login page's "Continue with NAME" button.
  // Limited like opening the login page: no secret is tried here (the answer's return counts as a sign-in try).
  app.post<Params>('/interaction/:uid/upstreams/:slug', { preHandler: [limits.authorizePerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    return startAt(request, reply, request.params.slug);
  });

  /** Sends the browser to the upstream; `loginHint` when the address typed led there (UPSTREAM_DOMAINS). */
  async function startAt(request: FastifyRequest, reply: FastifyReply, slug: string, loginHint?: string) {
    const upstream = (await allows(request, slug)) ? await upstreams.runtime(slug) : undefined;
    if (!upstream) return unknownUpstream(request, reply, slug);
    try {
      const { url, pending } = await upstreams.protocol.begin(upstream, loginHint);
      setCookie(reply, COOKIE, signer.sign(PENDING, { ...pending, uid: uidOf(request) }, PENDING_SECONDS), { path: '/', sameSite: 'Lax', secure, maxAge: PENDING_SECONDS });
      return reply.redirect(url, 303);
    } catch (error) {
      if (!isSignInError(error)) throw error;
      return failed(request, reply, slug, 502, pageText(reply)('upstream:unavailable', { name: upstream.name }), { reason: error.reason, error: error.detail });
    }
  }

  // Where the redirect URI hands the upstream's answer on to.
  app.get<Params & { Querystring: Record<string, unknown> }>('/interaction/:uid/upstreams/:slug/return', { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const { slug } = request.params;
    const pending = pendingOf(request, signer, uidOf(request), slug);
    // Used once: a second answer for the same start finds nothing to continue.
    clearPending(reply);
    const t = pageText(reply);
    if (!pending) return failed(request, reply, formText(slug, 40), 400, t('upstream:no_pending'), { reason: 'invalid', error: 'no_pending_sign_in' });
    const upstream = (await allows(request, slug)) ? await upstreams.runtime(slug) : undefined;
    if (!upstream) return unknownUpstream(request, reply, slug);
    const callback = new URL(upstream.redirectUri);
    for (const [name, value] of Object.entries(request.query)) if (typeof value === 'string') callback.searchParams.set(name, value);
    let identity: UpstreamIdentityClaims;
    try {
      identity = await upstreams.protocol.complete(upstream, pending, callback);
    } catch (error) {
      if (!isSignInError(error)) throw error;
      const status = error.reason === 'unavailable' ? 502 : error.reason === 'denied' ? 403 : 400;
      return failed(request, reply, slug, status, t(`upstream:${error.reason}`, { name: upstream.name }), { reason: error.reason, error: error.detail });
    }
    try {
      const outcome = await upstreams.identities.signIn(upstream, identity, visitorOf(request));
      if (outcome.outcome === 'signed_in') return await accepted(request, reply, outcome.userId, slug, identity, false);
      return linkPage(request, reply, upstream, { uid: uidOf(request), slug, sub: outcome.userId, identity }, null);
    } catch (error) {
      if (!(error instanceof OstiaryError) || !PERSON_PROBLEMS.has(error.code)) throw error;
      return failed(request, reply, slug, error.status, t(`errors:${error.code}`, { name: upstream.name }), { reason: error.code });
    }
  });

  // The owner of the account with the same, verified address proves it is theirs before the link.
  // (Per account, the password's lockout limits the tries: the form names the account only in its signed field.)
  app.post<LinkForm>('/interaction/:uid/upstreams/:slug/link', { preHandler: [limits.loginPerIp] }, async (request, reply) => {
    if (kit.interactionOf(request).prompt.name !== 'login') return kit.wrongPrompt(reply);
    const { slug } = request.params;
    const link = signer.open<Link>(LINK, request.body?.pending);
    const upstream = await upstreams.runtime(slug);
    if (!link || link.uid !== uidOf(request) || link.slug !== slug || typeof link.sub !== 'string' || !link.identity || typeof link.identity.subject !== 'string') {
      return failed(request, reply, formText(slug, 40), 400, pageText(reply)('upstream:no_pending'), { reason: 'invalid', error: 'link_form_invalid' });
    }
    if (!upstream) return unknownUpstream(request, reply, slug);
    const user = await users.findById(link.sub);
    const result = user ? await users.authenticate(user.email, formText(request.body?.password, 1024)) : undefined;
    if (!user || !result?.ok) {
      await record(request, { type: 'login.failure', outcome: 'failure', subject: link.sub, details: { reason: result && !result.ok ? result.reason : 'unknown_user', upstream: slug, page: 'link' } });
      if (result && !result.ok && result.lockedUntil) await record(request, { type: 'login.lockout', outcome: 'failure', subject: link.sub, details: { lockedUntil: result.lockedUntil.toISOString() } });
      return linkPage(request, reply, upstream, link as Link, pageText(reply)(WRONG_PASSWORD), 401);
    }
    try {
      return await accepted(request, reply, user.id, slug, link.identity as UpstreamIdentityClaims, true);
    } catch (error) {
      if (!(error instanceof OstiaryError) || !PERSON_PROBLEMS.has(error.code)) throw error;
      return failed(request, reply, slug, error.status, pageText(reply)(`errors:${error.code}`, { name: upstream.name }), { reason: error.code, subject: user.id });
    }
  });

  return {
    startAt,
    complete,
    /** Whether this sign-in request may go to that upstream (enabled, and offered by the app). */
    offers: async (request: FastifyRequest, slug: string) => (await allows(request, slug)) && (await upstreams.runtime(slug)) !== undefined,
  };
}
