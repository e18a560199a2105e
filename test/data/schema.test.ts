import { readFile, readdir } from 'node:fs/promises';
import { createClient } from '@libsql/client';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseTarget } from '../../src/db/connection.ts';
import { applyMigrations, migrationSql } from '../../src/db/migrations.ts';
import { buildSchema, paths, PROVIDERS } from '../../src/db/schema.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';

const created: TestDatabase[] = [];
afterAll(() => Promise.all(created.map((d) => d.drop())));

async function freshDatabase(kind: 'sqlite' | 'postgresql') {
  const database = await createTestDatabase(kind);
  created.push(database);
  return database;
}

/** Tables, columns, indexes and constraints of a database, in a comparable form. */
async function describeSchema(kind: 'sqlite' | 'postgresql', url: string): Promise<string[]> {
  if (kind === 'sqlite') {
    // Column order is not compared: SQLite appends added columns, which changes nothing.
    const client = createClient({ url });
    try {
      const { rows: objects } = await client.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_prisma%' ORDER BY name",
      );
      const described: string[] = [];
      for (const object of objects) {
        if (object.type !== 'table') {
          described.push(`${object.type} ${object.name}: ${String(object.sql).replace(/\s+/g, ' ')}`);
          continue;
        }
        const columns = await client.execute(`PRAGMA table_info("${object.name}")`);
        for (const c of columns.rows) described.push(`column ${object.name}.${c.name} ${c.type} notnull=${c.notnull} default=${c.dflt_value} pk=${c.pk}`);
        const keys = await client.execute(`PRAGMA foreign_key_list("${object.name}")`);
        for (const k of keys.rows) described.push(`foreign key ${object.name}.${k.from} -> ${k.table}.${k.to} ${k.on_update} ${k.on_delete}`);
      }
      return described.sort();
    } finally {
      client.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const columns = await client.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY table_name, column_name`,
    );
    const indexes = await client.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY indexname`);
    const constraints = await client.query(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname`,
    );
    return [
      ...columns.rows.map((r) => `column ${r.table_name}.${r.column_name} ${r.data_type} ${r.is_nullable} ${r.column_default}`),
      ...indexes.rows.map((r) => `index ${r.indexdef}`),
      ...constraints.rows.filter((r) => !String(r.conname).startsWith('_prisma')).map((r) => `constraint ${r.conname} ${r.def}`),
    ];
  } finally {
    await client.end();
  }
}

async function executeScript(kind: 'sqlite' | 'postgresql', url: string, sql: string): Promise<void> {
  if (kind === 'sqlite') {
    const client = createClient({ url });
    await client.executeMultiple(sql);
    client.close();
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

describe('one source of truth for the data models', () => {
  it.each(PROVIDERS)('the committed %s schema is derived from prisma/models.prisma (run npm run db:migration -- NAME)', async (provider) => {
    expect(await readFile(paths.schema(provider), 'utf8')).toBe(await buildSchema(provider));
  });

  it('both providers have the same migration history', async () => {
    const names = async (provider: 'sqlite' | 'postgresql') =>
      (await readdir(paths.migrations(provider), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const sqlite = await names('sqlite');
    expect(sqlite.length).toBeGreaterThan(0);
    expect(await names('postgresql')).toEqual(sqlite);
  });

  it.each(DATABASES)('the committed %s migrations build exactly the schema the models describe', async (kind) => {
    const migrated = await freshDatabase(kind);
    const applied = await applyMigrations(databaseTarget(migrated.url));
    expect(applied.length).toBeGreaterThan(0);
    expect(await applyMigrations(databaseTarget(migrated.url))).toEqual([]);

    const fromModels = await freshDatabase(kind);
    const sql = await migrationSql(databaseTarget(fromModels.url), null, await buildSchema(kind));
    await executeScript(kind, fromModels.url, sql);

    const expected = await describeSchema(kind, fromModels.url);
    expect(expected.length).toBeGreaterThan(10);
    expect(await describeSchema(kind, migrated.url)).toEqual(expected);
  });
});
