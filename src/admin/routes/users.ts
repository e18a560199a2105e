import type { FastifyInstance } from 'fastify';
import { grantJson } from '../../grants/index.ts';
import { userJson } from '../../users/index.ts';
import { assertMaySetRoles, pageJson, recordChange, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

type Id = { Params: { id: string } };

export async function userRoutes(app: FastifyInstance, { services }: AdminDeps) {
  const { users, grants } = services;
  const tags = ['users'];

  app.get<{ Querystring: { cursor?: string; limit?: number; email?: string } }>(
    '/users',
    {
      config: { scope: 'users:read' },
      schema: {
        tags,
        querystring: { ...s.pageQuery, properties: { ...s.pageQuery.properties, email: { type: 'string', maxLength: 254, description: 'part of the email address' } } },
        response: { 200: s.page(s.user) },
      },
    },
    async (request) => pageJson(await users.page(request.query), userJson),
  );

  app.post<{ Body: { email: string; password: string; name?: string; email_verified?: boolean; roles?: string[] } }>(
    '/users',
    { config: { scope: 'users:write' }, schema: { tags, body: s.userCreate, response: { 201: s.user } } },
    async (request, reply) => {
      const b = request.body;
      assertMaySetRoles(request, b.roles);
      const user = await users.create({ email: b.email, password: b.password, name: b.name, emailVerified: b.email_verified, roles: b.roles });
      await recordChange(services, request, { type: 'user.created', subject: user.id });
      return reply.code(201).send(userJson(user));
    },
  );

  app.get<Id>('/users/:id', { config: { scope: 'users:read' }, schema: { tags, params: s.idParams, response: { 200: s.user } } }, async (request) =>
    userJson(await users.resolve(request.params.id)),
  );

  app.patch<Id & { Body: { name?: string | null; email_verified?: boolean; disabled?: boolean; roles?: string[] } }>(
    '/users/:id',
    { config: { scope: 'users:write' }, schema: { tags, params: s.idParams, body: s.userUpdate, response: { 200: s.user } } },
    async (request) => {
      const b = request.body;
      assertMaySetRoles(request, b.roles);
      const user = await users.update(request.params.id, { name: b.name, emailVerified: b.email_verified, disabled: b.disabled, roles: b.roles });
      await recordChange(services, request, { type: 'user.updated', subject: user.id, details: { fields: Object.keys(b).join(' ') } });
      return userJson(user);
    },
  );

  app.post<Id & { Body: { password: string } }>('/users/:id/password', { config: { scope: 'users:write' }, schema: { tags, params: s.idParams, body: s.password } }, async (request, reply) => {
    const user = await users.setPassword(request.params.id, request.body.password);
    await recordChange(services, request, { type: 'user.password_changed', subject: user.id });
    return reply.code(204).send();
  });

  app.get<Id>('/users/:id/grants', { config: { scope: 'users:read' }, schema: { tags, params: s.idParams, response: { 200: { type: 'array', items: s.grant } } } }, async (request) => {
    const user = await users.resolve(request.params.id);
    return (await grants.listForUser(user.id)).map(grantJson);
  });

  app.post<Id & { Querystring: { client_id?: string } }>(
    '/users/:id/revoke-grants',
    {
      config: { scope: 'users:write' },
      schema: { tags, params: s.idParams, querystring: { type: 'object', additionalProperties: false, properties: { client_id: { type: 'string' } } }, response: { 200: { type: 'object', properties: { revoked: { type: 'integer' } } } } },
    },
    async (request) => {
      const user = await users.resolve(request.params.id);
      const revoked = await grants.revokeForUser(user.id, request.query.client_id);
      await recordChange(services, request, { type: 'user.grants_revoked', subject: user.id, clientId: request.query.client_id ?? null, details: { revoked } });
      return { revoked };
    },
  );
}
