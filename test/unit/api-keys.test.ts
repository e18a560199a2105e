import { describe, expect, it } from 'vitest';
import { API_KEY_SCOPES, createApiKeys, hasScope } from '../../src/api-keys/index.ts';
import type { Audit } from '../../src/audit/index.ts';
import type { Database } from '../../src/db/index.ts';

type Row = Record<string, unknown> & { id: string };

/** The few calls createApiKeys makes (apiKey.create/findUnique/update, a transaction), in memory. */
function memoryDb() {
  const rows = new Map<string, Row>();
  const apiKey = {
    async create({ data }: { data: Row }) {
      const row = { revokedAt: null, lastUsedAt: null, lastUsedIp: null, rotatedTo: null, createdAt: new Date(), ...data };
      rows.set(row.id, row);
      return row;
    },
    async findUnique({ where }: { where: { id: string } }) {
      return rows.get(where.id) ?? null;
    },
    async update({ where, data }: { where: { id: string }; data: Partial<Row> }) {
      const row = { ...rows.get(where.id)!, ...data };
      rows.set(where.id, row);
      return row;
    },
  };
  const db = { apiKey, $transaction: async <T>(work: (tx: unknown) => Promise<T>) => work(db) };
  return db as unknown as Database;
}
const noAudit = { change: async () => {} } as unknown as Audit;
const OPERATOR = { id: 'cli' };

/** A key usable only from `allowedIps`, and whether `ip` may use it. */
async function allowedFrom(allowedIps: string[]) {
  const keys = createApiKeys(memoryDb(), noAudit);
  const { apiKey } = await keys.create({ name: 'ci', scopes: ['clients:read'], allowedIps }, OPERATOR);
  return async (ip: string) => {
    const verification = await keys.verify(apiKey, ip);
    if (!verification.ok && verification.reason !== 'ip_not_allowed') throw new Error(`unexpected ${verification.reason}`);
    return verification.ok;
  };
}

describe('hasScope', () => {
  it('grants a scope the key holds, and no other', () => {
    expect(hasScope({ scopes: ['clients:read'] }, 'clients:read')).toBe(true);
    expect(hasScope({ scopes: ['clients:read'] }, 'clients:write')).toBe(false);
    expect(hasScope({ scopes: ['clients:read', 'users:read'] }, 'users:read')).toBe(true);
    expect(hasScope({ scopes: [] }, 'clients:read')).toBe(false);
  });

  it('grants every scope to admin', () => {
    for (const scope of API_KEY_SCOPES) expect(hasScope({ scopes: ['admin'] }, scope)).toBe(true);
  });

  it('reads no prefix or wildcard into a scope', () => {
    expect(hasScope({ scopes: ['clients'] }, 'clients:read')).toBe(false);
    expect(hasScope({ scopes: ['clients:*'] }, 'clients:read')).toBe(false);
    expect(hasScope({ scopes: ['*'] }, 'clients:read')).toBe(false);
  });
});

describe('API key address ranges', () => {
  // Each: the key's ranges, addresses it may be used from, addresses it may not.
  it.each([
    ['no ranges: any address', [], ['10.1.2.3', '2001:db8::1'], []],
    ['IPv4 ranges', ['10.0.0.0/8', '192.168.1.0/24'], ['10.1.2.3', '10.255.255.255', '192.168.1.77'], ['11.0.0.1', '192.168.2.1']],
    ['an IPv6 range', ['2001:db8::/32'], ['2001:db8::1', '2001:db8:ffff:1::9'], ['2001:db9::1', '10.1.2.3']],
    ['an IPv4-mapped IPv6 address, as the IPv4 address it carries', ['10.0.0.0/8'], ['::ffff:10.1.2.3'], ['::ffff:11.1.2.3']],
    ['/32: that one address', ['10.1.2.3/32'], ['10.1.2.3'], ['10.1.2.4', '10.1.2.2']],
    ['a bare IPv4 address: that one address', ['10.1.2.3'], ['10.1.2.3'], ['10.1.2.4']],
    ['a bare IPv6 address: that one address', ['2001:db8::1'], ['2001:db8::1'], ['2001:db8::2']],
    ['/0: every address of its family only', ['0.0.0.0/0'], ['10.1.2.3', '203.0.113.9'], ['2001:db8::1']],
    ['an address that is no address', ['10.0.0.0/8'], [], ['unknown', '']],
  ])('checks %s', async (_what, ranges: string[], allowed: string[], refused: string[]) => {
    const may = await allowedFrom(ranges);
    for (const ip of allowed) expect(await may(ip), ip).toBe(true);
    for (const ip of refused) expect(await may(ip), ip).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/8.5', '10.0.0.0/abc', '2001:db8::/129', '10.0.0.256/8', '300.1.2.3', 'example.com', '', '/8'])(
    'refuses the range %j as invalid input',
    async (range) => {
      const keys = createApiKeys(memoryDb(), noAudit);
      await expect(keys.create({ name: 'ci', scopes: ['clients:read'], allowedIps: [range] }, OPERATOR)).rejects.toMatchObject({
        name: 'OstiaryError',
        status: 400,
        code: expect.stringMatching(/invalid/),
        message: expect.stringContaining(`invalid CIDR range ${range}`),
      });
    },
  );

  // Number('') is 0: read loosely, `10.0.0.0/` would allow every IPv4 address.
  it.each(['10.0.0.0/', '10.0.0.0/8/16'])('refuses the malformed range %j', async (range) => {
    const keys = createApiKeys(memoryDb(), noAudit);
    await expect(keys.create({ name: 'ci', scopes: ['clients:read'], allowedIps: [range] }, OPERATOR)).rejects.toMatchObject({ status: 400 });
  });
});
