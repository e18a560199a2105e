import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { type Database, strings, type Transaction } from '../db/index.ts';
import type { Actor, Audit } from '../audit/index.ts';
import { fail } from '../errors.ts';

/** What an API key may do; `admin` is every scope. */
export const API_KEY_SCOPES = [
  'admin',
  'clients:read',
  'clients:write',
  'users:read',
  'users:write',
  'roles:read',
  'roles:write',
  'apis:read',
  'apis:write',
  'keys:read',
  'keys:rotate',
  'api-keys:read',
  'api-keys:write',
  'audit:read',
  'upstreams:read',
  'upstreams:write',
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

const PREFIX = 'osk_';
const ID_LENGTH = 16;
const KEY_FORMAT = new RegExp(`^${PREFIX}([0-9a-f]{${ID_LENGTH}})_([A-Za-z0-9_-]{43})$`);

export interface ApiKeyView {
  id: string;
  name: string;
  scopes: string[];
  allowedIps: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdBy: string;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  rotatedTo: string | null;
  createdAt: Date;
}

type Row = Awaited<ReturnType<Database['apiKey']['findUniqueOrThrow']>>;

const sha256 = (value: string) => createHash('sha256').update(value).digest();

function view(row: Row): ApiKeyView {
  const { secretHash: _, scopes, allowedIps, ...rest } = row;
  return { ...rest, scopes: strings(scopes), allowedIps: strings(allowedIps) };
}

/** `10.0.0.0/8`, `2001:db8::/32`, or one address. */
function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', bits, ...rest] = cidr.split('/');
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  // Digits only: Number('') is 0, which would turn `10.0.0.0/` into every address.
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!version || rest.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max) throw fail('api_key.range_invalid', `invalid CIDR range ${cidr}`, { field: 'allowedIps' });
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function blockList(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const { address, prefix, family } = parseCidr(range);
    list.addSubnet(address, prefix, family);
  }
  return list;
}

function allows(ranges: string[], ip: string): boolean {
  if (ranges.length === 0) return true;
  const list = blockList(ranges);
  const mapped = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  return isIP(mapped) === 4 ? list.check(mapped, 'ipv4') : isIP(mapped) === 6 && list.check(mapped, 'ipv6');
}

/** Whether every address of `inner` lies in one of `outer` (no ranges at all: every address). */
function rangeWithin(inner: string, outer: readonly string[]): boolean {
  if (outer.length === 0) return true;
  const { address, prefix, family } = parseCidr(inner);
  return outer.some((range) => {
    const bound = parseCidr(range);
    return bound.family === family && prefix >= bound.prefix && blockList([range]).check(address, family);
  });
}

/** What a key is allowed: its scopes, until when, from where. */
interface Authority {
  scopes: readonly string[];
  expiresAt: Date | null;
  allowedIps: readonly string[];
}

/**
 * A key hands on no more than it holds: only scopes it has itself (`admin` only by `admin`), an
 * expiry no later than its own, addresses within its own ranges.
 */
function assertWithin(grantor: Authority, wanted: Authority, action: 'create' | 'rotate'): void {
  const refuse = (what: string) => fail('api_key.exceeds_authority', `This API key cannot ${action} a key ${what}.`);
  if (!grantor.scopes.includes('admin')) {
    const beyond = wanted.scopes.find((scope) => !grantor.scopes.includes(scope));
    if (beyond) throw refuse(`with the scope ${beyond}: a key can only hand on scopes it holds itself${beyond === 'admin' ? ', and admin only by admin' : ''}`);
  }
  if (grantor.expiresAt && (!wanted.expiresAt || wanted.expiresAt > grantor.expiresAt)) {
    throw refuse(`that expires ${wanted.expiresAt ? `at ${wanted.expiresAt.toISOString()}` : 'never'}: it must expire no later than this key (${grantor.expiresAt.toISOString()})`);
  }
  const wider = grantor.allowedIps.length && !wanted.allowedIps.length ? 'any address' : wanted.allowedIps.find((range) => !rangeWithin(range, grantor.allowedIps));
  if (wider) throw refuse(`usable from ${wider}: its ranges must lie within this key's (${grantor.allowedIps.join(', ')})`);
}

