import { readFile } from 'node:fs/promises';
import { paths } from './schema.ts';

const SCALARS = new Set(['String', 'Boolean', 'Int', 'BigInt', 'Float', 'Decimal', 'DateTime', 'Json', 'Bytes']);

export interface Column {
  name: string;
  /** The Prisma scalar type: `String`, `DateTime`, `Json`, `BigInt`, `Bytes`... */
  type: string;
  optional: boolean;
}

export interface ModelColumns {
  columns: Column[];
  /** The primary key's columns, in order. */
  key: string[];
}

function parseModel(body: string): ModelColumns {
  const columns: Column[] = [];
  let key: string[] = [];
  for (const raw of body.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    const compound = /^@@id\(\[([^\]]+)\]\)/.exec(line);
    if (compound) key = compound[1]!.split(',').map((name) => name.trim());
    const field = /^(\w+)\s+(\w+)(\[\])?(\?)?(.*)$/.exec(line);
    if (!field || field[3] || !SCALARS.has(field[2]!)) continue;
    columns.push({ name: field[1]!, type: field[2]!, optional: Boolean(field[4]) });
    if (/(^|\s)@id(\s|$|\()/.test(field[5]!)) key = [field[1]!];
  }
  return { columns, key };
}

/** The stored columns and primary key of every model, read from prisma/models.prisma (relation fields left out). */
export async function modelColumns(): Promise<Record<string, ModelColumns>> {
  const text = await readFile(paths.models, 'utf8');
  const models: Record<string, ModelColumns> = {};
  for (const match of text.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)) models[match[1]!] = parseModel(match[2]!);
  return models;
}
