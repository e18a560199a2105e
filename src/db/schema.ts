import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const PROVIDERS = ['sqlite', 'postgresql'] as const;
export type DatabaseProvider = (typeof PROVIDERS)[number];

const prismaDir = fileURLToPath(new URL('../../prisma/', import.meta.url));

export const paths = {
  models: `${prismaDir}models.prisma`,
  schema: (provider: DatabaseProvider) => `${prismaDir}${provider}/schema.prisma`,
  migrations: (provider: DatabaseProvider) => `${prismaDir}migrations/${provider}`,
};

function header(provider: DatabaseProvider): string {
  return `// Generated from prisma/models.prisma by \`npm run db:schema\`. Do not edit.

generator client {
  provider            = "prisma-client"
  output              = "../../src/db/generated/${provider}"
  moduleFormat        = "esm"
  importFileExtension = "ts"
}

datasource db {
  provider = "${provider}"
}
`;
}

/** The provider-specific schema, derived from the single models file. */
export async function buildSchema(provider: DatabaseProvider): Promise<string> {
  const models = await readFile(paths.models, 'utf8');
  return `${header(provider)}\n${models}`;
}