/** What a new key is asked to be. */
export interface NewKey {
  name: string;
  scopes: readonly string[];
  expiresAt?: Date | null;
  allowedIps?: readonly string[];
}

export type Verification =
  | { ok: true; key: ApiKeyView }
  | { ok: false; reason: 'malformed' | 'unknown' | 'wrong_secret' | 'revoked' | 'expired' | 'ip_not_allowed'; keyId?: string };

/** A key's scopes, de-duplicated: at least one, each a known one. */
function checkScopes(wanted: readonly string[]): string[] {
  const scopes = [...new Set(wanted)];
  if (scopes.length === 0) throw fail('api_key.scope_required', `at least one scope is required (${API_KEY_SCOPES.join(', ')})`, { field: 'scopes' });
  const unknown = scopes.find((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
  if (unknown) throw fail('api_key.scope_unknown', `unknown scope ${unknown}; known: ${API_KEY_SCOPES.join(', ')}`, { field: 'scopes' });
  return scopes;
}

/** Admin API keys: made from the CSPRNG, shown once, stored as SHA-256, checked in constant time. */
export function createApiKeys(db: Database, audit: Audit, clock: () => Date = () => new Date()) {
  /**
   * A new key. Made by another key (`grantor`), it holds no more than that key: without an expiry
   * or ranges of its own it takes the grantor's. The CLI, an operator at the console, passes none.
   * Returns the row written (in `tx`'s transaction when given) and the key, shown only now.
   */
  async function issue(input: NewKey, createdBy: string, grantor: Authority | undefined, tx: Transaction) {
    if (!input.name.trim()) throw fail('api_key.name_required', 'name is required', { field: 'name' });
    const scopes = checkScopes(input.scopes);
    const allowedIps = [...new Set(input.allowedIps?.length ? input.allowedIps : (grantor?.allowedIps ?? []))];
    allowedIps.forEach(parseCidr);
    const expiresAt = input.expiresAt ?? grantor?.expiresAt ?? null;
    if (expiresAt && expiresAt <= clock()) throw fail('api_key.expiry_past', 'the expiry must be in the future', { field: 'expiresAt' });
    if (grantor) assertWithin(grantor, { scopes, expiresAt, allowedIps }, 'create');
    const id = randomBytes(ID_LENGTH / 2).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const row = await tx.apiKey.create({
      data: { id, name: input.name.trim(), secretHash: sha256(secret).toString('hex'), scopes, allowedIps, expiresAt, createdBy },
    });
    return { key: view(row), apiKey: `${PREFIX}${id}_${secret}` };
  }

  async function find(id: string): Promise<Row> {
    const row = /^[0-9a-f]{16}$/.test(id) ? await db.apiKey.findUnique({ where: { id } }) : null;
    if (!row) throw fail('api_key.not_found', `no API key ${id}`);
    return row;
  }

  return {
    /** A new key; made through the admin API, `grantor` is the key that asked (see `issue`). */
    async create(input: NewKey, actor: Actor, grantor?: Authority) {
      return db.$transaction(async (tx) => {
        const made = await issue(input, actor.id, grantor, tx);
        await audit.change(actor, { type: 'api_key.created', details: { id: made.key.id, scopes: made.key.scopes.join(' ') } }, tx);
        return made;
      });
    },

    async list(): Promise<ApiKeyView[]> {
      return (await db.apiKey.findMany({ orderBy: { createdAt: 'asc' } })).map(view);
    },

    async get(id: string): Promise<ApiKeyView> {
      return view(await find(id));
    },

    /** Replaces the scopes of a key that is not revoked (an operator's change: no grantor). */
    async setScopes(id: string, wanted: readonly string[], actor: Actor): Promise<ApiKeyView> {
      const old = view(await find(id));
      if (old.revokedAt) throw fail('api_key.revoked', `API key ${id} is revoked`);
      const scopes = checkScopes(wanted);
      return db.$transaction(async (tx) => {
        const row = await tx.apiKey.update({ where: { id }, data: { scopes } });
        await audit.change(actor, { type: 'api_key.updated', details: { id, scopes: scopes.join(' ') } }, tx);
        return view(row);
      });
    },

    async revoke(id: string, actor: Actor): Promise<ApiKeyView> {
      await find(id);
      return db.$transaction(async (tx) => {
        const row = await tx.apiKey.update({ where: { id }, data: { revokedAt: clock() } });
        await audit.change(actor, { type: 'api_key.revoked', details: { id } }, tx);
        return view(row);
      });
    },

    /**
     * A successor with the same name, scopes and ranges; the old key keeps working for
     * `graceSeconds`. A key (`grantor`) may rotate only a key it could have created.
     */
    async rotate(id: string, graceSeconds: number, actor: Actor, grantor?: Authority) {
      const old = view(await find(id));
      if (old.revokedAt) throw fail('api_key.revoked', `API key ${id} is revoked`);
      if (grantor) assertWithin(grantor, old, 'rotate');
      const graceEnd = new Date(clock().getTime() + graceSeconds * 1000);
      const expiresAt = old.expiresAt && old.expiresAt < graceEnd ? old.expiresAt : graceEnd;
      return db.$transaction(async (tx) => {
        const successor = await issue({ name: old.name, scopes: old.scopes, allowedIps: old.allowedIps, expiresAt: old.expiresAt }, actor.id, undefined, tx);
        await tx.apiKey.update({ where: { id }, data: { expiresAt, rotatedTo: successor.key.id } });
        await audit.change(actor, { type: 'api_key.rotated', details: { id, successor: successor.key.id } }, tx);
        return successor;
      });
    },

    /**
     * Checks a presented key against the database on every call (no cache), so a revocation
     * applies to the next request on every instance.
     */
    async verify(presented: string, ip: string): Promise<Verification> {
      const match = KEY_FORMAT.exec(presented);
      if (!match) return { ok: false, reason: 'malformed' };
      const [, id, secret] = match as unknown as [string, string, string];
      const row = await db.apiKey.findUnique({ where: { id } });
      // Hash and compare even for an unknown id, so timing does not tell which ids exist.
      const expected = row ? Buffer.from(row.secretHash, 'hex') : sha256('no such key');
      const matches = timingSafeEqual(expected, sha256(secret));
      if (!row) return { ok: false, reason: 'unknown' };
      if (!matches) return { ok: false, reason: 'wrong_secret', keyId: id };
      const now = clock();
      if (row.revokedAt) return { ok: false, reason: 'revoked', keyId: id };
      if (row.expiresAt && row.expiresAt <= now) return { ok: false, reason: 'expired', keyId: id };
      if (!allows(strings(row.allowedIps), ip)) return { ok: false, reason: 'ip_not_allowed', keyId: id };
      if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000 || row.lastUsedIp !== ip) {
        await db.apiKey.update({ where: { id }, data: { lastUsedAt: now, lastUsedIp: ip } });
      }
      return { ok: true, key: view(row) };
    },
  };
}

export type ApiKeys = ReturnType<typeof createApiKeys>;

/** Whether a key's scopes cover `needed`. */
export const hasScope = (key: { scopes: string[] }, needed: ApiKeyScope) => key.scopes.includes('admin') || key.scopes.includes(needed);

/** The snake_case JSON form shared by the CLI and the admin API (never the secret or its hash). */
export const apiKeyJson = (k: ApiKeyView) => ({
  id: k.id,
  name: k.name,
  scopes: k.scopes,
  allowed_ips: k.allowedIps,
  expires_at: k.expiresAt,
  revoked_at: k.revokedAt,
  created_by: k.createdBy,
  last_used_at: k.lastUsedAt,
  last_used_ip: k.lastUsedIp,
  rotated_to: k.rotatedTo,
  created_at: k.createdAt,
});
