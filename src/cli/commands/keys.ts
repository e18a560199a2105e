import { signingKeyJson } from '../../keys/index.ts';
import { invalidInput } from '../../errors.ts';
import type { SigningKeySummary } from '../../keys/index.ts';
import { onePositional, parse, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';
import { progressBar } from '../progress.ts';


const when = (date: Date | null) => date?.toISOString() ?? '-';
const text = (k: SigningKeySummary) =>
  `${k.state.padEnd(8)} ${k.kid}  ${k.alg}  created ${when(k.createdAt)}  activates ${when(k.activatedAt ?? k.activatesAt)}  ` +
  `retires ${when(k.retiredAt ?? k.retiresAt)}${k.revokedAt ? '  REVOKED' : ''}\n         sha256 ${k.fingerprint}`;

const RELOAD_NOTE = 'Running servers switch within KEY_RELOAD_SECONDS.';

export async function keysCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  const { signingKeys } = await ctx.services();
  if (verb === 'list') {
    parse(args, {});
    const keys = await signingKeys.list();
    return out.result(keys.map(signingKeyJson), () => keys.map(text).join('\n') || 'no signing keys (the server makes one on start)');
  }
  if (verb === 'rotate') {
    parse(args, {});
    await signingKeys.ensureCurrent();
    const result = await signingKeys.rotate(ctx.actor);
    return out.result(result, () =>
      result.rotated ? `now signing with ${result.current}; ${result.retired ?? 'no key'} retired. ${RELOAD_NOTE}` : `another rotation won; signing with ${result.current}`,
    );
  }
  if (verb === 'revoke') {
    const { values, positionals } = parse(args, { yes: { type: 'boolean' } }, true);
    const kid = onePositional(positionals, 'key id (kid)');
    if (!values.yes) {
      throw invalidInput(`revoking ${kid} removes it from the JWKS now: every token it signed stops verifying and its grants are revoked. Add --yes to proceed`);
    }
    const result = await signingKeys.revoke(kid, ctx.actor);
    return out.result({ revoked: result.kid, revoked_grants: result.revokedGrants, current: result.current }, () =>
      `revoked ${result.kid}; ${result.revokedGrants} grants revoked; signing with ${result.current}. ${RELOAD_NOTE}`,
    );
  }
  throw invalidInput('usage: ostiary keys list|rotate|revoke KID --yes');
}

export async function secretsCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  if (verb !== 'rewrap') throw invalidInput('usage: ostiary secrets rewrap');
  parse(args, {});
  const { signingKeys, mfa, upstreams } = await ctx.services();
  const bar = progressBar(out, 're-encrypting');
  const keys = await signingKeys.rewrap(bar.update).finally(() => bar.stop());
  // Authenticator app secrets and upstream providers' client secrets are sealed under the same keys.
  const rewrapped = keys + (await mfa.rewrap()) + (await upstreams.rewrap());
  return out.result({ rewrapped }, () => `re-encrypted ${rewrapped} secrets under the first KEY_ENCRYPTION_KEY`);
}
