import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, type InteractionResults } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { LiveProvider } from '../oidc/live-provider.ts';
import { OIDC_SCOPE_DESCRIPTIONS } from '../oidc/scopes.ts';
import type { Audit } from '../audit/index.ts';
import type { Users } from '../users/index.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

declare module 'fastify' {
  interface FastifyRequest {
    interaction: Interaction;
  }
}

const EXPIRED = 'This sign-in request has expired or is not valid. Go back to the application and start again.';
const INVALID_LOGIN = 'Invalid email or password.';

interface Deps {
  live: LiveProvider;
  users: Users;
  audit: Audit;
}

/** Login and consent pages for the provider's interactions (prompt "login", then "consent"). */
export async function interactionRoutes(app: FastifyInstance, { live, users, audit }: Deps): Promise<void> {
  // Read on each use: the provider is replaced when the signing keys change.
  const provider = (): Provider => live.provider;
  await app.register(formbody, { bodyLimit: 16 * 1024 });

  app.decorateRequest('interaction', null as unknown as Interaction);
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
  });
  app.addHook('preHandler', async (request, reply) => {
    try {
      request.interaction = await provider().interactionDetails(request.raw, reply.raw);
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound)) throw error;
      return reply.code(400).view('error', { message: EXPIRED });
    }
  });

  async function clientOf(interaction: Interaction) {
    const client = await provider().Client.find(String(interaction.params.client_id));
    const metadata: Record<string, unknown> = client?.metadata() ?? {};
    return { name: String(metadata.client_name ?? metadata.client_id ?? 'the application'), firstParty: metadata.first_party === true };
  }

  async function finish(request: FastifyRequest, reply: FastifyReply, result: InteractionResults, merge = false) {
    const url = await provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: merge });
    return reply.redirect(url, 303);
  }

  /** Grants what the consent prompt found missing, on the existing grant or a new one. */
  async function grantMissing(interaction: Interaction): Promise<string> {
    const { prompt, params, session, grantId } = interaction;
    const { Grant } = provider();
    const grant = grantId
      ? await Grant.find(grantId)
      : new Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
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
  function requestedScopes(interaction: Interaction): string[] {
    const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    const oidc = (details.missingOIDCScope ?? []).map((scope) => OIDC_SCOPE_DESCRIPTIONS[scope] ?? scope);
    const api = Object.entries(details.missingResourceScopes ?? {}).flatMap(([resource, scopes]) => scopes.map((s) => `${s} on ${resource}`));
    return [...oidc, ...api];
  }

  const wrongPrompt = (reply: FastifyReply) => reply.code(400).view('error', { message: EXPIRED });

  app.get('/interaction/:uid', async (request, reply) => {
    const { interaction } = request;
    const client = await clientOf(interaction);
    if (interaction.prompt.name === 'login') {
      return reply.view('login', { uid: interaction.uid, clientName: client.name, email: interaction.params.login_hint ?? '', error: null });
    }
    if (interaction.prompt.name === 'consent') {
      if (client.firstParty) return finish(request, reply, { consent: { grantId: await grantMissing(interaction) } }, true);
      const user = await users.findById(String(interaction.session?.accountId));
      return reply.view('consent', { uid: interaction.uid, clientName: client.name, email: user?.email ?? '', scopes: requestedScopes(interaction) });
    }
    return wrongPrompt(reply);
  });

  app.post<{ Body: { email?: unknown; password?: unknown } }>('/interaction/:uid/login', async (request, reply) => {
    const { interaction } = request;
    if (interaction.prompt.name !== 'login') return wrongPrompt(reply);
    const email = typeof request.body?.email === 'string' ? request.body.email : '';
    const password = typeof request.body?.password === 'string' ? request.body.password : '';
    const user = email && password ? await users.authenticate(email, password) : null;
    const clientId = String(interaction.params.client_id);
    await audit.record({
      type: user ? 'login.success' : 'login.failure',
      outcome: user ? 'success' : 'failure',
      subject: user?.id ?? null,
      clientId,
      ip: request.ip,
      requestId: request.id,
      // The email is not stored for a failure: it may be a mistyped password.
      ...(user ? {} : { details: { reason: 'invalid_credentials' } }),
    });
    if (!user) {
      const client = await clientOf(interaction);
      return reply.code(401).view('login', { uid: interaction.uid, clientName: client.name, email, error: INVALID_LOGIN });
    }
    return finish(request, reply, { login: { accountId: user.id } });
  });

  app.post('/interaction/:uid/consent', async (request, reply) => {
    const { interaction } = request;
    if (interaction.prompt.name !== 'consent') return wrongPrompt(reply);
    const grantId = await grantMissing(interaction);
    await audit.record({ type: 'consent.granted', outcome: 'success', subject: String(interaction.session?.accountId), clientId: String(interaction.params.client_id), ip: request.ip, requestId: request.id });
    return finish(request, reply, { consent: { grantId } }, true);
  });

  app.post('/interaction/:uid/abort', async (request, reply) => {
    const { interaction } = request;
    if (interaction.prompt.name === 'consent') {
      await audit.record({ type: 'consent.denied', outcome: 'failure', subject: String(interaction.session?.accountId), clientId: String(interaction.params.client_id), ip: request.ip, requestId: request.id });
    }
    return finish(request, reply, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  });
}
