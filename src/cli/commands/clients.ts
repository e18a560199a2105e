import { readFile } from 'node:fs/promises';
import { clientJson, metadataDocumentJson, registrationTokenJson, type RegistrationTokenView } from '../../clients/index.ts';
import type { ClientView, MetadataDocumentView } from '../../clients/index.ts';
import { invalidInput } from '../../errors.ts';
import { onePositional, parse, required, type Output } from '../io.ts';
import type { CommandContext } from '../context.ts';
import { duration } from './api-keys.ts';

const text = (c: ClientView) =>
  `${c.clientId}  ${c.name}  grants: ${c.grantTypes.join(',')}  auth: ${c.tokenEndpointAuthMethod}  scope: ${c.scope || '-'}${c.registeredAt ? '  (registered itself)' : ''}`;

const tokenText = (t: RegistrationTokenView) =>
  `${t.id}  max clients ${t.maxClients ?? 'unlimited'}  expires ${t.expiresAt?.toISOString() ?? 'never'}${t.revokedAt ? '  REVOKED' : ''}  last used ${t.lastUsedAt?.toISOString() ?? 'never'}`;

/** `clients registration-token create|list|revoke`: initial access tokens for dynamic client registration. */
async function registrationTokenCommand(args: string[], ctx: CommandContext, out: Output) {
  const { registrationTokens } = await ctx.services();
  const [verb, ...rest] = args;
  if (verb === 'create') {
    const { values } = parse(rest, { 'max-clients': { type: 'string' }, 'expires-in': { type: 'string' } });
    const max = values['max-clients'];
    if (max !== undefined && !/^\d+$/.test(max)) throw invalidInput('--max-clients takes a whole number');
    const { registrationToken, token } = await registrationTokens.create({
      maxClients: max === undefined ? undefined : Number(max),
      expiresAt: values['expires-in'] ? new Date(Date.now() + duration(values['expires-in']) * 1000) : null,
    }, ctx.actor);
    return out.result({ ...registrationTokenJson(registrationToken), token }, () => `created registration token ${tokenText(registrationToken)}\ntoken: ${token}\nThe token is shown only now: hand it to whoever registers clients.`);
  }
  if (verb === 'list') {
    parse(rest, {});
    const tokens = await registrationTokens.list();
    return out.result(tokens.map(registrationTokenJson), () => tokens.map(tokenText).join('\n') || 'no registration tokens');
  }
  if (verb === 'revoke') {
    const { positionals } = parse(rest, {}, true);
    const revoked = await registrationTokens.revoke(onePositional(positionals, 'registration token id'), ctx.actor);
    return out.result(registrationTokenJson(revoked), () => `revoked registration token ${revoked.id} (the clients it registered stay)`);
  }
  throw invalidInput('usage: ostiary clients registration-token create|list|revoke');
}

const CREATE_OPTIONS = {
  name: { type: 'string' },
  grant: { type: 'string', multiple: true },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true },
  public: { type: 'boolean' },
  'first-party': { type: 'boolean' },
  'require-mfa': { type: 'boolean' },
  upstream: { type: 'string', multiple: true },
  'no-password-sign-in': { type: 'boolean' },
  'backchannel-logout-uri': { type: 'string' },
  'assertion-issuer': { type: 'string' },
  'assertion-jwks-uri': { type: 'string' },
  'assertion-jwks-file': { type: 'string' },
  role: { type: 'string', multiple: true },
  introspect: { type: 'string', multiple: true },
  'access-token-ttl': { type: 'string' },
  'id-token-ttl': { type: 'string' },
  'refresh-token-ttl': { type: 'string' },
} as const;

const documentText = (d: MetadataDocumentView) =>
  `${d.url}  ${d.clientName ?? '-'}  ${d.blockedAt ? 'blocked' : d.expiresAt ? `cached until ${d.expiresAt.toISOString()}` : 'not cached'}${d.lastError ? `  last error: ${d.lastError}` : ''}`;

