import { ConfigError, loadConfig } from '../config/index.ts';
import { CLI_ACTOR } from '../audit/index.ts';
import { invalidInput, OstiaryError } from '../errors.ts';
import { createServices, type Services } from '../services.ts';
import { apiKeysCommand } from './commands/api-keys.ts';
import { apisCommand } from './commands/apis.ts';
import { auditCommand } from './commands/audit.ts';
import { backupCommand, restoreCommand } from './commands/backup.ts';
import { clientsCommand } from './commands/clients.ts';
import { applyCommand, exportCommand } from './commands/config-file.ts';
import { checkCommand } from './commands/check.ts';
import { keysCommand, secretsCommand } from './commands/keys.ts';
import { mailCommand } from './commands/mail.ts';
import { rolesCommand } from './commands/roles.ts';
import { migrate } from './commands/migrate.ts';
import { serve } from './commands/serve.ts';
import { upstreamsCommand } from './commands/upstreams.ts';
import { usersCommand } from './commands/users.ts';
import type { CommandContext } from './context.ts';
import { cliMessage, exitCode } from './errors.ts';
import { createOutput, parse, type Output } from './io.ts';


const USAGE = `usage: ostiary <command> [options] [--json]

  serve [--workers N|auto]            start the server (WORKERS=N|auto too)
  migrate                             apply the database migrations
  apis create|list|delete             manage APIs (resource servers)
  clients create|list|show|rotate-secret|delete   manage clients
  clients block-metadata-document|unblock-metadata-document URL   stop or allow a client ID metadata document (list them: clients list --metadata-documents)
  clients registration-token create|list|revoke   initial access tokens for dynamic client registration
  users create|list|set-password|disable|grants|revoke-grants|check-emails|mfa list|mfa reset   manage users, their grants and second factors
  roles create|list|delete|grant|revoke                 manage roles and permissions
  upstreams create|list|show|update|delete   manage upstream identity providers people sign in through
  keys list|rotate|revoke KID --yes   manage signing keys
  secrets rewrap                      re-encrypt secrets under the first KEY_ENCRYPTION_KEY
  audit [--since 1h] [--type T]       read the audit trail
  api-keys create|list|revoke|rotate  manage admin API keys
  backup --out FILE [--include-sessions] [--force]   write a backup of the database
  restore --in FILE [--replace]       restore a backup into this database
  check [ISSUER]                      check a deployment: this one's configuration and database, or an issuer URL over HTTP
  apply -f FILE [--dry-run] [--prune] apply a configuration file (APIs, roles, clients, API keys)
  export -o FILE                      write the current configuration as a file
  mail test --to ADDRESS              send a test mail now and print the mail server's answer

See README.md for every option.`;


type NounCommand = (verb: string | undefined, args: string[], ctx: CommandContext, out: Output) => Promise<void>;
const NOUNS: Record<string, NounCommand> = {
  apis: apisCommand,
  clients: clientsCommand,
  users: usersCommand,
  roles: rolesCommand,
  upstreams: upstreamsCommand,
  keys: keysCommand,
  secrets: secretsCommand,
  audit: auditCommand,
  'api-keys': apiKeysCommand,
  backup: backupCommand,
  restore: restoreCommand,
  apply: applyCommand,
  export: exportCommand,
  mail: mailCommand,
};
/** Nouns that take options only, no verb. */
const OPTIONS_ONLY = new Set(['audit', 'backup', 'restore', 'apply', 'export']);

export { HEAP_FLAGS } from './commands/serve.ts';

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = createOutput(rest.includes('--json'));
  let services: Services | undefined;
  try {
    if (!command || command === '--help' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command ? 0 : 2;
    }
    // From outside, only the issuer URL: this machine's configuration plays no part.
    if (command === 'check' && rest.some((a) => !a.startsWith('-'))) return (await checkCommand(rest, undefined, out)) ? 0 : 1;
    const config = loadConfig();
    if (command === 'serve') {
      const { values } = parse(rest, { workers: { type: 'string' } });
      return await serve(config, values.workers).then(() => 0);
    }
    if (command === 'migrate') return await migrate(config, out).then(() => 0);
    const noun = Object.hasOwn(NOUNS, command) ? NOUNS[command] : undefined;
    if (!noun && command !== 'check') throw invalidInput(`unknown command ${command}\n${USAGE}`);
    const ctx: CommandContext = {
      config,
      actor: CLI_ACTOR,
      // `check` looks at the database as it is, so it applies no migration.
      services: async () => (services ??= await createServices(config, { info: out.log, warn: (m) => out.log(`warning: ${m}`) }, { migrate: command !== 'check' })),
    };
    if (command === 'check') return (await checkCommand(rest, ctx, out)) ? 0 : 1;
    if (OPTIONS_ONLY.has(command)) await noun!(undefined, rest, ctx, out);
    else await noun!(rest[0], rest.slice(1), ctx, out);
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
