import { describe, expect, it } from 'vitest';
import { OstiaryError } from '../../src/errors.ts';
import { checkPassword } from '../../src/users/passwords.ts';

const POLICY = { minLength: 12 };

/** The refusal's code, or 'ok' when the password is accepted. */
function verdict(password: string, context: string[] = [], policy = POLICY): string {
  try {
    checkPassword(password, policy, context);
    return 'ok';
  } catch (error) {
    if (!(error instanceof OstiaryError)) throw error;
    expect(error.message).not.toContain(password);
    return error.code;
  }
}

describe('the password policy', () => {
  it('counts characters, not UTF-16 units, against the minimum and the maximum of 256', () => {
    expect(verdict('a7#Kq9!x2Lp')).toBe('user.password_too_short');
    expect(verdict('a7#Kq9!x2Lpz')).toBe('ok');
    expect(verdict('🦉🦉🦉🦉🦉🦉x7Kq9!2')).toBe('ok');
    expect(verdict('🦉'.repeat(6))).toBe('user.password_too_short');
    const long = 'Wj8$kL2#pQ9z'.repeat(22);
    expect(verdict(long.slice(0, 256))).toBe('ok');
    expect(verdict(long.slice(0, 257))).toBe('user.password_too_long');
    expect(verdict('correct horse', [], { minLength: 14 })).toBe('user.password_too_short');
  });

  it('names the limits in the refusal, for every front to say them in its own words', () => {
    try {
      checkPassword('short', POLICY);
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'user.password_too_short', field: 'password', params: { min: '12', max: '256' } });
    }
  });

  it('refuses common, patterned and breached-looking passwords, with no composition rules', () => {
    for (const weak of ['password1234', 'iloveyou1234', 'qwertyuiop12', '123456789012', 'aaaaaaaaaaaa', 'P@ssw0rd2024', 'abcabcabcabc', 'Password123!']) {
      expect(verdict(weak), weak).toBe('user.password_too_weak');
    }
    for (const strong of ['correct horse battery staple', 'ih7Gk2-pQz9w', 'lowercase only but long enough phrase']) {
      expect(verdict(strong), strong).toBe('ok');
    }
  });

  it('refuses a password made of the person’s own address or name', () => {
    const person = ['ada.lovelace@example.com', 'Ada Lovelace'];
    for (const own of ['ada.lovelace@example.com', 'Ada Lovelace!!']) {
      expect(verdict(own, person), own).toBe('user.password_too_weak');
      expect(verdict(own), own).toBe('ok');
    }
  });

  it('estimates a long pattern quickly enough to answer a form, and still refuses it', () => {
    expect(verdict('xK9#'.repeat(64))).toBe('user.password_too_weak');
  });
});
