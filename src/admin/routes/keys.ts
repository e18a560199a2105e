import type { FastifyInstance } from 'fastify';
import { apiKeyJson } from '../../api-keys/index.ts';
import { signingKeyJson } from '../../keys/index.ts';
import { recordChange, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

type Id = { Params: { id: string } };

/** Signing keys and the admin API's own keys. */
export async function keyRoutes(app: FastifyInstance, { services, config }: AdminDeps) {
  const { signingKeys, apiKeys } = services;

  app.get('/keys', { config: { scope: 'keys:read' }, schema: { tags: ['keys'], response: { 200: { type: 'array', items: s.signingKey } } } }, async () =>
    (await signingKeys.list()).map(signingKeyJson),
  );

  app.post('/keys/rotate', { config: { scope: 'keys:rotate' }, schema: { tags: ['keys'] } }, async (request) => {
    const result = await signingKeys.rotate();
    if (result.rotated) await recordChange(services, request, { type: 'signing_key.rotated', details: { current: result.current, retired: result.retired } });
    return result;
  });

  app.post<Id>('/keys/:id/revoke', { config: { scope: 'keys:rotate' }, schema: { tags: ['keys'], params: s.idParams } }, async (request) => {
    const result = await signingKeys.revoke(request.params.id);
    await recordChange(services, request, { type: 'signing_key.revoked', details: { kid: result.kid, revokedGrants: result.revokedGrants } });
    return { revoked: result.kid, revoked_grants: result.revokedGrants, current: result.current };
  });

  app.get('/api-keys', { config: { scope: 'api-keys:read' }, schema: { tags: ['api-keys'], response: { 200: { type: 'array', items: s.apiKey } } } }, async () =>
    (await apiKeys.list()).map(apiKeyJson),
  );

  app.post<{ Body: { name: string; scopes: string[]; expires_in_seconds?: number; allowed_ips?: string[] } }>(
    '/api-keys',
    { config: { scope: 'api-keys:write' }, schema: { tags: ['api-keys'], body: s.apiKeyCreate, response: { 201: s.apiKey } } },
    async (request, reply) => {
      const b = request.body;
      const { key, apiKey } = await apiKeys.create({
        name: b.name,
        scopes: b.scopes,
        allowedIps: b.allowed_ips,
        expiresAt: b.expires_in_seconds ? new Date(Date.now() + b.expires_in_seconds * 1000) : undefined,
        createdBy: `api-key:${request.apiKey.id}`,
      }, request.apiKey);
      await recordChange(services, request, { type: 'api_key.created', details: { id: key.id, scopes: key.scopes.join(' ') } });
      return reply.code(201).send({ ...apiKeyJson(key), api_key: apiKey });
    },
  );

  app.post<Id>('/api-keys/:id/rotate', { config: { scope: 'api-keys:write' }, schema: { tags: ['api-keys'], params: s.idParams, response: { 201: s.apiKey } } }, async (request, reply) => {
    const { key, apiKey } = await apiKeys.rotate(request.params.id, config.apiKeyRotationGrace, `api-key:${request.apiKey.id}`, request.apiKey);
    await recordChange(services, request, { type: 'api_key.rotated', details: { id: request.params.id, successor: key.id } });
    return reply.code(201).send({ ...apiKeyJson(key), api_key: apiKey });
  });

  app.delete<Id>('/api-keys/:id', { config: { scope: 'api-keys:write' }, schema: { tags: ['api-keys'], params: s.idParams } }, async (request, reply) => {
    await apiKeys.revoke(request.params.id);
    await recordChange(services, request, { type: 'api_key.revoked', details: { id: request.params.id } });
    return reply.code(204).send();
  });
}
