import type { FastifyInstance } from 'fastify';
import type { Static, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { apiJson } from '../../apis/index.ts';
import { fail } from '../../errors.ts';
import { roleJson } from '../../roles/index.ts';
import { actorOf, pageJson, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';


/** Roles (and who holds them) and APIs. */
export async function accessRoutes(fastify: FastifyInstance, { services }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { roles, apis, users } = services;

  app.get('/roles', { config: { scope: 'roles:read' }, schema: { tags: ['roles'], querystring: s.pageQuery, response: { 200: s.page(s.role) } } }, async (request) =>
    pageJson(await roles.page(request.query), roleJson),
  );

  app.post(
    '/roles',
    { config: { scope: 'roles:write' }, schema: { tags: ['roles'], body: s.roleCreate, response: { 201: s.role } } },
    async (request, reply) => {
      const role = await roles.create({ name: request.body.name, permissions: request.body.permissions ?? [] }, actorOf(request));
      return reply.code(201).send(roleJson(role));
    },
  );

  app.delete('/roles/:id', { config: { scope: 'roles:write' }, schema: { tags: ['roles'], params: s.idParams } }, async (request, reply) => {
    await roles.delete(request.params.id, actorOf(request));
    return reply.code(204).send();
  });

  async function holder(body: Static<typeof s.roleMember>) {
    if (body.user) return { userId: (await users.resolve(body.user)).id };
    if (body.client_id) return { clientId: body.client_id };
    throw fail('role.holder_required', 'give the user or the client that holds the role');
  }
  for (const verb of ['grant', 'revoke'] as const) {
    app.post(`/roles/:id/${verb}`, { config: { scope: 'roles:write' }, schema: { tags: ['roles'], params: s.idParams, body: s.roleMember } }, async (request, reply) => {
      await roles[verb](request.params.id, await holder(request.body), actorOf(request));
      return reply.code(204).send();
    });
  }

  app.get('/apis', { config: { scope: 'apis:read' }, schema: { tags: ['apis'], querystring: s.pageQuery, response: { 200: s.page(s.api) } } }, async (request) =>
    pageJson(await apis.page(request.query), (api) => apiJson(api, services.config.issuer)),
  );

  app.post(
    '/apis',
    { config: { scope: 'apis:write' }, schema: { tags: ['apis'], body: s.apiCreate, response: { 201: s.api } } },
    async (request, reply) => {
      const { name, audience, scopes, publish_metadata: publishMetadata } = request.body;
      const api = await apis.create({ name, audience, scopes: scopes ?? [], publishMetadata }, actorOf(request));
      return reply.code(201).send(apiJson(api, services.config.issuer));
    },
  );

  app.delete('/apis/:id', { config: { scope: 'apis:write' }, schema: { tags: ['apis'], params: s.idParams } }, async (request, reply) => {
    await apis.delete(request.params.id, actorOf(request));
    return reply.code(204).send();
  });
}
