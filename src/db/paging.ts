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

export function pageQuery({ cursor, limit = DEFAULT_PAGE }: PageRequest) {
  const id = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : undefined;
  return { take: Math.min(limit, MAX_PAGE) + 1, ...(id ? { cursor: { id }, skip: 1 } : {}) };
}

export function pageOf<R extends { id: string }, T>(rows: R[], request: PageRequest, toView: (row: R) => T): Page<T> {
  const limit = Math.min(request.limit ?? DEFAULT_PAGE, MAX_PAGE);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items: items.map(toView), nextCursor: rows.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
}
