import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens for the forms of one interaction: an HMAC of its id under a server key. Only the
 * browser holding the interaction's cookie is shown the page, so only it learns the token.
 */
export function createCsrf(key: Buffer) {
  const tokenFor = (interactionId: string) => createHmac('sha256', key).update(`csrf:${interactionId}`).digest('base64url');
  return {
    tokenFor,
    verify(interactionId: string, presented: unknown): boolean {
      if (typeof presented !== 'string') return false;
      const expected = Buffer.from(tokenFor(interactionId));
      const actual = Buffer.from(presented);
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
  };
}

export type Csrf = ReturnType<typeof createCsrf>;
