import type { Actor } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import type { Services } from '../services.ts';

export interface CommandContext {
  config: Config;
  /** Opens the database (migrated) and the services on first use. */
  services(): Promise<Services>;
  /** Who the services record the command's changes as made by. */
  actor: Actor;
}
