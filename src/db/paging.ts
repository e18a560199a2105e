import { fail } from '../errors.ts';

/** Cursor paging over rows ordered by id: the cursor is the last id seen, opaque to callers. */
export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  cursor?: string;
  limit?: number;
}

/** The id a cursor stands for; a cursor that is not one of ours is refused, not read as "from the start". */
function cursorId(cursor: string): string {
  const id = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  // Ids never hold NUL (PostgreSQL text cannot), so a cursor decoding to one is not ours either.
  if (!id || id.includes('\u0000') || Buffer.from(id).toString('base64url') !== cursor) throw fail('input.invalid', 'the cursor is not valid: pass the next_cursor of a previous page', { field: 'cursor' });
  return id;
}

export function pageQuery({ cursor, limit = DEFAULT_PAGE }: PageRequest) {
  const id = cursor ? cursorId(cursor) : undefined;
  return { take: Math.min(limit, MAX_PAGE) + 1, ...(id ? { cursor: { id }, skip: 1 } : {}) };
}

export function pageOf<R extends { id: string }, T>(rows: R[], request: PageRequest, toView: (row: R) => T): Page<T> {
  const limit = Math.min(request.limit ?? DEFAULT_PAGE, MAX_PAGE);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items: items.map(toView), nextCursor: rows.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
}
