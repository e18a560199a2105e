import { normalizeEmail } from '../users/index.ts';
import type { ClaimMapping } from './presets.ts';

/** The person an upstream vouches for, cleaned: its claims are untrusted input. */
export interface UpstreamIdentityClaims {
  subject: string;
  /** Normalized; undefined when the upstream gave none or one that is not an address. */
  email?: string;
  /** Only true when the upstream said so in so many words. */
  emailVerified: boolean;
  name?: string;
}

const MAX_SUBJECT = 255;
const MAX_NAME = 200;

function first(source: Record<string, unknown>, members: readonly string[]): unknown {
  for (const member of members) {
    const value = source[member];
    if (value !== undefined && value !== null && value !== '') return value;
  }
  return undefined;
}

function cleanEmail(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return normalizeEmail(value);
  } catch {
    return undefined;
  }
}

/** A display name: text only, no control or format characters, no markup, at most 200 characters. */
function cleanName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.replace(/[\p{Cc}\p{Cf}<>]/gu, '').trim();
  return text ? [...text].slice(0, MAX_NAME).join('') : undefined;
}

function cleanSubject(value: unknown): string | undefined {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !text || text.length > MAX_SUBJECT || /[\p{Cc}\p{Cf}]/u.test(text)) return undefined;
  return text;
}

/** Why an upstream's answer cannot stand for a person. */
export class UnusableIdentityError extends Error {
  override name = 'UnusableIdentityError';
}

/** The person in an upstream's claims (or userinfo), by the upstream's mapping. */
export function identityOf(source: unknown, mapping: ClaimMapping): UpstreamIdentityClaims {
  const claims = (source && typeof source === 'object' && !Array.isArray(source) ? source : {}) as Record<string, unknown>;
  const subject = cleanSubject(first(claims, mapping.subject));
  if (!subject) throw new UnusableIdentityError('the upstream gave no usable subject');
  const email = cleanEmail(first(claims, mapping.email));
  const verified = first(claims, mapping.emailVerified);
  return {
    subject,
    ...(email ? { email } : {}),
    emailVerified: Boolean(email) && (verified === true || verified === 'true'),
    ...(cleanName(first(claims, mapping.name)) ? { name: cleanName(first(claims, mapping.name)) } : {}),
  };
}

/**
 * The address from a GitHub-style list of the person's addresses (`[{ email, primary, verified }]`):
 * the verified primary one, else the primary one, unverified; nothing when neither is usable.
 */
export function verifiedPrimaryEmail(list: unknown): { email?: string; emailVerified: boolean } {
  const entries = Array.isArray(list) ? list.slice(0, 100).filter((e): e is Record<string, unknown> => Boolean(e) && typeof e === 'object') : [];
  const primary = entries.find((e) => e.primary === true);
  const email = cleanEmail(primary?.email);
  return email ? { email, emailVerified: primary?.verified === true } : { emailVerified: false };
}
