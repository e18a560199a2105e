import { PrismaLibSql } from '@prisma/adapter-libsql';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { DatabaseProvider } from './schema.ts';

export interface DatabaseTarget {
  provider: DatabaseProvider;
  url: string;
}

/** `file:` URLs are the embedded SQLite database; `postgres(ql)://` URLs are PostgreSQL. */
export function databaseTarget(url: string): DatabaseTarget {
  if (url.startsWith('file:')) return { provider: 'sqlite', url };
  if (/^postgres(ql)?:\/\//.test(url)) return { provider: 'postgresql', url };
  throw new Error('DATABASE_URL must start with file: (SQLite) or postgres:// / postgresql:// (PostgreSQL)');
}

export function adapterFactory(target: DatabaseTarget): SqlMigrationAwareDriverAdapterFactory {
  return target.provider === 'sqlite'
    ? new PrismaLibSql({ url: target.url })
    : new PrismaPg({ connectionString: target.url });
}

/** The URL with any password removed, for banners and logs. */
export function redactedUrl(url: string): string {
  if (url.startsWith('file:')) return url;
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
