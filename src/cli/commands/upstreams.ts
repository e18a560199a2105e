import { invalidInput } from '../../errors.ts';
import { upstreamJson, type ClaimMapping, type ClientAuth, type PresetName, type UpstreamKind, type UpstreamPatch, type UpstreamView } from '../../upstreams/index.ts';
import { onePositional, parse, readStdinSecret, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';

const text = (u: UpstreamView) =>
  `${u.slug}  ${u.name}  ${u.kind}${u.preset ? ` (${u.preset})` : ''}  ${u.issuer ?? u.authorizationUrl ?? '-'}  client ${u.clientId}${u.jit ? '  jit' : ''}${u.enabled ? '' : '  (disabled)'}`;

const members = (list: readonly string[]) => list.join(',') || '-';

const details = (u: UpstreamView) =>
  [
    text(u),
    ...(u.kind === 'oauth2' ? [`authorization URL: ${u.authorizationUrl}`, `token URL: ${u.tokenUrl}`, `userinfo URL: ${u.userinfoUrl}`, `emails URL: ${u.emailsUrl ?? '-'}`] : []),
    `scope: ${u.scope}`,
    `mapping: subject=${members(u.mapping.subject)} email=${members(u.mapping.email)} email_verified=${members(u.mapping.emailVerified)} name=${members(u.mapping.name)}`,
    `creates accounts (jit): ${u.jit ? 'yes' : 'no'}`,
    `default roles: ${u.defaultRoles.join(' ') || '-'}`,
    `client authentication: ${u.clientAuth}${u.jwksUri ? ` (public key at ${u.jwksUri})` : ''}`,
    `redirect URI: ${u.redirectUri}`,
  ].join('\n');

/** The flags `create` and `update` share (`update` takes each as optional). */
const FIELDS = {
  name: { type: 'string' },
  kind: { type: 'string' },
  issuer: { type: 'string' },
  'authorization-url': { type: 'string' },
  'token-url': { type: 'string' },
  'userinfo-url': { type: 'string' },
  'emails-url': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-stdin': { type: 'boolean' },
  scope: { type: 'string', multiple: true },
  map: { type: 'string', multiple: true },
  'default-role': { type: 'string', multiple: true },
  jit: { type: 'boolean' },
  disabled: { type: 'boolean' },
} as const;

const CREATE_OPTIONS = { ...FIELDS, slug: { type: 'string' }, preset: { type: 'string' }, 'client-auth': { type: 'string' } } as const;
const UPDATE_OPTIONS = { ...FIELDS, enabled: { type: 'boolean' }, 'no-jit': { type: 'boolean' } } as const;

const SECRET_REQUIRED = '--client-secret-stdin is required: pipe the client secret on standard input (secrets are never taken as arguments), or give --client-auth private_key_jwt';
const NO_SECRET = 'an upstream with --client-auth private_key_jwt takes no client secret: Ostiary makes a key pair and publishes its public half';

/** `--map FIELD=MEMBER[,MEMBER...]`, repeatable: which upstream claims give each attribute. */
const MAP_FIELDS: Record<string, keyof ClaimMapping> = { subject: 'subject', email: 'email', email_verified: 'emailVerified', name: 'name' };

function mapping(values: string[] | undefined): Partial<ClaimMapping> | undefined {
  if (values === undefined) return undefined;
  const result: Partial<Record<keyof ClaimMapping, string[]>> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    const name = at < 0 ? '' : value.slice(0, at);
    if (!Object.hasOwn(MAP_FIELDS, name)) throw invalidInput(`--map takes FIELD=MEMBER[,MEMBER...] with FIELD one of ${Object.keys(MAP_FIELDS).join(', ')}, not ${JSON.stringify(value)}`);
    const field = MAP_FIELDS[name]!;
    if (result[field]) throw invalidInput(`--map ${name} is given twice`);
    result[field] = value.slice(at + 1).split(',').map((m) => m.trim()).filter(Boolean);
  }
  return result;
}

/** Repeated `--scope` values (each may hold several, space-separated) as one scope string. */
const scope = (values: string[] | undefined) => (values === undefined ? undefined : values.join(' '));

/** `--default-role R`, repeatable; `--default-role ''` alone gives none. */
const roles = (values: string[] | undefined) => values?.filter(Boolean);

