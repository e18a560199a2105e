import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { clientJson } from '../../clients/index.ts';
import { actorOf, assertMaySetRoles, pageJson, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

export async function clientRoutes(fastify: FastifyInstance, { services }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { clients } = services;
  const tags = ['clients'];

  app.get(
    '/clients',
    { config: { scope: 'clients:read' }, schema: { tags, querystring: s.pageQuery, response: { 200: s.page(s.client) } } },
    async (request) => pageJson(await clients.page(request.query), clientJson),
  );

  app.post('/clients', { config: { scope: 'clients:write' }, schema: { tags, body: s.clientCreate, response: { 201: s.client } } }, async (request, reply) => {
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
      requireMfa: b.require_mfa,
      backchannelLogoutUri: b.backchannel_logout_uri,
      assertionIssuer: b.assertion_issuer,
      assertionJwksUri: b.assertion_jwks_uri,
      assertionJwks: b.assertion_jwks,
      roles: b.roles,
      introspectionAudiences: b.introspection_audiences,
      accessTokenTtl: b.access_token_ttl,
      idTokenTtl: b.id_token_ttl,
      refreshTokenTtl: b.refresh_token_ttl,
    }, actorOf(request));
    return reply.code(201).send({ ...clientJson(client), ...(clientSecret ? { client_secret: clientSecret } : {}) });
  });

  app.get('/clients/:id', { config: { scope: 'clients:read' }, schema: { tags, params: s.idParams, response: { 200: s.client } } }, async (request) =>
    clientJson(await clients.show(request.params.id)),
  );

  app.patch('/clients/:id', { config: { scope: 'clients:write' }, schema: { tags, params: s.idParams, body: s.clientUpdate, response: { 200: s.client } } }, async (request) => {
    const b = request.body;
    assertMaySetRoles(request, b.roles);
    const client = await clients.update(request.params.id, {
      name: b.client_name,
      grantTypes: b.grant_types,
      redirectUris: b.redirect_uris,
      postLogoutRedirectUris: b.post_logout_redirect_uris,
      scopes: b.scope === undefined ? undefined : [b.scope],
      firstParty: b.first_party,
      requireMfa: b.require_mfa,
      backchannelLogoutUri: b.backchannel_logout_uri,
      assertionIssuer: b.assertion_issuer,
      assertionJwksUri: b.assertion_jwks_uri,
      assertionJwks: b.assertion_jwks,
      roles: b.roles,
    }, actorOf(request));
    return clientJson(client);
  });

  app.post('/clients/:id/rotate-secret', { config: { scope: 'clients:write' }, schema: { tags, params: s.idParams, response: { 200: s.client } } }, async (request) => {
    const { client, clientSecret } = await clients.rotateSecret(request.params.id, actorOf(request));
    return { ...clientJson(client), client_secret: clientSecret };
  });

  app.delete('/clients/:id', { config: { scope: 'clients:write' }, schema: { tags, params: s.idParams } }, async (request, reply) => {
    await clients.delete(request.params.id, actorOf(request));
    return reply.code(204).send();
  });
}
