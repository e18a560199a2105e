import { isLocalHost } from '../config/index.ts';
import { fail } from '../errors.ts';

/** Whom a client's JWT bearer assertions (RFC 7523) come from: their `iss`, and that issuer's keys. */
export interface AssertionTrust {
  assertionIssuer?: string | null;
  assertionJwksUri?: string | null;
  /** A JWKS: an object, or its JSON text. */
  assertionJwks?: unknown;
}

const MAX_KEYS = 20;
const MAX_JWKS_LENGTH = 64 * 1024;
const MAX_VALUE_LENGTH = 2000;
/** Members only a private or symmetric key has (RFC 7517, RFC 7518 section 6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** The members each kind of public key needs. */
const PUBLIC_MEMBERS: Record<string, string[]> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };

const keysInvalid = (why: string, field: 'assertionJwksUri' | 'assertionJwks') => fail('client.assertion_keys_invalid', `assertion issuer keys: ${why}`, { field });

/** A JWKS URL: absolute, https (http only for localhost), without a fragment. */
function checkJwksUri(value: string): string {
  const url = URL.parse(value);
  if (!url || value.length > MAX_VALUE_LENGTH || url.hash || value.includes('#')) throw keysInvalid(`the JWKS URL must be an absolute URL without a fragment: ${value}`, 'assertionJwksUri');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLocalHost(url.hostname))) throw keysInvalid(`the JWKS URL must use https (http only for localhost): ${value}`, 'assertionJwksUri');
  return value;
}

function isPublicKey(key: unknown): boolean {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return false;
  const jwk = key as Record<string, unknown>;
  const needed = PUBLIC_MEMBERS[String(jwk.kty)];
  return !!needed && needed.every((m) => typeof jwk[m] === 'string') && !PRIVATE_MEMBERS.some((m) => m in jwk);
}

/** A JWKS of public asymmetric keys (RSA, EC, OKP) as stored: its JSON text. */
function checkJwks(value: unknown): string {
  let jwks = value;
  if (typeof value === 'string') {
    try {
      jwks = JSON.parse(value);
    } catch {
      throw keysInvalid('the JWKS is not JSON', 'assertionJwks');
    }
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) throw keysInvalid(`a JWKS is an object with "keys": 1 to ${MAX_KEYS} keys`, 'assertionJwks');
  if (!keys.every(isPublicKey)) throw keysInvalid('every key must be a public RSA, EC or OKP key (no private or symmetric key members)', 'assertionJwks');
  const text = JSON.stringify({ keys });
  if (text.length > MAX_JWKS_LENGTH) throw keysInvalid(`the JWKS is longer than ${MAX_JWKS_LENGTH} characters`, 'assertionJwks');
  return text;
}

/**
 * The trust as stored: an issuer with exactly one kind of keys, or nothing. The jwt_bearer grant
 * needs it; without the grant it is kept but unused.
 */
export function checkAssertionTrust(trust: AssertionTrust, grants: readonly string[]) {
  const issuer = trust.assertionIssuer?.trim() || null;
  const jwksUri = trust.assertionJwksUri || null;
  const jwks = trust.assertionJwks ?? null;
  if (jwksUri && jwks) throw keysInvalid('give a JWKS URL or a JWKS, not both', 'assertionJwks');
  const hasKeys = Boolean(jwksUri || jwks);
  if (hasKeys !== Boolean(issuer) || (grants.includes('jwt_bearer') && !issuer)) {
    throw fail('client.assertion_issuer_required', 'the jwt_bearer grant needs the assertion issuer (iss) and its keys: a JWKS URL or a JWKS', { field: issuer ? 'assertionJwksUri' : 'assertionIssuer' });
  }
  return { assertionIssuer: issuer, assertionJwksUri: jwksUri && checkJwksUri(jwksUri), assertionJwks: jwks && checkJwks(jwks) };
}

/** A stored JWKS, parsed (it was checked when stored). */
export const jwksOf = (text: string | null): { keys: unknown[] } | null => (text ? (JSON.parse(text) as { keys: unknown[] }) : null);
