import { fail } from '../errors.ts';

/** A person's display name: optional, at most 200 characters, no control or format characters. */
export function cleanName(name: string | null | undefined): string | null {
  const trimmed = name?.trim() ?? '';
  if ([...trimmed].length > 200 || /\p{Cc}|\p{Cf}/u.test(trimmed)) {
    throw fail('user.name_invalid', 'the name must be at most 200 characters, without control characters', { field: 'name' });
  }
  return trimmed || null;
}
