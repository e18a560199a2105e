import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Document, isCollection, isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import type { ApiKeys } from '../api-keys/index.ts';
import type { Apis } from '../apis/index.ts';
import type { Actor, Audit } from '../audit/index.ts';
import { impliedScopes, type ClientStore, type ClientView, type Clients } from '../clients/index.ts';
import { withLock, type Database, type Transaction } from '../db/index.ts';
import { fail, OstiaryError } from '../errors.ts';
import type { Roles } from '../roles/index.ts';
import { ConfigFileSchema, type ClientEntry, type ConfigFile, type SecretRef } from './schema.ts';

export { configFileJsonSchema, ConfigFileSchema, type ConfigFile } from './schema.ts';

/** One line of a plan: what happens to which object, and which of its fields change. */
export interface PlannedChange {
  kind: 'api' | 'role' | 'client' | 'api_key';
  action: 'create' | 'update' | 'delete';
  id: string;
  fields?: string[];
}

/** What applying made that is shown once: generated client secrets and new API keys. */
export interface Issued {
  clientSecrets: { clientId: string; clientSecret: string }[];
  apiKeys: { name: string; id: string; apiKey: string }[];
}

export interface LoadedFile {
  file: ConfigFile;
  /** Client secrets read from the files and variables the file names, by client id. */
  secrets: Map<string, string>;
  /** Where a field of the file is, as `NAME: line L, column C`. */
  locate(path: readonly PropertyKey[]): string;
}

/** Bounds on what a file may make the parser do: far above any real configuration. */
export const CONFIG_FILE_LIMITS = { bytes: 4 * 1024 * 1024, depth: 16, aliases: 100 } as const;

/** Reports work done so far out of the total, for a progress bar; never prints. */
export type Progress = (done: number, total: number) => void;

/** Where in the text a field starts (its key, for a field of a mapping), as `line L, column C`. */
function position(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): string {
  const at = (node: unknown) => {
    const { line, col } = lines.linePos((node as Node).range![0]);
    return `line ${line}, column ${col}`;
  };
  for (let depth = path.length; depth > 0; depth--) {
    const parent = doc.getIn(path.slice(0, depth - 1) as unknown[], true);
    const last = path[depth - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
      if (pair && isNode(pair.key) && pair.key.range) return at(pair.key);
    }
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return at(node);
  }
  return isNode(doc.contents) && doc.contents.range ? at(doc.contents) : 'line 1, column 1';
}

const pathText = (path: readonly PropertyKey[]) => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(file)';

/** How deep collections nest, counted without recursion (a hostile file may nest thousands deep). */
function nesting(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0 && deepest <= CONFIG_FILE_LIMITS.depth) {
    const [node, depth] = stack.pop()!;
    if (!isCollection(node)) continue;
    deepest = Math.max(deepest, depth);
    for (const entry of node.items) {
      if (isPair(entry)) stack.push([entry.key, depth + 1], [entry.value, depth + 1]);
      else stack.push([entry, depth + 1]);
    }
  }
  return deepest;
}

const invalid = (name: string, errors: string[]) =>
  fail('config_file.invalid', `${name} is invalid, nothing was changed:\n  ${errors.join('\n  ')}`, { params: { errors: errors.join('\n') } });

/** The document as plain data; aliases may not expand past the limit ("billion laughs"). */
function plainData(doc: Document, name: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: CONFIG_FILE_LIMITS.aliases }) ?? {};
  } catch (error) {
    if (error instanceof ReferenceError) throw invalid(name, [`${name}: its aliases expand to more than ${CONFIG_FILE_LIMITS.aliases} times the document (or name an anchor that is not there): write the values out`]);
    throw error;
  }
}

/**
 * Parses a configuration file (YAML, or JSON, which YAML reads too) and checks it against its
 * schema. Every error is listed with its path, line and column, before anything is changed.
 */
