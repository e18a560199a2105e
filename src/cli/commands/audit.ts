import { auditEventJson } from '../../audit/index.ts';
import { invalidInput } from '../../errors.ts';
import { parse, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1h`, `30m`, `7d`, or an ISO date. */
function since(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const relative = value.match(/^(\d+)([smhd])$/);
  if (relative) return new Date(Date.now() - Number(relative[1]) * UNITS[relative[2]!]!);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw invalidInput(`--since takes 30m, 1h, 7d or a date, not ${value}`);
  return date;
}

export async function auditCommand(_verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { values } = parse(args, { since: { type: 'string' }, type: { type: 'string' }, limit: { type: 'string' } });
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalidInput('--limit takes a whole number from 1 to 10000');
  const { audit } = await ctx.services();
  const events = await audit.list({ type: values.type, since: since(values.since), limit });
  const json = events.map(auditEventJson);
  return out.result(json, () =>
    events.map((e) => `${e.at.toISOString()}  ${e.type.padEnd(30)} ${e.outcome.padEnd(7)} ${e.subject ?? '-'}  ${e.clientId ?? '-'}  ${e.ip ?? '-'}`).join('\n') || 'no events',
  );
}
