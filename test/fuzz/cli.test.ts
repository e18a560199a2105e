import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { fuzzParameters, nastyString } from './support.ts';

/**
 * Verbs per noun. Left out: what reads a password from standard input (users create and
 * set-password), starts a server or touches files (serve, backup, restore), and re-encrypts
 * or replaces signing keys (secrets, keys rotate and revoke).
 */
const VERBS: Record<string, string[]> = {
  clients: ['create', 'list', 'show', 'delete', 'rotate-secret'],
  apis: ['create', 'list', 'delete'],
  roles: ['create', 'list', 'delete', 'grant', 'revoke'],
  users: ['list', 'disable', 'enable', 'grants', 'revoke-grants', 'check-emails'],
  'api-keys': ['create', 'list', 'revoke', 'rotate'],
  keys: ['list'],
  audit: [],
};
const FLAGS = ['--name', '--grant', '--scope', '--redirect-uri', '--post-logout-redirect-uri', '--introspect', '--role', '--public', '--first-party', '--access-token-ttl', '--id-token-ttl', '--refresh-token-ttl', '--audience', '--permission', '--user', '--client', '--email', '--fix', '--allow-ip', '--expires-in', '--since', '--type', '--limit', '--yes', '--json', '--help', '--', '-', '--name=', '-x'];
const VALUES = ['client_credentials', 'authorization_code', 'refresh_token', 'https://app.example.com/cb', 'https://billing.example.com', 'invoices:read', 'admin', '0', '-1', '60', '1h', '10.0.0.0/8', 'ada@example.com'];
// Commands that start a server, write files or need a key-encryption key are left to their own tests.
const UNSAFE = new Set(['serve', 'backup', 'restore', 'secrets']);
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

const noun = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.keys(VERBS)) },
  { weight: 1, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
  { weight: 1, arbitrary: nastyString.filter((word) => !UNSAFE.has(word)) },
);
const argv = noun.chain((command) =>
  fc
    .tuple(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...(Object.hasOwn(VERBS, command) && VERBS[command]!.length ? VERBS[command]! : ['--json'])) }, { weight: 1, arbitrary: nastyString }),
      fc.array(fc.oneof(fc.constantFrom(...FLAGS), fc.constantFrom(...VALUES), nastyString), { maxLength: 8 }),
    )
    .map(([verb, rest]) => [command, verb, ...rest].filter((word) => !(command === 'users' && (word === 'create' || word === 'set-password')))),
);

describe('CLI arguments', () => {
  let database: TestDatabase;
  const saved = { ...process.env };

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    Object.assign(process.env, { DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    process.env = saved;
    await database?.drop();
  });

  /** Runs the CLI in this process, keeping what it writes instead of printing it. */
  async function run(args: string[]) {
    const written = { stdout: '', stderr: '' };
    const original = { stdout: process.stdout.write, stderr: process.stderr.write };
    process.stdout.write = ((chunk: string) => ((written.stdout += chunk), true)) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => ((written.stderr += chunk), true)) as typeof process.stderr.write;
    try {
      return { code: await runCli(args), ...written };
    } finally {
      Object.assign(process.stdout, { write: original.stdout });
      Object.assign(process.stderr, { write: original.stderr });
    }
  }

  it('any arguments exit 0, 2, 3, 4 or 5 with a message, never a crash or a stack', async () => {
    await fc.assert(
      fc.asyncProperty(argv, async (args) => {
        const { code, stdout, stderr } = await run(args);
        expect([0, 2, 3, 4, 5], stderr.slice(0, 2000)).toContain(code);
        // The usage text for no command at all goes to stdout, so the message may be on either.
        if (code !== 0) expect(`${stdout}${stderr}`.trim()).not.toBe('');
        expect(`${stdout}\n${stderr}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
        if (code === 0 && args.includes('--json') && !args.includes('--help')) expect(() => JSON.parse(stdout)).not.toThrow();
      }),
      fuzzParameters(100),
    );
  });
});
