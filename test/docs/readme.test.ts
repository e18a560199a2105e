import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from '../../src/audit/index.ts';
import { HEAP_FLAGS } from '../../src/cli/commands/serve.ts';
import { ENV_VARIABLES } from '../../src/config/index.ts';
import { ERROR_CODES } from '../../src/errors.ts';

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');
const readme = await read('README.md');

describe('the README matches the code', () => {
  it.each(ENV_VARIABLES)('documents the variable %s in the configuration table', (name) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  it('documents every audit event type', () => {
    for (const type of AUDIT_EVENTS) expect(readme).toContain(`\`${type}\``);
  });

  it('documents every configuration variable it names and no other', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...ENV_VARIABLES].sort());
  });

  it('starts the server with the same heap flags in npm start, the Docker image and the README', async () => {
    const start = (JSON.parse(await read('package.json')) as { scripts: { start: string } }).scripts.start;
    expect(start).toBe(`node ${HEAP_FLAGS.join(' ')} src/main.ts serve`);
    expect(await read('Dockerfile')).toContain(`CMD ${JSON.stringify(['node', ...HEAP_FLAGS, 'src/main.ts', 'serve']).replaceAll(',', ', ')}`);
    for (const flag of HEAP_FLAGS) expect(readme).toContain(flag);
  });

  it('lists every error code with its status, and no other', () => {
    const listed = [...readme.matchAll(/^\| `([a-z_]+\.[a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(listed).toEqual(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]));
  });
});
