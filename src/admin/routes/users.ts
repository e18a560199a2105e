import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { grantJson } from '../../grants/index.ts';
import { userJson } from '../../users/index.ts';
import { passkeyJson } from '../../mfa/index.ts';
import { actorOf, assertMaySetRoles, pageJson, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

export async function userRoutes(fastify: FastifyInstance, { services }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { users, grants, signups, mfa } = services;
  const tags = ['users'];

  app.get(
    '/users',
    {
      config: { scope: 'users:read' },
      schema: {
        tags,
        querystring: s.userQuery,
        response: { 200: s.page(s.user) },
      },
    },
    async (request) => pageJson(await users.page(request.query), userJson),
  );

  app.post(
    '/users',
    { config: { scope: 'users:write' }, schema: { tags, body: s.userCreate, response: { 201: s.user } } },
    async (request, reply) => {
      const b = request.body;
      assertMaySetRoles(request, b.roles);
      const user = await users.create({ email: b.email, password: b.password, name: b.name, emailVerified: b.email_verified, roles: b.roles }, actorOf(request));
      return reply.code(201).send(userJson(user));
    },
  );

  app.get('/users/:id', { config: { scope: 'users:read' }, schema: { tags, params: s.idParams, response: { 200: s.user } } }, async (request) =>
    userJson(await users.resolve(request.params.id)),
  );

  app.patch(
    '/users/:id',
    { config: { scope: 'users:write' }, schema: { tags, params: s.idParams, body: s.userUpdate, response: { 200: s.user } } },
    async (request) => {
      const b = request.body;
      assertMaySetRoles(request, b.roles);
      const user = await users.update(request.params.id, { name: b.name, emailVerified: b.email_verified, disabled: b.disabled, roles: b.roles }, actorOf(request));
      return userJson(user);
    },
  );

  app.post('/users/:id/password', { config: { scope: 'users:write' }, schema: { tags, params: s.idParams, body: s.password } }, async (request, reply) => {
    await users.setPassword(request.params.id, request.body.password, actorOf(request));
    return reply.code(204).send();
  });

  app.post('/users/:id/verification', { config: { scope: 'users:write' }, schema: { tags, params: s.idParams, response: { 202: s.mailed } } }, async (request, reply) => {
    const { email } = await signups.resendVerification(request.params.id, actorOf(request));
    return reply.code(202).send({ email });
  });

  app.get('/users/:id/factors', { config: { scope: 'users:read' }, schema: { tags, params: s.idParams, response: { 200: s.factors } } }, async (request) => {
    const user = await users.resolve(request.params.id);
    const status = await mfa.status(user.id);
    return { totp: status.totp, recovery_codes_left: status.recoveryCodesLeft, passkeys: status.passkeys.map(passkeyJson) };
  });

  // A person who lost their phone and their recovery codes: the password alone signs in again.
  app.delete('/users/:id/factors', { config: { scope: 'users:write' }, schema: { tags, params: s.idParams, response: { 200: s.factorsRemoved } } }, async (request) => {
    const user = await users.resolve(request.params.id);
    return mfa.reset(user.id, actorOf(request));
  });

  app.post('/invitations', { config: { scope: 'users:write' }, schema: { tags, body: s.invitationCreate, response: { 201: s.invitation } } }, async (request, reply) => {
    const invitation = await signups.invite(request.body.email, actorOf(request));
    return reply.code(201).send({ email: invitation.email, expires_at: invitation.expiresAt.toISOString() });
  });

  app.get('/users/:id/grants', { config: { scope: 'users:read' }, schema: { tags, params: s.idParams, response: { 200: s.grants } } }, async (request) => {
    const user = await users.resolve(request.params.id);
    return (await grants.listForUser(user.id)).map(grantJson);
  });

  app.post(
    '/users/:id/revoke-grants',
    {
      config: { scope: 'users:write' },
      schema: { tags, params: s.idParams, querystring: s.revokeGrantsQuery, response: { 200: s.revoked } },
    },
    async (request) => {
      const { revoked } = await users.revokeGrants(request.params.id, request.query.client_id, actorOf(request));
      return { revoked };
    },
  );
}
