import { domainToASCII, domainToUnicode } from 'node:url';
import { fail, OstiaryError } from '../errors.ts';

const MAX_RAW = 320;
const MAX_ADDRESS = 254;
const MAX_LOCAL = 64;
const MAX_LABEL = 63;
const MAX_DOMAIN = 253;
const QUOTE = 64;

/** Invisible, control, private-use, unassigned and space characters: one class, linear to test. */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}\p{Default_Ignorable_Code_Point}]/u;
const FORBIDDEN_ALL = new RegExp(FORBIDDEN.source, 'gu');
/** ASCII a domain may hold before IDNA: letters (already lower-cased), digits, hyphens, dots. */
const DOMAIN_ASCII = /[\x00-\x2c\x2f\x3a-\x60\x7b-\x7f]/;
const LDH = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** UTS 39 "recommended" scripts; letters of any other script count as one more script. */
const SCRIPTS = (
  'Arabic Armenian Bengali Bopomofo Cyrillic Devanagari Ethiopic Georgian Greek Gujarati Gurmukhi Han Hangul Hebrew ' +
  'Hiragana Kannada Katakana Khmer Lao Latin Malayalam Myanmar Oriya Sinhala Tamil Telugu Thaana Thai Tibetan'
)
  .split(' ')
  .map((name) => ({ name, pattern: new RegExp(`\\p{Script=${name}}`, 'u') }));
const NEUTRAL = /[\p{Script=Common}\p{Script=Inherited}]/u;
const CJK = [['Han', 'Hiragana', 'Katakana'], ['Han', 'Hangul'], ['Han', 'Bopomofo']].map((names) => new Set(names));

const escape = (char: string) => `\\u{${char.codePointAt(0)!.toString(16).toUpperCase()}}`;

/** The address as quoted in messages: capped, with invisible characters spelled out. */
function quote(raw: string): string {
  const capped = raw.length > QUOTE ? `${raw.slice(0, QUOTE)}…` : raw;
  return `"${capped.replace(FORBIDDEN_ALL, escape)}"`;
}

function refuse(raw: string, reason: string): never {
  throw fail('user.email_invalid', `invalid email address ${quote(raw)}: ${reason}`, { field: 'email' });
}

function checkCharacters(raw: string, value: string): void {
  const found = FORBIDDEN.exec(value)?.[0];
  if (found === undefined) return;
  const code = found.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  refuse(raw, `it contains a space, control or invisible character (U+${code})`);
}

function scriptOf(char: string): string | null {
  if (NEUTRAL.test(char)) return null;
  return SCRIPTS.find((s) => s.pattern.test(char))?.name ?? 'other';
}

function checkScripts(raw: string, label: string): void {
  const scripts = new Set<string>();
  for (const char of label) {
    const script = scriptOf(char);
    if (script) scripts.add(script);
  }
  if (scripts.size <= 1 || CJK.some((allowed) => [...scripts].every((s) => allowed.has(s)))) return;
  refuse(raw, `the domain label "${label}" mixes scripts (${[...scripts].join(', ')})`);
}

function checkAsciiLabels(raw: string, labels: string[]): void {
  if (labels.length < 2) refuse(raw, 'the domain needs at least two labels, as in example.com');
  for (const label of labels) {
    if (label === '') refuse(raw, 'the domain has an empty label');
    if (label.length > MAX_LABEL) refuse(raw, `a domain label is longer than ${MAX_LABEL} characters`);
    if (!LDH.test(label)) refuse(raw, 'a domain label may hold only letters, digits and inner hyphens');
  }
  if (!/^[a-z]/.test(labels.at(-1)!)) refuse(raw, 'the top-level domain must start with a letter');
}

/** The domain's Unicode form, after IDNA validation. */
function normalizeDomain(raw: string, domain: string): string {
  const trimmed = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (trimmed === '') refuse(raw, 'the part after the @ is empty');
  if (DOMAIN_ASCII.test(trimmed)) refuse(raw, 'the domain may hold only letters, digits, hyphens and dots');
  const ascii = domainToASCII(trimmed);
  if (ascii === '') refuse(raw, 'the domain is not a valid internationalised domain name');
  if (ascii.length > MAX_DOMAIN) refuse(raw, `the domain is longer than ${MAX_DOMAIN} characters`);
  checkAsciiLabels(raw, ascii.split('.'));
  const unicode = domainToUnicode(ascii);
  for (const label of unicode.split('.')) {
    if (label.startsWith('xn--')) refuse(raw, 'the domain is not a valid internationalised domain name');
    checkScripts(raw, label);
  }
  return unicode;
}

/**
 * The one normal form of an email address, used to store, find, lock out and rate-limit people:
 * trimmed, NFKC, lower-cased as a whole (addresses are case-insensitive here), one trailing dot
 * of the domain dropped, the domain in its Unicode form. Provider-specific aliases (Gmail dots,
 * `+tags`) are kept: elsewhere they may be different mailboxes. Throws user.email_invalid naming
 * what is wrong.
 */
export function normalizeEmail(raw: string): string {
  if (raw.length > MAX_RAW) refuse(raw, `it is longer than ${MAX_RAW} characters`);
  const trimmed = raw.trim();
  if (trimmed === '') refuse(raw, 'it is empty');
  checkCharacters(raw, trimmed);
  const folded = trimmed.normalize('NFKC').toLowerCase().normalize('NFKC');
  checkCharacters(raw, folded);
  const parts = folded.split('@');
  if (parts.length !== 2) refuse(raw, 'it must contain exactly one @');
  const [local, domain] = parts as [string, string];
  if (local === '') refuse(raw, 'the part before the @ is empty');
  if (local.length > MAX_LOCAL) refuse(raw, `the part before the @ is longer than ${MAX_LOCAL} characters`);
  const address = `${local}@${normalizeDomain(raw, domain)}`;
  if (address.length > MAX_ADDRESS) refuse(raw, `it is longer than ${MAX_ADDRESS} characters`);
  return address;
}

/** The normal form, or null when the address is invalid: for lookups and counters. */
export function emailKey(raw: string): string | null {
  try {
    return normalizeEmail(raw);
  } catch (error) {
    if (error instanceof OstiaryError) return null;
    throw error;
  }
}
