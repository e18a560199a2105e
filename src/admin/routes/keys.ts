import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { apiKeyJson } from '../../api-keys/index.ts';
import { signingKeyJson } from '../../keys/index.ts';
import { actorOf, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';


/** Signing keys and the admin API's own keys. */
export async function keyRoutes(fastify: FastifyInstance, { services, config }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { signingKeys, apiKeys } = services;

  app.get('/keys', { config: { scope: 'keys:read' }, schema: { tags: ['keys'], response: { 200: s.signingKeys } } }, async () =>
    (await signingKeys.list()).map(signingKeyJson),
  );

  app.post('/keys/rotate', { config: { scope: 'keys:rotate' }, schema: { tags: ['keys'] } }, async (request) => {
    return signingKeys.rotate(actorOf(request));
  });

  app.post('/keys/:id/revoke', { config: { scope: 'keys:rotate' }, schema: { tags: ['keys'], params: s.idParams } }, async (request) => {
    const result = await signingKeys.revoke(request.params.id, actorOf(request));
    return { revoked: result.kid, revoked_grants: result.revokedGrants, current: result.current };
  });

  app.get('/api-keys', { config: { scope: 'api-keys:read' }, schema: { tags: ['api-keys'], response: { 200: s.apiKeys } } }, async () =>
    (await apiKeys.list()).map(apiKeyJson),
  );

  app.post(
    '/api-keys',
    { config: { scope: 'api-keys:write' }, schema: { tags: ['api-keys'], body: s.apiKeyCreate, response: { 201: s.apiKey } } },
    async (request, reply) => {
      const b = request.body;
      const { key, apiKey } = await apiKeys.create({
        name: b.name,
        scopes: b.scopes,
        allowedIps: b.allowed_ips,
        expiresAt: b.expires_in_seconds ? new Date(Date.now() + b.expires_in_seconds * 1000) : undefined,
      }, actorOf(request), request.apiKey);
      return reply.code(201).send({ ...apiKeyJson(key), api_key: apiKey });
    },
  );

  app.post('/api-keys/:id/rotate', { config: { scope: 'api-keys:write' }, schema: { tags: ['api-keys'], params: s.idParams, response: { 201: s.apiKey } } }, async (request, reply) => {
    const { key, apiKey } = await apiKeys.rotate(request.params.id, config.apiKeyRotationGrace, actorOf(request), request.apiKey);
    return reply.code(201).send({ ...apiKeyJson(key), api_key: apiKey });
  });

  app.delete('/api-keys/:id', { config: { scope: 'api-keys:write' }, schema: { tags: ['api-keys'], params: s.idParams } }, async (request, reply) => {
    await apiKeys.revoke(request.params.id, actorOf(request));
    return reply.code(204).send();
  });
}
