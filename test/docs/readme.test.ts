import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from '../../src/audit/index.ts';
import { ENV_VARIABLES } from '../../src/config/index.ts';

const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');

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
});
