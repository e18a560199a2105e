import type { FastifyInstance } from 'fastify';
import { metadataPath, resourceMetadata, type Apis } from '../apis/index.ts';
import type { Config } from '../config/index.ts';
import { documentHeaders } from '../security/index.ts';

/** A resource server reads its metadata's changes within five minutes. */
const MAX_AGE_SECONDS = 300;

/**
 * RFC 9728 protected resource metadata of the APIs created with `--publish-metadata`, for
 * resource servers (an MCP server) that have none of their own: their `WWW-Authenticate`
 * challenge points here with `resource_metadata`. Public, read by browsers of any origin.
 */
export async function resourceMetadataRoutes(app: FastifyInstance, { apis, config }: { apis: Apis; config: Config }): Promise<void> {
  const headers = { ...documentHeaders(config), 'access-control-allow-origin': '*' };
  app.get<{ Params: { id: string } }>(metadataPath(':id'), { helmet: false }, async (request, reply) => {
    reply.headers(headers);
    const api = await apis.published(request.params.id);
    if (!api) return reply.code(404).send({ error: 'not_found', error_description: 'no protected resource is described here' });
    return reply.header('cache-control', `public, max-age=${MAX_AGE_SECONDS}`).send(resourceMetadata(api, config.issuer));
  });
}
