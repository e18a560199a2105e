import type { FastifyInstance } from 'fastify';
import { clientJson } from '../../clients/index.ts';
import { assertMaySetRoles, pageJson, recordChange, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

type Id = { Params: { id: string } };
type Create = {
  Body: {
    client_name: string;
    grant_types: string[];
    redirect_uris?: string[];
    post_logout_redirect_uris?: string[];
    scope?: string;
    token_endpoint_auth_method?: string;
    first_party?: boolean;
    roles?: string[];
    introspection_audiences?: string[];
    access_token_ttl?: number;
    id_token_ttl?: number;
    refresh_token_ttl?: number;
  };
};
type Update = Id & { Body: Partial<Pick<Create['Body'], 'client_name' | 'grant_types' | 'redirect_uris' | 'post_logout_redirect_uris' | 'scope' | 'first_party' | 'roles'>> };

export async function clientRoutes(app: FastifyInstance, { services }: AdminDeps) {
  const { clients } = services;
  const tags = ['clients'];

  app.get<{ Querystring: { cursor?: string; limit?: number } }>(
    '/clients',
    { config: { scope: 'clients:read' }, schema: { tags, querystring: s.pageQuery, response: { 200: s.page(s.client) } } },
    async (request) => pageJson(await clients.page(request.query), clientJson),
  );

  app.post<Create>('/clients', { config: { scope: 'clients:write' }, schema: { tags, body: s.clientCreate, response: { 201: s.client } } }, async (request, reply) => {
    const b = request.body;
    assertMaySetRoles(request, b.roles);
    const { client, clientSecret } = await clients.create({
      name: b.client_name,
      grantTypes: b.grant_types,
      redirectUris: b.redirect_uris,
      postLogoutRedirectUris: b.post_logout_redirect_uris,
      scopes: b.scope ? [b.scope] : [],
      public: b.token_endpoint_auth_method === 'none',
      firstParty: b.first_party,
      roles: b.roles,
      introspectionAudiences: b.introspection_audiences,
      accessTokenTtl: b.access_token_ttl,
      idTokenTtl: b.id_token_ttl,
      refreshTokenTtl: b.refresh_token_ttl,
    });
    await recordChange(services, request, { type: 'client.created', clientId: client.clientId, details: { name: client.name } });
    return reply.code(201).send({ ...clientJson(client), ...(clientSecret ? { client_secret: clientSecret } : {}) });
  });

  app.get<Id>('/clients/:id', { config: { scope: 'clients:read' }, schema: { tags, params: s.idParams, response: { 200: s.client } } }, async (request) =>
    clientJson(await clients.show(request.params.id)),
  );

  app.patch<Update>('/clients/:id', { config: { scope: 'clients:write' }, schema: { tags, params: s.idParams, body: s.clientUpdate, response: { 200: s.client } } }, async (request) => {
    const b = request.body;
    assertMaySetRoles(request, b.roles);
    const client = await clients.update(request.params.id, {
      name: b.client_name,
      grantTypes: b.grant_types,
      redirectUris: b.redirect_uris,
      postLogoutRedirectUris: b.post_logout_redirect_uris,
      scopes: b.scope === undefined ? undefined : [b.scope],
      firstParty: b.first_party,
      roles: b.roles,
    });
    await recordChange(services, request, { type: 'client.updated', clientId: client.clientId, details: { fields: Object.keys(b).join(' ') } });
    return clientJson(client);
  });

  app.post<Id>('/clients/:id/rotate-secret', { config: { scope: 'clients:write' }, schema: { tags, params: s.idParams, response: { 200: s.client } } }, async (request) => {
    const { client, clientSecret } = await clients.rotateSecret(request.params.id);
    await recordChange(services, request, { type: 'client.secret_rotated', clientId: client.clientId });
    return { ...clientJson(client), client_secret: clientSecret };
  });

  app.delete<Id>('/clients/:id', { config: { scope: 'clients:write' }, schema: { tags, params: s.idParams } }, async (request, reply) => {
    await clients.delete(request.params.id);
    await recordChange(services, request, { type: 'client.deleted', clientId: request.params.id });
    return reply.code(204).send();
  });
}
