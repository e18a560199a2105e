import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a signed value looks like: base64url JSON, a dot, a 43-character HMAC-SHA256. */
export const SIGNED_FORM = /^[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{43}$/;

/**
 * Values the pages hand to the browser and take back (cookies, a form's hidden field): JSON with
 * an expiry, signed with HMAC-SHA256 for one purpose, so one kind can never be taken for another.
 */
export function createSigner(key: Buffer) {
  const mac = (value: string) => createHmac('sha256', key).update(value).digest('base64url');
  return {
    mac,
    sign(purpose: string, value: object, seconds: number): string {
      const body = Buffer.from(JSON.stringify({ ...value, exp: Math.floor(Date.now() / 1000) + seconds })).toString('base64url');
      return `${body}.${mac(`${purpose}:${body}`)}`;
    },
    /** The value, if `signed` was signed for `purpose` and has not expired. */
    open<T extends object>(purpose: string, signed: unknown): Partial<T> | undefined {
      if (typeof signed !== 'string' || !SIGNED_FORM.test(signed)) return undefined;
      const [body = '', signature = ''] = signed.split('.');
      // Both 43 characters (the form says so): compared in constant time.
      if (!timingSafeEqual(Buffer.from(mac(`${purpose}:${body}`)), Buffer.from(signature))) return undefined;
      try {
        const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<T> & { exp?: unknown };
        return typeof parsed.exp === 'number' && parsed.exp > Date.now() / 1000 ? parsed : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export type Signer = ReturnType<typeof createSigner>;
