import Fastify, { type FastifyReply } from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface ApiOptions {
  port: number;
  issuer: string;
  jwksUri: string;
  /** The audience its access tokens must name (the API registered in Ostiary). */
  audience: string;
  /** The permission a caller needs. */
  permission: string;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/** RFC 6750 section 3: the error code in the challenge, the reason in the body. */
function refuse(reply: FastifyReply, status: 401 | 403, error: string, description: string) {
  return reply.code(status).header('www-authenticate', `Bearer realm="demo", error="${error}"`).send({ error, error_description: description });
}

/**
 * The demo resource server: `GET /hello` answers only a caller with an access token it verifies
 * itself (RS256 signature against the issuer's JWKS, `iss`, `aud`, `exp`, `typ: at+jwt`) that
 * holds its permission. It never asks Ostiary about the token.
 */
export async function startApi(options: ApiOptions) {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri));
  const app = Fastify();
  app.get('/hello', async (request, reply) => {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return refuse(reply, 401, 'invalid_request', 'an access token is required: Authorization: Bearer <token>');
    let verified;
    try {
      verified = await jwtVerify(token, jwks, { issuer: options.issuer, audience: options.audience, algorithms: ['RS256'], typ: 'at+jwt' });
    } catch (error) {
      return refuse(reply, 401, 'invalid_token', (error as Error).message);
    }
    const { payload, protectedHeader } = verified;
    const permissions = Array.isArray(payload.permissions) ? payload.permissions : [];
    if (!permissions.includes(options.permission)) {
      return refuse(reply, 403, 'insufficient_scope', `the token's permissions do not include ${options.permission}`);
    }
    return {
      message: `Hello ${String(payload.sub)}: your access token is good for this API.`,
      verified: {
        signature: `${protectedHeader.alg} with key ${protectedHeader.kid} from ${options.jwksUri}`,
        iss: payload.iss,
        aud: payload.aud,
        expires_in: (payload.exp ?? 0) - Math.floor(Date.now() / 1000),
      },
      sub: payload.sub,
      client_id: payload.client_id,
      permissions,
    };
  });
  await app.listen({ port: options.port, host: '127.0.0.1' });
  return app;
}
