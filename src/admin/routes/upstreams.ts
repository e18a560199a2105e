import type { FastifyInstance } from 'fastify';
import type { Static, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { upstreamJson, type ClaimMapping, type ClientAuth, type PresetName, type UpstreamKind, type UpstreamPatch } from '../../upstreams/index.ts';
import { actorOf, assertMaySetRoles, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';

type Fields = Static<typeof s.upstreamUpdate>;

/** The claim mapping from its JSON names (`email_verified`); a member not given keeps its default. */
function mapping(json: Fields['claim_mapping']): Partial<ClaimMapping> | undefined {
  if (json === undefined) return undefined;
  const { subject, email, email_verified: emailVerified, name } = json;
  return Object.fromEntries(Object.entries({ subject, email, emailVerified, name }).filter(([, v]) => v !== undefined));
}

/** The service's fields from the body's snake_case ones (undefined: not given). */
const fields = (b: Fields): UpstreamPatch => ({
  name: b.name,
  kind: b.kind as UpstreamKind | undefined,
  issuer: b.issuer,
  authorizationUrl: b.authorization_url,
  tokenUrl: b.token_url,
  userinfoUrl: b.userinfo_url,
  emailsUrl: b.emails_url,
  clientId: b.client_id,
  clientSecret: b.client_secret,
  scope: b.scope,
  mapping: mapping(b.claim_mapping),
  jit: b.jit,
  defaultRoles: b.default_roles,
  enabled: b.enabled,
});

const given = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

/** Upstream identity providers (README, "Sign in with another provider"); the client secret goes in, never out. */
export async function upstreamRoutes(fastify: FastifyInstance, { services }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { upstreams } = services;
  const tags = ['upstreams'];

  app.get('/upstreams', { config: { scope: 'upstreams:read' }, schema: { tags, response: { 200: s.upstreams } } }, async () => (await upstreams.list()).map(upstreamJson));

  app.post('/upstreams', { config: { scope: 'upstreams:write' }, schema: { tags, body: s.upstreamCreate, response: { 201: s.upstream } } }, async (request, reply) => {
    const b = request.body;
    // Default roles are given to everyone coming through the upstream: setting them is setting roles.
    assertMaySetRoles(request, b.default_roles);
    const upstream = await upstreams.create(
      { ...given(fields(b)), slug: b.slug, name: b.name, clientId: b.client_id, clientAuth: b.client_auth as ClientAuth | undefined, preset: b.preset as PresetName | undefined },
      actorOf(request),
    );
    return reply.code(201).send(upstreamJson(upstream));
  });

  app.get('/upstreams/:slug', { config: { scope: 'upstreams:read' }, schema: { tags, params: s.slugParams, response: { 200: s.upstream } } }, async (request) =>
    upstreamJson(await upstreams.show(request.params.slug)),
  );

  app.patch('/upstreams/:slug', { config: { scope: 'upstreams:write' }, schema: { tags, params: s.slugParams, body: s.upstreamUpdate, response: { 200: s.upstream } } }, async (request) => {
    assertMaySetRoles(request, request.body.default_roles);
    return upstreamJson(await upstreams.update(request.params.slug, given(fields(request.body)), actorOf(request)));
  });

  app.delete('/upstreams/:slug', { config: { scope: 'upstreams:write' }, schema: { tags, params: s.slugParams } }, async (request, reply) => {
    await upstreams.delete(request.params.slug, actorOf(request));
    return reply.code(204).send();
  });
}
