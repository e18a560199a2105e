import { ConfigError, loadConfig } from '../config/index.ts';
import { CLI_ACTOR } from '../audit/index.ts';
import { invalidInput, OstiaryError } from '../errors.ts';
import { createServices, type Services } from '../services.ts';
import { apiKeysCommand } from './commands/api-keys.ts';
import { apisCommand } from './commands/apis.ts';
import { auditCommand } from './commands/audit.ts';
import { backupCommand, restoreCommand } from './commands/backup.ts';
import { clientsCommand } from './commands/clients.ts';
import { keysCommand, secretsCommand } from './commands/keys.ts';
import { rolesCommand } from './commands/roles.ts';
import { migrate } from './commands/migrate.ts';
import { serve } from './commands/serve.ts';
import { usersCommand } from './commands/users.ts';
import type { CommandContext } from './context.ts';
import { cliMessage, exitCode } from './errors.ts';
import { createOutput, parse, type Output } from './io.ts';


const USAGE = `usage: ostiary <command> [options] [--json]

  serve [--workers N|auto]            start the server (WORKERS=N|auto too)
  migrate                             apply the database migrations
  apis create|list|delete             manage APIs (resource servers)
  clients create|list|show|rotate-secret|delete   manage clients
  users create|list|set-password|disable|grants|revoke-grants|check-emails   manage users and their grants
  roles create|list|delete|grant|revoke                 manage roles and permissions
  keys list|rotate|revoke KID --yes   manage signing keys
  secrets rewrap                      re-encrypt secrets under the first KEY_ENCRYPTION_KEY
  audit [--since 1h] [--type T]       read the audit trail
  api-keys create|list|revoke|rotate  manage admin API keys
  backup --out FILE [--include-sessions] [--force]   write a backup of the database
  restore --in FILE [--replace]       restore a backup into this database

See README.md for every option.`;


type NounCommand = (verb: string | undefined, args: string[], ctx: CommandContext, out: Output) => Promise<void>;
const NOUNS: Record<string, NounCommand> = {
  apis: apisCommand,
  clients: clientsCommand,
  users: usersCommand,
  roles: rolesCommand,
  keys: keysCommand,
  secrets: secretsCommand,
  audit: auditCommand,
  'api-keys': apiKeysCommand,
  backup: backupCommand,
  restore: restoreCommand,
};
/** Nouns that take options only, no verb. */
const OPTIONS_ONLY = new Set(['audit', 'backup', 'restore']);

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = createOutput(rest.includes('--json'));
  let services: Services | undefined;
  try {
    if (!command || command === '--help' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command ? 0 : 2;
    }
    const config = loadConfig();
    if (command === 'serve') {
      const { values } = parse(rest, { workers: { type: 'string' } });
      return await serve(config, values.workers).then(() => 0);
    }
    if (command === 'migrate') return await migrate(config, out).then(() => 0);
    const noun = Object.hasOwn(NOUNS, command) ? NOUNS[command] : undefined;
    if (!noun) throw invalidInput(`unknown command ${command}\n${USAGE}`);
    const ctx: CommandContext = {
      config,
      actor: CLI_ACTOR,
      services: async () => (services ??= await createServices(config, { info: out.log, warn: (m) => out.log(`warning: ${m}`) }, { migrate: true })),
    };
    if (OPTIONS_ONLY.has(command)) await noun(undefined, rest, ctx, out);
    else await noun(rest[0], rest.slice(1), ctx, out);
    return 0;
  } catch (error) {
    if (error instanceof OstiaryError) {
      out.log(`error: ${cliMessage(error)}`);
      return exitCode(error);
    }
    if (error instanceof ConfigError) {
      out.log(`configuration error: ${error.message}`);
      return 2;
    }
    out.log(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    await services?.close();
  }
}
