import { writeFile } from 'node:fs/promises';
import type { PlannedChange } from '../../config-file/index.ts';
import { loadConfigFile } from '../../config-file/index.ts';
import { invalidInput } from '../../errors.ts';
import { parse, required, type Output } from '../io.ts';
import { progressBar } from '../progress.ts';
import type { CommandContext } from '../context.ts';

const SIGN = { create: '+', update: '~', delete: '-' } as const;
const planLine = (c: PlannedChange) => `  ${SIGN[c.action]} ${c.kind.replace('_', ' ')} ${c.id}${c.fields ? ` (${c.fields.join(', ')})` : ''}`;
const planJson = (c: PlannedChange) => ({ kind: c.kind, action: c.action, id: c.id, ...(c.fields ? { fields: c.fields } : {}) });

export async function applyCommand(_verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { values, positionals } = parse(args, { file: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' }, prune: { type: 'boolean' } }, true);
  if (positionals.length) throw invalidInput('apply takes the file as -f FILE');
  const loaded = loadConfigFile(required(values.file, '-f'));
  const { configFiles } = await ctx.services();
  const dryRun = values['dry-run'] ?? false;
  const bar = progressBar(out, 'applying');
  const result = await configFiles
    .apply(loaded, { prune: values.prune ?? false, dryRun, onProgress: bar.update }, ctx.actor)
    .finally(() => bar.stop());
  const { changes, issued } = result;
  return out.result(
    {
      dry_run: dryRun,
      applied: result.applied,
      changes: changes.map(planJson),
      client_secrets: issued.clientSecrets.map((s) => ({ client_id: s.clientId, client_secret: s.clientSecret })),
      api_keys: issued.apiKeys.map((k) => ({ name: k.name, id: k.id, api_key: k.apiKey })),
    },
    () => {
      if (changes.length === 0) return 'nothing to do: the database matches the file';
      const lines = [`${dryRun ? 'would change' : 'changed'} ${changes.length} object${changes.length === 1 ? '' : 's'}:`, ...changes.map(planLine)];
      for (const s of issued.clientSecrets) lines.push(`client_secret for ${s.clientId}: ${s.clientSecret}`);
      for (const k of issued.apiKeys) lines.push(`api_key ${k.name} (${k.id}): ${k.apiKey}`);
      if (issued.clientSecrets.length || issued.apiKeys.length) lines.push('These secrets are shown only now: store them safely.');
      if (dryRun) lines.push('dry run: nothing was changed');
      return lines.join('\n');
    },
  );
}

export async function exportCommand(_verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { values, positionals } = parse(args, { out: { type: 'string', short: 'o' } }, true);
  if (positionals.length) throw invalidInput('export takes the file as -o FILE');
  const file = required(values.out, '-o');
  const { configFiles } = await ctx.services();
  const text = await configFiles.export();
  await writeFile(file, text, { mode: 0o600 });
  return out.result({ file }, () => `wrote ${file}`);
}
