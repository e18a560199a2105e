import view from '@fastify/view';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from './db/index.ts';
import { protocolErrorHandler } from './http/index.ts';
import { loggerOptions, measureRequests, observability, registerTracing } from './observability/index.ts';
import { createCsrf, registerRateLimits, registerSecurityHeaders, requestId, SharedCounters } from './security/index.ts';
import { adminApi, ADMIN_PREFIX, sendProblem, titleOf, type AdminRoute } from './admin/index.ts';
import { auditProviderEvents } from './audit/index.ts';
import { accountLinkRoutes, accountRoutes, interactionRoutes, passwordResetRoutes, upstreamCallbackRoutes } from './interactions/index.ts';
import { createBranding, createViews, registerAssets, VIEWS_DIR } from './views/index.ts';
import { startCleanup } from './jobs/index.ts';
import { MAIL_POLL_SECONDS, startMailSender } from './mail/index.ts';
import { startKeyScheduler, type KeyScheduler } from './keys/index.ts';
import { createLiveProvider, logoutsForEndedSessions, providerRoutes, resourceMetadataRoutes, type LiveProvider } from './oidc/index.ts';
import type { Services } from './services.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The running parts tests and operators reach: the live provider, the key schedule, the admin routes. */
    ostiary: { live: LiveProvider; keys: KeyScheduler; adminRoutes: AdminRoute[] };
  }
}

export interface ServerOptions {
  logger?: FastifyBaseLogger;
  /** Run the background jobs (key transitions, cleanup, sending mail): true in one process of a cluster. */
  jobs?: boolean;
}

/**
 * Fastify's own refusal of a URL it cannot route (bad percent-encoding, a path segment over its
 * length limit) comes before any front's error handler: answer it in the front's shape, without
 * echoing the URL.
 */
function refuseUrl(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
  const detail = status === 414 ? 'A part of the path is too long.' : 'The URL is not valid.';
  reply.header('cache-control', 'no-store');
  if (request.url.startsWith(`${ADMIN_PREFIX}/`)) return sendProblem(reply, status, titleOf(status), detail);
  return reply.code(status).send({ error: 'invalid_request', error_description: detail });
}

/** Assembles the HTTP server: the provider's endpoints, the interaction pages, error handling. */
export async function buildServer(services: Services, { logger, jobs = true }: ServerOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: loggerOptions(config) }),
    trustProxy: config.trustProxy,
    bodyLimit: 64 * 1024,
    genReqId: requestId,
    frameworkErrors: refuseUrl,
    requestIdHeader: false,
    // Unknown fields in a JSON body are refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });
  const counters = config.redisUrl ? new SharedCounters(config.redisUrl, app.log) : undefined;
  if (counters) app.addHook('onClose', async () => counters.close());
  const branding = createBranding(config.brand);
  const views = createViews(branding);
  const live = await createLiveProvider({ ...services, clients: services.clientStore, views, registrations: { clients: services.clients, tokens: services.registrationTokens } }, (provider) => {
    provider.on('server_error', (ctx, error) => {
      app.log.error({ err: error }, 'provider server_error');
      services.database.recover(error);
      if (isDatabaseUnavailable(error)) ctx.state.databaseUnavailable = true;
    });
    provider.on('grant.error', (_ctx, error) => {
      const { error: code = 'unknown', error_detail: detail } = error as { error?: string; error_detail?: string };
      services.metrics.tokenError(code);
      // The client sees only the code; why it was refused is for the operator.
      app.log.info({ error: code, detail }, 'token request refused');
    });
    auditProviderEvents(provider as never, services.audit);
  });
  // Sessions ended by Ostiary itself reach the clients' back-channel logout endpoints too.
  const stopLogouts = services.grants.onSessionsEnded(logoutsForEndedSessions(() => live.provider));
  app.addHook('onClose', async () => stopLogouts());
  const keys = startKeyScheduler({ signingKeys: services.signingKeys, reload: live.refresh, reloadSeconds: config.keys.reload, log: app.log, transitions: jobs });
  const adminRoutes: AdminRoute[] = [];
  app.decorate('ostiary', { live, keys, adminRoutes });
  app.addHook('onClose', async () => keys.stop());
  if (jobs) {
    const cleanup = startCleanup(services.cleanup, config.cleanup.intervalSeconds, app.log);
    app.addHook('onClose', async () => cleanup.stop());
    const { mail } = services;
    if (mail.sender) {
      const sender = startMailSender(mail.sender, mail.onQueued, MAIL_POLL_SECONDS, app.log);
      app.addHook('onClose', async () => sender.stop());
    }
  }

  await app.register(view, { engine: { eta: views.eta }, root: VIEWS_DIR, viewExt: 'eta', defaultContext: views.context });
  await registerTracing(app, config.otel.endpoint, config.otel.serviceName);
  measureRequests(app, services.metrics);
  await registerSecurityHeaders(app, config);
  await registerAssets(app, branding);
  const limits = await registerRateLimits(app, config, counters);
  const csrf = createCsrf(services.secrets.derive('csrf'));

  // Each front (protocol, pages, admin API) handles its own errors; this covers the rest.
  app.setErrorHandler(protocolErrorHandler);
  app.addHook('onError', async (_request, _reply, error) => services.database.recover(error));
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found', error_description: 'No such endpoint.' }));

  await app.register(observability, { services, live, redis: counters });
  await app.register(providerRoutes, { live, limits, config, i18n: services.i18n, pageCsp: views.csp });
  await app.register(resourceMetadataRoutes, { apis: services.apis, config });
  // Password reset mails a link: offered wherever mail can be sent.
  const passwordReset = services.mail.transport !== 'off';
  const { passwordResets, signups, i18n } = services;
  await app.register(interactionRoutes, {
    live,
    users: services.users,
    audit: services.audit,
    csrf,
    limits,
    passwordReset,
    signups,
    i18n,
    pageCsp: views.csp,
    mfa: services.mfa,
    stepKey: services.secrets.derive('second sign-in step'),
    mfaRequired: config.mfaRequired,
    upstreams: services.upstreams,
    upstreamDomains: config.upstreamDomains,
    secure: config.issuer.startsWith('https:'),
  });
  await app.register(upstreamCallbackRoutes, { stepKey: services.secrets.derive('second sign-in step'), audit: services.audit, i18n, pageCsp: views.csp, upstreams: services.upstreams, limits });
  const secure = config.issuer.startsWith('https:');
  await app.register(accountRoutes, {
    accounts: services.accounts,
    live,
    i18n,
    pageCsp: views.csp,
    csrf,
    limits,
    issuer: config.issuer,
    cookieKey: services.secrets.derive('account page cookies'),
    secure,
    upstreams: services.upstreams,
  });
  if (passwordReset) {
    await app.register(passwordResetRoutes, { passwordResets, i18n, pageCsp: views.csp, csrf, limits, secure });
    await app.register(accountLinkRoutes, { signups, i18n, pageCsp: views.csp, csrf, secure });
  }
  await app.register(adminApi, { prefix: ADMIN_PREFIX, services, config, limits, routes: adminRoutes });
  return app;
}