/** What `create` and `update` both take from their flags. */
function fields(values: ReturnType<typeof parse<typeof FIELDS>>['values']) {
  return {
    name: values.name,
    // The service refuses a kind or preset it does not know, naming the ones it does.
    kind: values.kind as UpstreamKind | undefined,
    issuer: values.issuer,
    authorizationUrl: values['authorization-url'],
    tokenUrl: values['token-url'],
    userinfoUrl: values['userinfo-url'],
    emailsUrl: values['emails-url'],
    clientId: values['client-id'],
    scope: scope(values.scope),
    mapping: mapping(values.map),
    defaultRoles: roles(values['default-role']),
  };
}

const withoutUndefined = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;

/** `upstreams create|list|show|update|delete`: the identity providers people sign in through. */
export async function upstreamsCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  if (verb === 'create') {
    const { values } = parse(args, CREATE_OPTIONS);
    const slug = required(values.slug, '--slug');
    const name = required(values.name, '--name');
    const clientId = required(values['client-id'], '--client-id');
    // The service refuses a client authentication it does not know, naming the ones it does.
    const clientAuth = values['client-auth'] as ClientAuth | undefined;
    const withKey = clientAuth === 'private_key_jwt';
    if (withKey && values['client-secret-stdin']) throw invalidInput(NO_SECRET);
    if (!withKey && !values['client-secret-stdin']) throw invalidInput(SECRET_REQUIRED);
    const input = fields(values);
    const clientSecret = withKey ? undefined : await readStdinSecret('Client secret');
    const { upstreams } = await ctx.services();
    const upstream = await upstreams.create({
      ...withoutUndefined(input),
      slug,
      name,
      clientId,
      clientSecret,
      clientAuth,
      preset: values.preset as PresetName | undefined,
      jit: values.jit ?? false,
      enabled: !values.disabled,
    }, ctx.actor);
    return out.result(upstreamJson(upstream), () =>
      [
        `created upstream ${text(upstream)}`,
        `redirect URI: ${upstream.redirectUri}`,
        `Register this redirect URI at the upstream (as the redirect or callback URL of the client ${upstream.clientId}).`,
        ...(upstream.jwksUri ? [`jwks URI: ${upstream.jwksUri}`, 'Register this JWKS URI (or the key in `upstreams show --json`) as the client\'s keys for private_key_jwt.'] : []),
      ].join('\n'),
    );
  }
  if (verb === 'list') {
    parse(args, {});
    const { upstreams } = await ctx.services();
    const list = await upstreams.list();
    return out.result(list.map(upstreamJson), () => list.map(text).join('\n') || 'no upstreams');
  }
  if (verb === 'show') {
    const { positionals } = parse(args, {}, true);
    const { upstreams } = await ctx.services();
    const upstream = await upstreams.show(onePositional(positionals, 'upstream slug'));
    return out.result(upstreamJson(upstream), () => details(upstream));
  }
  if (verb === 'update') {
    const { values, positionals } = parse(args, UPDATE_OPTIONS, true);
    const slug = onePositional(positionals, 'upstream slug');
    if (values.enabled && values.disabled) throw invalidInput('give --enabled or --disabled, not both');
    if (values.jit && values['no-jit']) throw invalidInput('give --jit or --no-jit, not both');
    const patch: UpstreamPatch = withoutUndefined({
      ...fields(values),
      jit: values.jit ? true : values['no-jit'] ? false : undefined,
      enabled: values.enabled ? true : values.disabled ? false : undefined,
    });
    if (values['client-secret-stdin']) patch.clientSecret = await readStdinSecret('Client secret');
    if (Object.keys(patch).length === 0) throw invalidInput('nothing to change: give at least one option (see README.md, "CLI")');
    const { upstreams } = await ctx.services();
    const upstream = await upstreams.update(slug, patch, ctx.actor);
    return out.result(upstreamJson(upstream), () => `updated upstream ${text(upstream)}\nredirect URI: ${upstream.redirectUri}`);
  }
  if (verb === 'delete') {
    const { positionals } = parse(args, {}, true);
    const slug = onePositional(positionals, 'upstream slug');
    const { upstreams } = await ctx.services();
    const { unlinked } = await upstreams.delete(slug, ctx.actor);
    return out.result({ deleted: slug, unlinked }, () => `deleted upstream ${slug} (${unlinked} linked ${unlinked === 1 ? 'identity' : 'identities'} unlinked)`);
  }
  throw invalidInput('usage: ostiary upstreams create|list|show|update|delete');
}
