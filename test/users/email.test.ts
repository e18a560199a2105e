import { describe, expect, it } from 'vitest';
import { emailKey, normalizeEmail } from '../../src/users/index.ts';

describe('normalizeEmail', () => {
  it.each([
    ['full-width letters', 'ａｄａ@example.com'],
    ['a full-width @', 'ada＠example.com'],
    ['upper case', 'ADA@Example.COM'],
    ['a trailing dot', 'ada@example.com.'],
    ['surrounding spaces', '  ada@example.com\t'],
    ['an A-label domain', 'ada@EXAMPLE.com'],
  ])('maps %s to the one normal form', (_name, raw) => {
    expect(normalizeEmail(raw)).toBe('ada@example.com');
  });

  it('keeps internationalised domains in their Unicode form, whichever form they come in', () => {
    expect(normalizeEmail('ada@bücher.example')).toBe('ada@bücher.example');
    expect(normalizeEmail('Ada@BÜCHER.example')).toBe('ada@bücher.example');
    expect(normalizeEmail('ada@xn--bcher-kva.example')).toBe('ada@bücher.example');
    expect(normalizeEmail('ada@例え.テスト')).toBe('ada@例え.テスト');
    expect(normalizeEmail('ada@한국.한국')).toBe('ada@한국.한국');
  });

  it('keeps dots and +tags of the local part', () => {
    expect(normalizeEmail('a.d.a+news@example.com')).toBe('a.d.a+news@example.com');
  });

  it('is idempotent', () => {
    for (const raw of ['ａｄａ@example.com', 'ada@BÜCHER.example.', 'Straße@faß.de', 'ǅ@example.com', '㎁@example.com']) {
      const once = normalizeEmail(raw);
      expect(normalizeEmail(once)).toBe(once);
    }
  });

  it.each([
    ['a zero-width space', 'ada@exam\u200Bple.com', /U\+200B/],
    ['a zero-width joiner', 'ad\u200Da@example.com', /U\+200D/],
    ['an inner byte order mark', 'ada@exa\uFEFFmple.com', /U\+FEFF/],
    ['a bidi override', 'ada@example\u202E.com', /U\+202E/],
    ['a bidi isolate', '\u2066ada@example.com', /U\+2066/],
    ['a soft hyphen', 'ada@exa\u00ADmple.com', /U\+00AD/],
    ['a no-break space', 'ada\u00A0@example.com', /U\+00A0/],
    ['an inner space', 'a da@example.com', /U\+0020/],
    ['a line separator', 'ada@example.com\u2028x', /U\+2028/],
    ['a control character', 'ada@exam\u0000ple.com', /U\+0000/],
    ['a private-use character', 'ada@exam\uE000ple.com', /U\+E000/],
    ['an unassigned code point', 'ada@exam\u0378ple.com', /U\+0378/],
    ['a mixed-script domain label', 'ada@pаypal.com', /label "pаypal" mixes scripts \(Latin, Cyrillic\)/],
    ['a mixed-script A-label', 'ada@xn--pypal-4ve.com', /mixes scripts/],
    ['Latin and Cherokee', 'ada@ᎪᎡᎻexample.com', /mixes scripts/],
    ['two @', 'ada@home@example.com', /exactly one @/],
    ['no @', 'ada.example.com', /exactly one @/],
    ['an empty local part', '@example.com', /before the @ is empty/],
    ['an empty domain', 'ada@', /after the @ is empty/],
    ['an empty domain label', 'ada@example..com', /empty label/],
    ['two trailing dots', 'ada@example.com..', /empty label/],
    ['a single-label domain', 'ada@localhost', /at least two labels/],
    ['a numeric top-level domain', 'ada@1.2.3.4', /top-level domain/],
    ['punctuation in the domain', 'ada@exa_mple.com', /only letters, digits, hyphens and dots/],
    ['a percent sign in the domain', 'ada@ex%41mple.com', /only letters, digits, hyphens and dots/],
    ['a leading hyphen in a label', 'ada@-example.com', /inner hyphens/],
    ['an invalid A-label', 'ada@xn--zz.com', /not a valid internationalised domain name/],
    ['a 65-character local part', `${'a'.repeat(65)}@example.com`, /longer than 64/],
    ['a 64-character label', `ada@${'a'.repeat(64)}.com`, /longer than 63/],
    ['a 260-character address', `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`, /longer than 254/],
    ['an empty string', '   ', /empty/],
  ])('refuses %s with a clear message', (_name, raw, reason) => {
    expect(() => normalizeEmail(raw)).toThrow(/^invalid email address /);
    expect(() => normalizeEmail(raw)).toThrow(reason);
    expect(emailKey(raw)).toBeNull();
  });

  it('refuses an overlong address before matching it, quoting only its start', () => {
    const raw = `${'a'.repeat(20_000)}@${'b.'.repeat(10_000)}com`;
    let message = '';
    try {
      normalizeEmail(raw);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/longer than 320 characters/);
    expect(message.length).toBeLessThan(200);
    expect(emailKey(raw)).toBeNull();
  });

  it('spells out invisible characters in its message instead of echoing them', () => {
    expect(() => normalizeEmail('ada@exam\u200Bple.com')).toThrow('"ada@exam\\u{200B}ple.com"');
  });

  it('answers lookups with the normal form or null', () => {
    expect(emailKey('ＡＤＡ@example.com')).toBe('ada@example.com');
    expect(emailKey('_')).toBeNull();
    expect(emailKey('%')).toBeNull();
  });
});
