import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadCatalogues, LOCALES } from '../../src/i18n/index.ts';

/** Every message as `namespace:dotted.key` -> text, for one locale. */
function messages(catalogue: Record<string, unknown>): Map<string, unknown> {
  const flat = new Map<string, unknown>();
  const walk = (value: unknown, key: string) => {
    if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) walk(v, key.endsWith(':') ? `${key}${k}` : `${key}.${k}`);
    else flat.set(key, value);
  };
  for (const [namespace, tree] of Object.entries(catalogue)) if (namespace !== 'mail') walk(tree, `${namespace}:`);
  return flat;
}

const placeholders = (text: string) => [...text.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
const tags = (text: string) => [...text.matchAll(/<\/?([a-z]+)/g)].map((m) => m[0]);

async function sourceFiles(directory: URL, ending: string): Promise<URL[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith(ending)).map((entry) => new URL(`file://${entry.parentPath}/${entry.name}`));
}

describe('the page catalogues', () => {
  const catalogues = loadCatalogues();
  const english = messages(catalogues.en);

  it('have every English key in every locale, non-empty, with the same placeholders and markup', () => {
    expect(english.size).toBeGreaterThan(100);
    for (const locale of LOCALES) {
      const translated = messages(catalogues[locale]);
      expect([...translated.keys()].sort(), locale).toEqual([...english.keys()].sort());
      for (const [key, source] of english) {
        const text = translated.get(key);
        expect(typeof text === 'string' && text.trim().length > 0, `${locale} ${key}`).toBe(true);
        expect(placeholders(text as string), `${locale} ${key}`).toEqual(placeholders(source as string));
        expect(tags(text as string), `${locale} ${key}`).toEqual(tags(source as string));
      }
    }
  });

  it('hold every key the page templates and the page routes name', async () => {
    const files = [...(await sourceFiles(new URL('../../views/', import.meta.url), '.eta')), ...(await sourceFiles(new URL('../../src/', import.meta.url), '.ts'))];
    const named = new Set<string>();
    for (const file of files) {
      if (file.pathname.includes('/views/mail/')) continue;
      const source = await readFile(file, 'utf8');
      for (const match of source.matchAll(/['`]((?:common|errors|login|consent|device|logout|reset|signup|verify|invitation|account):[\w.]+)['`]/g)) named.add(match[1]!);
    }
    expect(named.size).toBeGreaterThan(80);
    for (const key of named) expect(english.has(key), key).toBe(true);
  });

  it('word every refusal a page shows by its error code', async () => {
    const source = await readFile(new URL('../../src/interactions/problems.ts', import.meta.url), 'utf8');
    const codes = [...source.matchAll(/'(user\.\w+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(10);
    for (const code of codes) expect(english.has(`errors:${code}`), code).toBe(true);
  });
});
