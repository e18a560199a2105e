import type { Config } from '../../config/index.ts';
import { databaseTarget, redactedUrl } from '../../db/index.ts';
import { openDatabase } from '../../db/index.ts';
import type { Output } from '../io.ts';

/** Applies the committed migrations for the configured database (creating a SQLite file). */
export async function migrate(config: Config, out: Output): Promise<void> {
  const target = databaseTarget(config.databaseUrl);
  const handle = await openDatabase(config.databaseUrl, { migrate: true, dataDir: config.dataDir });
  await handle.close();
  out.result({ database: target.provider, applied: handle.applied }, () =>
    handle.applied.length
      ? `applied to ${redactedUrl(config.databaseUrl)}:\n  ${handle.applied.join('\n  ')}`
      : `${redactedUrl(config.databaseUrl)} is up to date`,
  );
}