export function parseConfigFile(text: string, name: string): Pick<LoadedFile, 'file' | 'locate'> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (nesting(doc.contents) > CONFIG_FILE_LIMITS.depth) throw invalid(name, [`${name}: nested more than ${CONFIG_FILE_LIMITS.depth} levels deep`]);
  const errors = doc.errors.map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    return `${name}: line ${line}, column ${col}: ${e.message.split('\n')[0]}`;
  });
  const locate = (path: readonly PropertyKey[]) => `${name}: ${position(doc, lines, path)}`;
  if (errors.length === 0) {
    const parsed = ConfigFileSchema.safeParse(plainData(doc, name));
    if (parsed.success) return { file: parsed.data, locate };
    const located = parsed.error.issues.flatMap((issue) => {
      const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
      return paths.map((path) => ({ at: position(doc, lines, path), text: `${pathText(path)}: ${issue.message}` }));
    });
    const line = (at: string) => Number(/\d+/.exec(at)?.[0]);
    located.sort((a, b) => line(a.at) - line(b.at));
    errors.push(...located.map((e) => `${name}: ${e.at}: ${e.text}`));
  }
  throw invalid(name, errors);
}

/** Reads the secrets the file refers to; a missing variable or unreadable file is an error naming the client. */
function readSecrets(file: ConfigFile, baseDir: string, env: Record<string, string | undefined>): Map<string, string> {
  const secrets = new Map<string, string>();
  const errors: string[] = [];
  const read = (ref: SecretRef): string | undefined => {
    if ('env' in ref) return env[ref.env] || undefined;
    try {
      return readFileSync(resolve(baseDir, ref.file), 'utf8').replace(/\r?\n$/, '');
    } catch {
      return undefined;
    }
  };
  file.clients.forEach((client, index) => {
    if (!client.secret) return;
    const value = read(client.secret);
    if (value === undefined) {
      const where = 'env' in client.secret ? `environment variable ${client.secret.env} is not set` : `cannot read ${client.secret.file}`;
      errors.push(`clients[${index}].secret (${client.client_id}): ${where}`);
    } else secrets.set(client.client_id, value);
  });
  if (errors.length) throw fail('config_file.secret_unavailable', `nothing was changed:\n  ${errors.join('\n  ')}`, { field: 'secret' });
  return secrets;
}

