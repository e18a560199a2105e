import { apiKeyJson, type ApiKeyView } from '../../api-keys/index.ts';
import { invalidInput } from '../../errors.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const UNITS: Record<string, number> = { m: 60, h: 3_600, d: 86_400 };
const text = (k: ApiKeyView) =>
  `${k.id}  ${k.name}  ${k.scopes.join(' ')}  expires ${k.expiresAt?.toISOString() ?? 'never'}${k.revokedAt ? '  REVOKED' : ''}  last used ${k.lastUsedAt?.toISOString() ?? 'never'}`;

/** `90d`, `12h`, `30m`. */
export function duration(value: string): number {
  const match = value.match(/^(\d+)([mhd])$/);
  if (!match) throw invalidInput(`--expires-in takes 30m, 12h or 90d, not ${value}`);
  return Number(match[1]) * UNITS[match[2]!]!;
}

export async function apiKeysCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { apiKeys } = await ctx.services();
  if (verb === 'create') {
    const { values } = parse(args, { name: { type: 'string' }, scope: { type: 'string', multiple: true }, 'expires-in': { type: 'string' }, 'allow-ip': { type: 'string', multiple: true } });
    const { key, apiKey } = await apiKeys.create({
      name: required(values.name, '--name'),
      scopes: (values.scope ?? []).flatMap((s) => s.split(' ')).filter(Boolean),
      expiresAt: values['expires-in'] ? new Date(Date.now() + duration(values['expires-in']) * 1000) : null,
      allowedIps: values['allow-ip'],
    }, ctx.actor);
    return out.result({ ...apiKeyJson(key), api_key: apiKey }, () => `created API key ${text(key)}\napi_key: ${apiKey}\nThe key is shown only now: store it safely.`);
  }
  if (verb === 'list') {
    parse(args, {});
    const keys = await apiKeys.list();
    return out.result(keys.map(apiKeyJson), () => keys.map(text).join('\n') || 'no API keys');
  }
  if (verb === 'revoke') {
    const { positionals } = parse(args, {}, true);
    const key = await apiKeys.revoke(onePositional(positionals, 'API key id'), ctx.actor);
    return out.result(apiKeyJson(key), () => `revoked API key ${key.id}`);
  }
  if (verb === 'rotate') {
    const { positionals } = parse(args, {}, true);
    const id = onePositional(positionals, 'API key id');
    const { key, apiKey } = await apiKeys.rotate(id, ctx.config.apiKeyRotationGrace, ctx.actor);
    return out.result({ ...apiKeyJson(key), api_key: apiKey, replaces: id }, () => `rotated ${id}: the old key works for ${ctx.config.apiKeyRotationGrace} s more\napi_key: ${apiKey}`);
  }
  throw invalidInput('usage: ostiary api-keys create|list|revoke|rotate');
}
