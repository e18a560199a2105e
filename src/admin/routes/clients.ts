import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { clientJson, metadataDocumentJson, registrationTokenJson } from '../../clients/index.ts';
import { actorOf, assertMaySetRoles, pageJson, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

export async function clientRoutes(fastify: FastifyInstance, { services }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { clients, metadataDocuments, registrationTokens } = services;
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
      upstreams: b.upstreams,
      passwordSignIn: b.password_sign_in,
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
      upstreams: b.upstreams,
      passwordSignIn: b.password_sign_in,
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

  app.get(
    '/client-metadata-documents',
    { config: { scope: 'clients:read' }, schema: { tags, querystring: s.pageQuery, response: { 200: s.page(s.metadataDocument) } } },
    async (request) => pageJson(await metadataDocuments.page(request.query), metadataDocumentJson),
  );

  app.post('/client-metadata-documents/block', { config: { scope: 'clients:write' }, schema: { tags, body: s.metadataDocumentUrl, response: { 200: s.metadataDocument } } }, async (request) =>
    metadataDocumentJson(await metadataDocuments.block(request.body.url, actorOf(request))),
  );

  app.post('/client-metadata-documents/unblock', { config: { scope: 'clients:write' }, schema: { tags, body: s.metadataDocumentUrl, response: { 200: s.metadataDocument } } }, async (request) =>
    metadataDocumentJson(await metadataDocuments.unblock(request.body.url, actorOf(request))),
  );

  // Initial access tokens for dynamic client registration (README, "Dynamic client registration").
  const tokenTags = ['registration tokens'];
  app.get('/registration-tokens', { config: { scope: 'clients:read' }, schema: { tags: tokenTags, response: { 200: s.registrationTokens } } }, async () =>
    (await registrationTokens.list()).map(registrationTokenJson),
  );

  app.post('/registration-tokens', { config: { scope: 'clients:write' }, schema: { tags: tokenTags, body: s.registrationTokenCreate, response: { 201: s.registrationToken } } }, async (request, reply) => {
    const { max_clients: maxClients, expires_in_seconds: expiresIn } = request.body;
    const { registrationToken, token } = await registrationTokens.create({ maxClients, expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null }, actorOf(request));
    return reply.code(201).send({ ...registrationTokenJson(registrationToken), token });
  });

  app.post('/registration-tokens/:id/revoke', { config: { scope: 'clients:write' }, schema: { tags: tokenTags, params: s.idParams, response: { 200: s.registrationToken } } }, async (request) =>
    registrationTokenJson(await registrationTokens.revoke(request.params.id, actorOf(request))),
  );
}