/** The file's text, refused past CONFIG_FILE_LIMITS.bytes without reading further (a pipe works too). */
function readBounded(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    throw fail('config_file.invalid', `cannot read ${path}`);
  }
  try {
    const buffer = Buffer.alloc(CONFIG_FILE_LIMITS.bytes + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > CONFIG_FILE_LIMITS.bytes) throw fail('config_file.invalid', `${path} is larger than ${CONFIG_FILE_LIMITS.bytes / 1024 / 1024} MiB: nothing was changed`);
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof OstiaryError) throw error;
    throw fail('config_file.invalid', `cannot read ${path}: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** Reads, checks and resolves a configuration file at `path`. */
export function loadConfigFile(path: string, env: Record<string, string | undefined> = process.env): LoadedFile {
  const { file, locate } = parseConfigFile(readBounded(path), path);
  return { file, locate, secrets: readSecrets(file, dirname(resolve(path)), env) };
}

const sameSet = (a: readonly string[], b: readonly string[]) => new Set(a).size === new Set(b).size && a.every((v) => b.includes(v));

/** The services an apply goes through, as src/services.ts builds them. */
export interface Catalog {
  apis: Apis;
  roles: Roles;
  clients: Clients;
  clientStore: ClientStore;
  apiKeys: ApiKeys;
}

/**
 * The database seen through an open transaction: a service's own `$transaction` joins it, so
 * every change of an apply, with its audit rows, commits or rolls back together. The services
 * built on it reach nothing but the database (no Redis, no other process), and their caches
 * are their own and thrown away with them.
 */
function inTransaction(tx: Transaction): Database {
  const joined: Database = new Proxy(tx, {
    get(target, property) {
      if (property === '$transaction') return (work: unknown) => (typeof work === 'function' ? work(joined) : Promise.all(work as Promise<unknown>[]));
      return Reflect.get(target, property);
    },
  }) as unknown as Database;
  return joined;
}

const SECTIONS = { api: 'apis', role: 'roles', client: 'clients', api_key: 'api_keys' } as const;
const IDENTITY = { api: 'audience', role: 'name', client: 'client_id', api_key: 'name' } as const;
/** A service's name for a field, where the file's differs by more than its case. */
const FILE_FIELDS: Record<string, string> = { introspectionAudiences: 'introspect', clientId: 'client_id' };
const fileField = (field: string) => FILE_FIELDS[field] ?? field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A service's refusal of one change, said with where the object is declared in the file. */
function located(error: unknown, change: PlannedChange, loaded: LoadedFile): unknown {
  if (!(error instanceof OstiaryError)) return error;
  const section = SECTIONS[change.kind];
  const index = (loaded.file[section] as Record<string, unknown>[]).findIndex((entry) => entry[IDENTITY[change.kind]] === change.id);
  const path = index < 0 ? [] : [section, index, ...(error.field ? [fileField(error.field)] : [])];
  const where = index < 0 ? `${change.action} ${change.kind.replace('_', ' ')} ${change.id}` : `${loaded.locate(path)}: ${section}[${index}] (${change.id})`;
  return fail(error.code, `${where}: ${error.message}; nothing was changed`, { ...(error.field ? { field: error.field } : {}), params: error.params });
}

/** The client fields of the file that differ from the stored client. */
function clientChanges(entry: ClientEntry, current: ClientView, secretMatches: boolean | undefined): string[] {
  const fields: string[] = [];
  const differs = (field: string, same: boolean) => void (same || fields.push(field));
  differs('name', entry.name === current.name);
  differs('grant_types', sameSet(entry.grant_types, current.grantTypes));
  differs('redirect_uris', sameSet(entry.redirect_uris, current.redirectUris));
  differs('post_logout_redirect_uris', sameSet(entry.post_logout_redirect_uris, current.postLogoutRedirectUris));
  differs('scopes', sameSet([...new Set([...impliedScopes(entry.grant_types), ...entry.scopes])], current.scope.split(' ').filter(Boolean)));
  differs('first_party', entry.first_party === current.firstParty);
  differs('require_mfa', entry.require_mfa === current.requireMfa);
  differs('upstreams', entry.upstreams === null ? current.upstreams === null : current.upstreams !== null && sameSet(entry.upstreams, current.upstreams));
  differs('password_sign_in', entry.password_sign_in === current.passwordSignIn);
  differs('backchannel_logout_uri', entry.backchannel_logout_uri === current.backchannelLogoutUri);
  differs('assertion_issuer', entry.assertion_issuer === current.assertionIssuer);
  differs('assertion_jwks_uri', entry.assertion_jwks_uri === current.assertionJwksUri);
  differs('assertion_jwks', JSON.stringify(entry.assertion_jwks) === JSON.stringify(current.assertionJwks));
  differs('roles', sameSet(entry.roles, current.roles));
  differs('introspect', sameSet(entry.introspect, current.introspectionAudiences));
  differs('access_token_ttl', entry.access_token_ttl === current.accessTokenTtl);
  differs('id_token_ttl', entry.id_token_ttl === current.idTokenTtl);
  differs('refresh_token_ttl', entry.refresh_token_ttl === current.refreshTokenTtl);
  if (secretMatches === false) fields.push('secret');
  return fields;
}

/**
 * Applied with nobody to read the result (at start), a generated secret would be lost or end up
 * in a log: a new confidential client needs a `secret` reference, and new API keys are refused.
 */
function refuseShownOnce(changes: PlannedChange[], file: ConfigFile): void {
  const lost = changes.filter(
    (c) => c.action === 'create' && (c.kind === 'api_key' || (c.kind === 'client' && file.clients.some((e) => e.client_id === c.id && !e.public && !e.secret))),
  );
  if (lost.length) {
    throw fail(
      'config_file.secret_unavailable',
      `applied at start, the file cannot create ${lost.map((c) => `${c.kind.replace('_', ' ')} ${c.id}`).join(', ')}: its secret would be shown to no one. Give clients a secret: { env: NAME } or { file: PATH }, and create API keys with ostiary apply`,
    );
  }
}

const APPLY_LOCK = 'config-file';
// A large file on a slow database may take minutes; waiting for another apply's lock counts too.
const APPLY_LIMITS = { maxWait: 10_000, timeout: 600_000 };

export function createConfigFiles(db: Database, audit: Audit, live: Catalog, build: (db: Database, audit: Audit) => Catalog) {
  async function state(services: Catalog) {
    const [apis, roles, clients, keys] = await Promise.all([services.apis.list(), services.roles.list(), services.clients.list(), services.apiKeys.list()]);
    // Clients that registered themselves are not configuration: never exported, never pruned.
    return { apis, roles, clients: clients.filter((c) => !c.registeredAt), apiKeys: keys.filter((k) => !k.revokedAt) };
  }

  /** What applying `loaded` would change, object by object (deletions only with `prune`). */
  async function plan(services: Catalog, loaded: LoadedFile, options: { prune: boolean }): Promise<PlannedChange[]> {
    const { file, secrets } = loaded;
    const now = await state(services);
    const changes: PlannedChange[] = [];
    for (const api of file.apis) {
      const current = now.apis.find((a) => a.audience === api.audience);
      if (!current) changes.push({ kind: 'api', action: 'create', id: api.audience });
      else {
        const fields = [...(api.name === current.name ? [] : ['name']), ...(sameSet(api.scopes, current.scopes) ? [] : ['scopes']), ...(api.publish_metadata === current.publishMetadata ? [] : ['publish_metadata'])];
        if (fields.length) changes.push({ kind: 'api', action: 'update', id: api.audience, fields });
      }
    }
    for (const role of file.roles) {
      const current = now.roles.find((r) => r.name === role.name);
      if (!current) changes.push({ kind: 'role', action: 'create', id: role.name });
      else if (!sameSet(role.permissions, current.permissions)) changes.push({ kind: 'role', action: 'update', id: role.name, fields: ['permissions'] });
    }
    for (const client of file.clients) {
      const current = now.clients.find((c) => c.clientId === client.client_id);
      if (!current) {
        changes.push({ kind: 'client', action: 'create', id: client.client_id });
        continue;
      }
      if (client.public !== (current.tokenEndpointAuthMethod === 'none')) {
        throw fail('config_file.unsupported_change', `client ${client.client_id} cannot change between public and confidential: give it a new client_id (and --prune the old one)`, { field: 'public' });
      }
      const secret = secrets.get(client.client_id);
      const fields = clientChanges(client, current, secret === undefined ? undefined : await services.clients.secretIs(client.client_id, secret));
      if (fields.length) changes.push({ kind: 'client', action: 'update', id: client.client_id, fields });
    }
    for (const key of file.api_keys) {
      const named = now.apiKeys.filter((k) => k.name === key.name);
      if (named.length > 1) throw fail('config_file.unsupported_change', `${named.length} API keys are named ${key.name}: revoke all but one (api-keys revoke ID) or give the key another name`, { field: 'name' });
      if (named.length === 0) changes.push({ kind: 'api_key', action: 'create', id: key.name });
      else if (!sameSet(key.scopes, named[0]!.scopes)) changes.push({ kind: 'api_key', action: 'update', id: key.name, fields: ['scopes'] });
    }
    if (options.prune) {
      for (const c of now.clients) if (!file.clients.some((e) => e.client_id === c.clientId)) changes.push({ kind: 'client', action: 'delete', id: c.clientId });
      for (const r of now.roles) if (!file.roles.some((e) => e.name === r.name)) changes.push({ kind: 'role', action: 'delete', id: r.name });
      for (const a of now.apis) if (!file.apis.some((e) => e.audience === a.audience)) changes.push({ kind: 'api', action: 'delete', id: a.audience });
      for (const k of now.apiKeys) if (!file.api_keys.some((e) => e.name === k.name)) changes.push({ kind: 'api_key', action: 'delete', id: k.name });
    }
    return changes;
  }

  /** Carries out one planned change through the service that owns the object. */
  async function carryOut(change: PlannedChange, loaded: LoadedFile, services: Catalog, actor: Actor, issued: Issued, keys: { id: string; name: string }[]) {
    const { file, secrets } = loaded;
    if (change.kind === 'api') {
      const entry = file.apis.find((a) => a.audience === change.id);
      const input = entry && { name: entry.name, audience: entry.audience, scopes: entry.scopes, publishMetadata: entry.publish_metadata };
      if (change.action === 'create') await services.apis.create(input!, actor);
      else if (change.action === 'update') await services.apis.update(change.id, input!, actor);
      else await services.apis.delete(change.id, actor);
    } else if (change.kind === 'role') {
      const entry = file.roles.find((r) => r.name === change.id);
      if (change.action === 'create') await services.roles.create(entry!, actor);
      else if (change.action === 'update') await services.roles.setPermissions(change.id, entry!.permissions, actor);
      else await services.roles.delete(change.id, actor);
    } else if (change.kind === 'client') {
      const entry = file.clients.find((c) => c.client_id === change.id);
      if (change.action === 'delete') return services.clients.delete(change.id, actor);
      const fields = {
        name: entry!.name,
        grantTypes: entry!.grant_types,
        redirectUris: entry!.redirect_uris,
        postLogoutRedirectUris: entry!.post_logout_redirect_uris,
        scopes: entry!.scopes,
        firstParty: entry!.first_party,
        requireMfa: entry!.require_mfa,
        upstreams: entry!.upstreams,
        passwordSignIn: entry!.password_sign_in,
        backchannelLogoutUri: entry!.backchannel_logout_uri,
        assertionIssuer: entry!.assertion_issuer,
        assertionJwksUri: entry!.assertion_jwks_uri,
        assertionJwks: entry!.assertion_jwks,
        roles: entry!.roles,
        introspectionAudiences: entry!.introspect,
      };
      const lifetimes = { accessTokenTtl: entry!.access_token_ttl, idTokenTtl: entry!.id_token_ttl, refreshTokenTtl: entry!.refresh_token_ttl };
      const secret = secrets.get(change.id);
      if (change.action === 'create') {
        const made = await services.clients.create(
          { ...fields, public: entry!.public, clientId: change.id, secret, accessTokenTtl: lifetimes.accessTokenTtl ?? undefined, idTokenTtl: lifetimes.idTokenTtl ?? undefined, refreshTokenTtl: lifetimes.refreshTokenTtl ?? undefined },
          actor,
        );
        if (made.clientSecret) issued.clientSecrets.push({ clientId: change.id, clientSecret: made.clientSecret });
        return;
      }
      if (change.fields!.some((f) => f !== 'secret')) await services.clients.update(change.id, { ...fields, ...lifetimes }, actor);
      if (change.fields!.includes('secret')) await services.clients.rotateSecret(change.id, actor, secret);
    } else {
      const entry = file.api_keys.find((k) => k.name === change.id);
      const existing = keys.find((k) => k.name === change.id);
      if (change.action === 'create') {
        const made = await services.apiKeys.create({ name: entry!.name, scopes: entry!.scopes }, actor);
        issued.apiKeys.push({ name: made.key.name, id: made.key.id, apiKey: made.apiKey });
      } else if (change.action === 'update') await services.apiKeys.setScopes(existing!.id, entry!.scopes, actor);
      else await services.apiKeys.revoke(existing!.id, actor);
    }
  }

  /** Carries out the plan through `services`; a refused change names where the file declares it. */
  async function carryOutAll(changes: PlannedChange[], loaded: LoadedFile, services: Catalog, actor: Actor, onProgress?: Progress): Promise<Issued> {
    const issued: Issued = { clientSecrets: [], apiKeys: [] };
    const keys = (await services.apiKeys.list()).filter((k) => !k.revokedAt);
    let done = 0;
    for (const change of changes) {
      await carryOut(change, loaded, services, actor, issued, keys).catch((error: unknown) => {
        throw located(error, change, loaded);
      });
      onProgress?.(++done, changes.length);
    }
    return issued;
  }

  /** This process's caches forget what an apply changed (other processes within their second). */
  function forgetChanged(changes: PlannedChange[]): void {
    for (const change of changes) if (change.kind === 'client') live.clientStore.forget(change.id);
    live.apis.forgetCached();
    live.roles.changed();
  }

  return {
    /**
     * Applies the file: under a lock (two instances starting with the same CONFIG_FILE take
     * turns, and the second finds nothing to do), plans and carries out every change in one
     * transaction, audited as `actor`, so a refusal leaves the database as it was. Returns the
     * plan and what was issued.
     */
    async apply(loaded: LoadedFile, options: { prune: boolean; dryRun?: boolean; onProgress?: Progress; unattended?: boolean }, actor: Actor) {
      const none: Issued = { clientSecrets: [], apiKeys: [] };
      if (options.dryRun) {
        const changes = await plan(live, loaded, options);
        if (options.unattended) refuseShownOnce(changes, loaded.file);
        return { changes, issued: none, applied: false };
      }
      const held = audit.held();
      const { changes, issued } = await withLock(
        db,
        APPLY_LOCK,
        async (tx) => {
          const services = build(inTransaction(tx), { ...audit, change: held.change });
          const changes = await plan(services, loaded, options);
          if (options.unattended) refuseShownOnce(changes, loaded.file);
          return { changes, issued: changes.length ? await carryOutAll(changes, loaded, services, actor, options.onProgress) : none };
        },
        APPLY_LIMITS,
      );
      held.committed();
      forgetChanged(changes);
      return { changes, issued, applied: changes.length > 0 };
    },

    /** The current state in the file's form, without any secret (a commented placeholder instead). */
    async export(): Promise<string> {
      const now = await state(live);
      const file = {
        apis: now.apis.map((a) => ({ audience: a.audience, name: a.name, scopes: a.scopes, publish_metadata: a.publishMetadata })),
        roles: now.roles.map((r) => ({ name: r.name, permissions: r.permissions })),
        clients: now.clients.map((c) => {
          const implied = impliedScopes(c.grantTypes);
          return {
            client_id: c.clientId,
            name: c.name,
            grant_types: c.grantTypes,
            redirect_uris: c.redirectUris,
            post_logout_redirect_uris: c.postLogoutRedirectUris,
            scopes: c.scope.split(' ').filter((s) => s && !implied.includes(s)),
            public: c.tokenEndpointAuthMethod === 'none',
            first_party: c.firstParty,
            require_mfa: c.requireMfa,
            upstreams: c.upstreams,
            password_sign_in: c.passwordSignIn,
            backchannel_logout_uri: c.backchannelLogoutUri,
            assertion_issuer: c.assertionIssuer,
            assertion_jwks_uri: c.assertionJwksUri,
            assertion_jwks: c.assertionJwks,
            roles: c.roles,
            introspect: c.introspectionAudiences,
            access_token_ttl: c.accessTokenTtl,
            id_token_ttl: c.idTokenTtl,
            refresh_token_ttl: c.refreshTokenTtl,
          };
        }),
        api_keys: now.apiKeys.map((k) => ({ name: k.name, scopes: k.scopes })),
      };
      const doc = new Document(file);
      doc.commentBefore = ' Ostiary configuration (ostiary apply -f FILE). Secrets are never exported.';
      file.clients.forEach((client, index) => {
        if (client.public) return;
        const node = doc.getIn(['clients', index], true) as Node;
        const variable = `CLIENT_SECRET_${client.client_id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
        node.commentBefore = ` To manage this client's secret here, add: secret: { env: ${variable} } (or { file: PATH })`;
      });
      return doc.toString();
    },
  };
}

export type ConfigFiles = ReturnType<typeof createConfigFiles>;
