import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE, MAX_PAGE, pageOf, pageQuery } from '../../src/db/paging.ts';

/** Rows as the database would return them for a query: ordered by id. */
const rows = (count: number) => Array.from({ length: count }, (_, i) => ({ id: `id-${String(i).padStart(4, '0')}`, secret: `s${i}` }));
const idOnly = (row: { id: string }) => row.id;

describe('pageQuery', () => {
  it('asks for one row more than the page, to know whether another page follows', () => {
    expect(pageQuery({})).toEqual({ take: DEFAULT_PAGE + 1 });
    expect(pageQuery({ limit: 1 })).toEqual({ take: 2 });
    expect(pageQuery({ limit: 10 })).toEqual({ take: 11 });
  });

  it(`never asks for more than MAX_PAGE (${MAX_PAGE}) rows a page`, () => {
    expect(pageQuery({ limit: MAX_PAGE })).toEqual({ take: MAX_PAGE + 1 });
    expect(pageQuery({ limit: MAX_PAGE + 1 })).toEqual({ take: MAX_PAGE + 1 });
    expect(pageQuery({ limit: 10_000 })).toEqual({ take: MAX_PAGE + 1 });
  });

  it('starts after the row a cursor names, skipping that row itself', () => {
    const cursor = Buffer.from('id-0042').toString('base64url');
    expect(pageQuery({ cursor, limit: 5 })).toEqual({ take: 6, cursor: { id: 'id-0042' }, skip: 1 });
  });

  it('treats an empty cursor as none', () => {
    expect(pageQuery({ cursor: '' })).toEqual({ take: DEFAULT_PAGE + 1 });
  });

  // A garbled cursor that decoded to nothing would restart the listing, and a client could page forever.
  it('does not restart at the first page for a malformed cursor', () => {
    let query: ReturnType<typeof pageQuery>;
    try {
      query = pageQuery({ cursor: '%%%%' });
    } catch {
      return; // refusing it is right too
    }
    expect(query).not.toEqual(pageQuery({}));
  });
});

describe('pageOf', () => {
  it('returns the page and a cursor when more rows follow', () => {
    const page = pageOf(rows(6), { limit: 5 }, idOnly);
    expect(page.items).toEqual(['id-0000', 'id-0001', 'id-0002', 'id-0003', 'id-0004']);
    expect(page.nextCursor).toEqual(expect.any(String));
  });

  it('ends with a null cursor: a short last page, an exactly full last page, no rows at all', () => {
    expect(pageOf(rows(3), { limit: 5 }, idOnly)).toEqual({ items: ['id-0000', 'id-0001', 'id-0002'], nextCursor: null });
    expect(pageOf(rows(5), { limit: 5 }, idOnly)).toEqual({ items: rows(5).map(idOnly), nextCursor: null });
    expect(pageOf([], { limit: 5 }, idOnly)).toEqual({ items: [], nextCursor: null });
  });

  it('uses the default and the maximum page sizes as pageQuery does', () => {
    expect(pageOf(rows(DEFAULT_PAGE + 1), {}, idOnly).items).toHaveLength(DEFAULT_PAGE);
    const capped = pageOf(rows(MAX_PAGE + 1), { limit: MAX_PAGE * 2 }, idOnly);
    expect(capped.items).toHaveLength(MAX_PAGE);
    expect(capped.nextCursor).not.toBeNull();
  });

  it('shows each row through the view (nothing else of the row)', () => {
    const page = pageOf(rows(2), {}, (row) => ({ name: row.id.toUpperCase() }));
    expect(page.items).toEqual([{ name: 'ID-0000' }, { name: 'ID-0001' }]);
  });

  it('round-trips: the next cursor makes the query start after the last row shown', () => {
    const all = rows(12);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const query = pageQuery({ cursor, limit: 5 });
      // What the database does with take/cursor/skip over rows ordered by id.
      const start = query.cursor ? all.findIndex((r) => r.id === query.cursor!.id) + query.skip! : 0;
      const page = pageOf(all.slice(start, start + query.take), { cursor, limit: 5 }, idOnly);
      seen.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(all.map(idOnly));
  });

  it('round-trips ids of any characters (the cursor is opaque, URL-safe text)', () => {
    const id = 'ünï/cödé+id=?&';
    const page = pageOf([{ id }, { id: 'z' }], { limit: 1 }, idOnly);
    expect(page.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(pageQuery({ cursor: page.nextCursor! }).cursor).toEqual({ id });
  });
});
