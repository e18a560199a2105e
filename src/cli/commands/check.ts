import { checkFromOutside, type CheckItem } from '../../check/index.ts';
import { invalidInput } from '../../errors.ts';
import { parse, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const MARK = { pass: 'pass', warn: 'WARN', fail: 'FAIL' } as const;
const line = (i: CheckItem) => `[${MARK[i.status]}] ${i.check.padEnd(20)} ${i.detail}\n       ${' '.repeat(20)} ${i.advice}`;

/** `ostiary check [ISSUER]`: prints the checklist; returns whether nothing failed. */
export async function checkCommand(args: string[], ctx: CommandContext | undefined, out: Output): Promise<boolean> {
  const { positionals } = parse(args, {}, true);
  if (positionals.length > 1) throw invalidInput('usage: ostiary check [ISSUER] [--json]');
  let items: CheckItem[];
  if (positionals[0]) items = await checkFromOutside(positionals[0]);
  else {
    if (!ctx) throw invalidInput('ostiary check without ISSUER needs the configuration');
    items = await (await ctx.services()).checks.inside();
  }
  const failed = items.filter((i) => i.status === 'fail').length;
  const warned = items.filter((i) => i.status === 'warn').length;
  out.result(items, () => [...items.map(line), `${items.length - failed - warned} passed, ${warned} warnings, ${failed} failed`].join('\n'));
  return failed === 0;
}
