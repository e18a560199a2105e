import { describe, expect, it } from 'vitest';
import { permissionMatches } from '../../src/roles/index.ts';

describe('permissionMatches', () => {
  it('matches a plain permission to exactly that scope', () => {
    expect(permissionMatches('invoices:read', 'invoices:read')).toBe(true);
    expect(permissionMatches('invoices:read', 'invoices:write')).toBe(false);
    expect(permissionMatches('invoices:read', 'invoices:read:all')).toBe(false);
    expect(permissionMatches('invoices:read', 'invoices')).toBe(false);
    expect(permissionMatches('invoices:read', 'INVOICES:READ')).toBe(false);
  });

  it('matches a prefix ending in * to every scope it starts', () => {
    expect(permissionMatches('invoices:*', 'invoices:read')).toBe(true);
    expect(permissionMatches('invoices:*', 'invoices:write')).toBe(true);
    expect(permissionMatches('invoices:*', 'invoices:read:all')).toBe(true);
  });

  it('does not match across the prefix', () => {
    expect(permissionMatches('invoices:*', 'invoicesx:read')).toBe(false);
    expect(permissionMatches('invoices:*', 'invoices')).toBe(false);
    expect(permissionMatches('invoices:*', 'ledger:read')).toBe(false);
    expect(permissionMatches('invoices:*', 'billing:invoices:read')).toBe(false);
  });

  it('matches every scope with * alone', () => {
    for (const scope of ['invoices:read', 'ledger:read', 'openid', 'x']) expect(permissionMatches('*', scope)).toBe(true);
  });

  it('treats a * anywhere but at the end literally', () => {
    expect(permissionMatches('*:read', 'invoices:read')).toBe(false);
    expect(permissionMatches('invoices:*:all', 'invoices:read:all')).toBe(false);
    expect(permissionMatches('*:read', '*:read')).toBe(true);
  });
});
