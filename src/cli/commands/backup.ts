import type { Counts, Header } from '../../backup/index.ts';
import { invalidInput } from '../../errors.ts';
import { parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';
import { progressBar } from '../progress.ts';

const countLines = (counts: Counts) =>
  Object.entries(counts)
    .map(([table, count]) => `  ${table.padEnd(15)} ${count}`)
    .join('\n');

const headerJson = (file: string, h: Header) => ({
  file,
  format: h.format,
  version: h.version,
  migration: h.migration,
  provider: h.provider,
  created_at: h.createdAt,
  sessions: h.sessions,
  checksum: h.checksum,
  counts: h.counts,
});

export async function backupCommand(_verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { values } = parse(args, { out: { type: 'string' }, 'include-sessions': { type: 'boolean' }, force: { type: 'boolean' } });
  const file = required(values.out, '--out');
  const { backups } = await ctx.services();
  const bar = progressBar(out, 'backing up');
  const header = await backups
    .write(file, { includeSessions: values['include-sessions'] ?? false, force: values.force ?? false, onProgress: bar.update })
    .finally(() => bar.stop());
  return out.result(headerJson(file, header), () => `wrote ${file} (migration ${header.migration}${header.sessions ? ', with sessions' : ''}):\n${countLines(header.counts)}`);
}

export async function restoreCommand(_verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { values, positionals } = parse(args, { in: { type: 'string' }, replace: { type: 'boolean' } }, true);
  if (positionals.length) throw invalidInput('restore takes the file as --in FILE');
  const file = required(values.in, '--in');
  const { backups } = await ctx.services();
  const bar = progressBar(out, 'restoring');
  const result = await backups.restore(file, { replace: values.replace ?? false, onProgress: bar.update }, ctx.actor).finally(() => bar.stop());
  return out.result({ ...headerJson(file, result), replaced: result.replaced }, () =>
    `restored ${file} (made ${result.createdAt} on ${result.provider}${result.replaced ? '; the previous rows were deleted' : ''}):\n${countLines(result.counts)}`,
  );
}
