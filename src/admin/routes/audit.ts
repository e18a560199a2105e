import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { auditEventJson } from '../../audit/index.ts';
import { pageJson, type AdminDeps } from '../context.ts';
import * as s from '../schemas.ts';


export async function auditRoutes(fastify: FastifyInstance, { services }: AdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/audit-events',
    { config: { scope: 'audit:read' }, schema: { tags: ['audit'], querystring: s.auditQuery, response: { 200: s.page(s.auditEvent) } } },
    async (request) => {
      const q = request.query;
      const page = await services.audit.page({
        type: q.type,
        subject: q.subject,
        clientId: q.client_id,
        since: q.since ? new Date(q.since) : undefined,
        until: q.until ? new Date(q.until) : undefined,
        cursor: q.cursor,
        limit: q.limit,
      });
      return pageJson(page, auditEventJson);
    },
  );
}
