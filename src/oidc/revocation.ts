import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * Who may revoke a token (RFC 7009 section 2.1): the client it was issued to. Another
 * confidential client is told its request is invalid; a public one, which anyone can name, is
 * answered as if the token were unknown, so the endpoint confirms nothing about it.
 */
export function revocationAllowed(_ctx: KoaContextWithOIDC, client: { clientId: string; clientAuthMethod?: string }, token: { clientId?: string }): boolean {
  if (token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
}

/**
 * A successful revocation is an empty 200 (RFC 7009 section 2.2). Without a Content-Type:
 * the provider's `text/plain` for the empty body makes some client libraries (oidc-client-ts on
 * its defaults) reject a revocation that worked.
 */
export async function emptyRevocationAnswer(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  if (ctx.oidc?.route === 'revocation' && ctx.status === 200 && !ctx.body) ctx.remove('content-type');
}