/** `clients list --metadata-documents` and blocking: the client ID metadata documents on record. */
async function metadataDocumentsCommand(verb: string, args: string[], ctx: CommandContext, out: Output) {
  const { metadataDocuments } = await ctx.services();
  if (verb === 'list') {
    const list = await metadataDocuments.list();
    return out.result(list.map(metadataDocumentJson), () => list.map(documentText).join('\n') || 'no client ID metadata documents');
  }
  const { positionals } = parse(args, {}, true);
  const url = onePositional(positionals, 'document URL');
  const document = verb === 'block' ? await metadataDocuments.block(url, ctx.actor) : await metadataDocuments.unblock(url, ctx.actor);
  return out.result(metadataDocumentJson(document), () => `${verb}ed ${document.url}${verb === 'block' ? ' (its grants are revoked)' : ''}`);
}

/** A whole number of seconds, or undefined when the flag is absent. */
function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw invalidInput(`${flag} takes a whole number of seconds`);
  return Number(value);
}

/** The text of the file a flag names, or undefined when the flag is absent. */
async function fileText(path: string | undefined, flag: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw invalidInput(`${flag}: cannot read ${path}`);
  }
}

export async function clientsCommand(verb: string | undefined, args: string[], ctx: CommandContext, out: Output) {
  if (verb === 'registration-token') return registrationTokenCommand(args, ctx, out);
  const { clients } = await ctx.services();
  if (verb === 'create') {
    const { values } = parse(args, CREATE_OPTIONS);
    const { client, clientSecret } = await clients.create({
      name: required(values.name, '--name'),
      grantTypes: values.grant ?? [],
      redirectUris: values['redirect-uri'],
      postLogoutRedirectUris: values['post-logout-redirect-uri'],
      scopes: values.scope,
      public: values.public,
      firstParty: values['first-party'],
      requireMfa: values['require-mfa'],
      upstreams: values.upstream,
      passwordSignIn: values['no-password-sign-in'] ? false : undefined,
      backchannelLogoutUri: values['backchannel-logout-uri'],
      assertionIssuer: values['assertion-issuer'],
      assertionJwksUri: values['assertion-jwks-uri'],
      assertionJwks: await fileText(values['assertion-jwks-file'], '--assertion-jwks-file'),
      roles: values.role,
      introspectionAudiences: values.introspect,
      accessTokenTtl: seconds(values['access-token-ttl'], '--access-token-ttl'),
      idTokenTtl: seconds(values['id-token-ttl'], '--id-token-ttl'),
      refreshTokenTtl: seconds(values['refresh-token-ttl'], '--refresh-token-ttl'),
    }, ctx.actor);
    return out.result({ ...clientJson(client), ...(clientSecret ? { client_secret: clientSecret } : {}) }, () =>
      [`created client ${text(client)}`, `client_id:     ${client.clientId}`, ...(clientSecret ? [`client_secret: ${clientSecret}`, 'The secret is shown only now: store it safely.'] : [])].join('\n'),
    );
  }
  if (verb === 'list') {
    const { values } = parse(args, { 'metadata-documents': { type: 'boolean' } });
    if (values['metadata-documents']) return metadataDocumentsCommand('list', [], ctx, out);
    const list = await clients.list();
    return out.result(list.map(clientJson), () => list.map(text).join('\n') || 'no clients');
  }
  if (verb === 'show') {
    const { positionals } = parse(args, {}, true);
    const client = await clients.show(onePositional(positionals, 'client id'));
    return out.result(clientJson(client), () => `${text(client)}\nredirect URIs: ${client.redirectUris.join(' ') || '-'}\nfirst party: ${client.firstParty}\nregistered itself: ${client.registeredAt?.toISOString() ?? 'no'}`);
  }
  if (verb === 'rotate-secret') {
    const { positionals } = parse(args, {}, true);
    const { client, clientSecret } = await clients.rotateSecret(onePositional(positionals, 'client id'), ctx.actor);
    return out.result({ ...clientJson(client), client_secret: clientSecret }, () => `new secret for ${client.clientId} (the old one no longer works):
client_secret: ${clientSecret}`);
  }
  if (verb === 'delete') {
    const { positionals } = parse(args, {}, true);
    const id = onePositional(positionals, 'client id');
    await clients.delete(id, ctx.actor);
    return out.result({ deleted: id }, () => `deleted client ${id} and its grants`);
  }
  if (verb === 'block-metadata-document') return metadataDocumentsCommand('block', args, ctx, out);
  if (verb === 'unblock-metadata-document') return metadataDocumentsCommand('unblock', args, ctx, out);
  throw invalidInput('usage: ostiary clients create|list|show|rotate-secret|delete|registration-token|block-metadata-document|unblock-metadata-document');
}
