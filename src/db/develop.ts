// Developer commands for the data models (not part of the server):
//   node src/db/develop.ts migration NAME  write the migrations for a change to prisma/models.prisma
//   node src/db/develop.ts check           exit 1 if the models changed without a migration
//   node src/db/develop.ts generate        generate both Prisma clients (run by postinstall)
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { databaseTarget } from './connection.ts';
import { createMigration } from './migrations.ts';
import { buildSchema, paths, PROVIDERS } from './schema.ts';

// Diffing two schema texts reads no tables, but the engine still opens a connection to learn
// the dialect: an in-memory SQLite database, and a reachable PostgreSQL server.
const DIALECT_URLS = {
  sqlite: 'file::memory:',
  postgresql: process.env.POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
} as const;

async function migration(name: string | undefined): Promise<void> {
  if (!name || !/^[a-z0-9_]+$/.test(name)) throw new Error('usage: migration NAME (lowercase letters, digits, _)');
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  for (const provider of PROVIDERS) {
    const dir = await createMigration(databaseTarget(DIALECT_URLS[provider]), name, stamp);
    console.error(dir ? `wrote ${dir}` : `${provider}: models unchanged, no migration written`);
  }
}

async function check(): Promise<void> {
  for (const provider of PROVIDERS) {
    const committed = await readFile(paths.schema(provider), 'utf8').catch(() => '');
    if (committed !== (await buildSchema(provider))) {
      throw new Error(`prisma/models.prisma changed without a migration for ${provider}: run npm run db:migration -- NAME`);
    }
  }
}

function generate(): void {
  const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
  // `prisma generate` first downloads a native schema engine it does not need for generation;
  // pointing this variable at any existing file skips that download (generation runs in WebAssembly).
  const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
  for (const provider of PROVIDERS) {
    try {
      // Quiet when it works (every install runs it); its own words when it does not.
      execFileSync(process.execPath, [cli, 'generate', '--schema', paths.schema(provider)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      process.stderr.write((error as { stderr?: Buffer }).stderr ?? '');
      throw error;
    }
  }
}

const [command, arg] = process.argv.slice(2);
try {
  if (command === 'migration') await migration(arg);
  else if (command === 'check') await check();
  else if (command === 'generate') generate();
  else throw new Error('usage: develop.ts migration NAME | check | generate');
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
