import { randomUUID } from 'node:crypto';
import { createTtlCache, type Database, type Page, pageOf, pageQuery, type PageRequest } from '../db/index.ts';
import type { Actor, Audit } from '../audit/index.ts';
import { fail, isUniqueViolation } from '../errors.ts';
import { SCOPE_TOKEN, splitScopes } from '../scopes/index.ts';

export interface RoleView {
  id: string;
  name: string;
  permissions: string[];
  createdAt: Date;
}

interface HeldPermission {
  name: string;
  permission: string;
}

export type RoleHolder = { userId: string } | { clientId: string };

/** Who holds a role, as the audit trail names them. */
const holderFields = (holder: RoleHolder) => ('userId' in holder ? { subject: holder.userId, clientId: null } : { subject: null, clientId: holder.clientId });

const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const withPermissions = { permissions: { select: { permission: true }, orderBy: { permission: 'asc' as const } } };

function view(row: { id: string; name: string; createdAt: Date; permissions: { permission: string }[] }): RoleView {
  return { id: row.id, name: row.name, createdAt: row.createdAt, permissions: row.permissions.map((p) => p.permission) };
}

/** A permission is a scope value, or a prefix ending in `*` that stands for every scope it starts. */
function checkPermission(permission: string): string {
  const star = permission.indexOf('*');
  if (!SCOPE_TOKEN.test(permission) || (star !== -1 && star !== permission.length - 1)) {
    throw fail('role.permission_invalid', `invalid permission ${JSON.stringify(permission)}: a scope value, or a prefix ending in * (invoices:*)`, { field: 'permissions' });
  }
  return permission;
}

export const permissionMatches = (permission: string, scope: string) =>
  permission.endsWith('*') ? scope.startsWith(permission.slice(0, -1)) : permission === scope;

/** How long another process may go on seeing a user's or client's roles as they were (this process forgets at once). */
export const ROLES_CACHE_MS = 1000;

type HeldRoles = { name: string; permissions: string[] }[];

async function readHeld(db: Database, holder: RoleHolder): Promise<HeldRoles> {
  // One statement written out: Prisma's relation query for this is two statements and several
  // times the CPU.
  const rows =
    'userId' in holder
      ? await db.$queryRaw<HeldPermission[]>`SELECT r."name", p."permission" FROM "UserRole" h JOIN "Role" r ON r."id" = h."roleId" JOIN "RolePermission" p ON p."roleId" = r."id" WHERE h."userId" = ${holder.userId}`
      : await db.$queryRaw<HeldPermission[]>`SELECT r."name", p."permission" FROM "ClientRole" h JOIN "Role" r ON r."id" = h."roleId" JOIN "RolePermission" p ON p."roleId" = r."id" WHERE h."clientId" = ${holder.clientId}`;
  const byRole = new Map<string, string[]>();
  for (const row of rows) byRole.set(row.name, [...(byRole.get(row.name) ?? []), row.permission]);
  return [...byRole].sort(([a], [b]) => a.localeCompare(b)).map(([name, permissions]) => ({ name, permissions }));
}

