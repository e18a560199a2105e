import type { FastifyInstance } from 'fastify';
import { apiJson } from '../../apis/index.ts';
import { invalidInput } from '../../errors.ts';
import { roleJson } from '../../roles/index.ts';
import { pageJson, recordChange, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

type PageQ = { Querystring: { cursor?: string; limit?: number } };
type Name = { Params: { id: string } };
type Member = Name & { Body: { user?: string; client_id?: string } };

/** Roles (and who holds them) and APIs. */
export async function accessRoutes(app: FastifyInstance, { services }: AdminDeps) {
  const { roles, apis, users } = services;

  app.get<PageQ>('/roles', { config: { scope: 'roles:read' }, schema: { tags: ['roles'], querystring: s.pageQuery, response: { 200: s.page(s.role) } } }, async (request) =>
    pageJson(await roles.page(request.query), roleJson),
  );

  app.post<{ Body: { name: string; permissions?: string[] } }>(
    '/roles',
    { config: { scope: 'roles:write' }, schema: { tags: ['roles'], body: s.roleCreate, response: { 201: s.role } } },
    async (request, reply) => {
      const role = await roles.create({ name: request.body.name, permissions: request.body.permissions ?? [] });
      await recordChange(services, request, { type: 'role.created', details: { name: role.name, permissions: role.permissions.join(' ') } });
      return reply.code(201).send(roleJson(role));
    },
  );

  app.delete<Name>('/roles/:id', { config: { scope: 'roles:write' }, schema: { tags: ['roles'], params: s.idParams } }, async (request, reply) => {
    await roles.delete(request.params.id);
    await recordChange(services, request, { type: 'role.deleted', details: { name: request.params.id } });
    return reply.code(204).send();
  });

  async function holder(body: Member['Body']) {
    if (body.user) return { userId: (await users.resolve(body.user)).id };
    if (body.client_id) return { clientId: body.client_id };
    throw invalidInput('give user or client_id');
  }
  for (const [verb, type] of [['grant', 'role.granted'], ['revoke', 'role.revoked']] as const) {
    app.post<Member>(`/roles/:id/${verb}`, { config: { scope: 'roles:write' }, schema: { tags: ['roles'], params: s.idParams, body: s.roleMember } }, async (request, reply) => {
      const who = await holder(request.body);
      if (verb === 'grant') await roles.grant(request.params.id, who);
      else await roles.revoke(request.params.id, who);
      await recordChange(services, request, {
        type,
        subject: 'userId' in who ? who.userId : null,
        clientId: 'clientId' in who ? who.clientId : null,
        details: { role: request.params.id },
      });
      return reply.code(204).send();
    });
  }

  app.get<PageQ>('/apis', { config: { scope: 'apis:read' }, schema: { tags: ['apis'], querystring: s.pageQuery, response: { 200: s.page(s.api) } } }, async (request) =>
    pageJson(await apis.page(request.query), apiJson),
  );

  app.post<{ Body: { name: string; audience: string; scopes?: string[] } }>(
    '/apis',
    { config: { scope: 'apis:write' }, schema: { tags: ['apis'], body: s.apiCreate, response: { 201: s.api } } },
    async (request, reply) => {
      const api = await apis.create({ name: request.body.name, audience: request.body.audience, scopes: request.body.scopes ?? [] });
      await recordChange(services, request, { type: 'api.created', details: { id: api.id, audience: api.audience } });
      return reply.code(201).send(apiJson(api));
    },
  );

  app.delete<Name>('/apis/:id', { config: { scope: 'apis:write' }, schema: { tags: ['apis'], params: s.idParams } }, async (request, reply) => {
    await apis.delete(request.params.id);
    await recordChange(services, request, { type: 'api.deleted', details: { id: request.params.id } });
    return reply.code(204).send();
  });
}