export function createRoles(db: Database, audit: Audit) {
  const heldCache = createTtlCache<HeldRoles>(ROLES_CACHE_MS);
  /** Called after every change to roles or to who holds them. */
  const changed = () => heldCache.clear();

  async function idsOf(names: readonly string[]): Promise<string[]> {
    const unique = [...new Set(names)];
    const rows = await db.role.findMany({ where: { name: { in: unique } }, select: { id: true, name: true } });
    const missing = unique.filter((n) => !rows.some((r) => r.name === n));
    if (missing.length) throw fail('role.not_found', `no role ${missing.join(', ')}`, { field: 'roles', params: { role: missing[0]! } });
    return rows.map((r) => r.id);
  }

  return {
    idsOf,

    async create(input: { name: string; permissions: readonly string[] }, actor: Actor): Promise<RoleView> {
      if (!ROLE_NAME.test(input.name)) throw fail('role.name_invalid', `invalid role name ${JSON.stringify(input.name)}: letters, digits, _ . : - (at most 64)`, { field: 'name' });
      const permissions = splitScopes(input.permissions).map(checkPermission);
      try {
        const row = await db.$transaction(async (tx) => {
          const created = await tx.role.create({
            data: { id: randomUUID(), name: input.name, permissions: { create: permissions.map((permission) => ({ permission })) } },
            include: withPermissions,
          });
          await audit.change(actor, { type: 'role.created', details: { name: created.name, permissions: permissions.join(' ') } }, tx);
          return created;
        });
        return view(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw fail('role.name_taken', `a role named ${input.name} already exists`, { field: 'name' });
        throw error;
      }
    },

    async page(request: PageRequest): Promise<Page<RoleView>> {
      return pageOf(await db.role.findMany({ include: withPermissions, orderBy: { id: 'asc' }, ...pageQuery(request) }), request, view);
    },

    async list(): Promise<RoleView[]> {
      return (await db.role.findMany({ include: withPermissions, orderBy: { name: 'asc' } })).map(view);
    },

    /** Replaces the permissions of the role with this name. */
    async setPermissions(name: string, permissions: readonly string[], actor: Actor): Promise<RoleView> {
      const wanted = splitScopes(permissions).map(checkPermission);
      const row = await db.$transaction(async (tx) => {
        const current = await tx.role.findUnique({ where: { name } });
        if (!current) throw fail('role.not_found', `no role ${name}`, { params: { role: name } });
        const updated = await tx.role.update({
          where: { id: current.id },
          data: { permissions: { deleteMany: {}, create: wanted.map((permission) => ({ permission })) } },
          include: withPermissions,
        });
        await audit.change(actor, { type: 'role.updated', details: { name, permissions: wanted.join(' ') } }, tx);
        return updated;
      });
      changed();
      return view(row);
    },

    async delete(name: string, actor: Actor): Promise<void> {
      await db.$transaction(async (tx) => {
        const { count } = await tx.role.deleteMany({ where: { name } });
        if (count === 0) throw fail('role.not_found', `no role ${name}`, { params: { role: name } });
        await audit.change(actor, { type: 'role.deleted', details: { name } }, tx);
      });
      changed();
    },

    /** Idempotent: granting a role already held changes nothing and records nothing. */
    async grant(name: string, holder: RoleHolder, actor: Actor): Promise<void> {
      const [roleId] = await idsOf([name]);
      try {
        await db.$transaction(async (tx) => {
          if ('userId' in holder) await tx.userRole.create({ data: { userId: holder.userId, roleId: roleId! } });
          else await tx.clientRole.create({ data: { clientId: holder.clientId, roleId: roleId! } });
          await audit.change(actor, { type: 'role.granted', ...holderFields(holder), details: { role: name } }, tx);
        });
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
      changed();
    },

    /** Whether the role was held; revoking one that was not changes nothing and records nothing. */
    async revoke(name: string, holder: RoleHolder, actor: Actor): Promise<boolean> {
      const [roleId] = await idsOf([name]);
      const count = await db.$transaction(async (tx) => {
        const removed =
          'userId' in holder
            ? await tx.userRole.deleteMany({ where: { userId: holder.userId, roleId } })
            : await tx.clientRole.deleteMany({ where: { clientId: holder.clientId, roleId } });
        if (removed.count > 0) await audit.change(actor, { type: 'role.revoked', ...holderFields(holder), details: { role: name } }, tx);
        return removed.count;
      });
      changed();
      return count > 0;
    },

    changed,

    /** The roles a user or client holds (names and permissions), for every token. */
    async of(holder: RoleHolder): Promise<HeldRoles> {
      return heldCache.get('userId' in holder ? `user:${holder.userId}` : `client:${holder.clientId}`, () => readHeld(db, holder));
    },
  };
}

export type Roles = ReturnType<typeof createRoles>;

/** The snake_case JSON form shared by the CLI and the admin API. */
export const roleJson = (r: RoleView) => ({ id: r.id, name: r.name, permissions: r.permissions, created_at: r.createdAt });
