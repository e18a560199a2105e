import { createHash } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import { deleteInBatches, unstorable, type Database } from '../db/index.ts';

/**
 * The one owner of the provider's table (`OidcPayload`): what oidc-provider stores through its
 * adapter, and what the grants, the signing keys and the cleanup job need to read or delete in it.
 */

/**
 * Models whose id is a bearer value (the opaque token itself). They are stored under a SHA-256
 * of the id and without `jti`, so a copy of the table hands out no working token. Sessions are
 * not here: they are also looked up by `uid` and must be able to return their own id.
 */
export const BEARER_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'DeviceCode',
  'PushedAuthorizationRequest',
  'BackchannelAuthenticationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
]);

/**
 * A device code is found by its user code, and then saved back, marked cancelled or resumed
 * from its Interaction by the id it came with; a hashed row cannot give its device code back.
 * So it comes with a stand-in id instead: ':' and the row's digest (the provider's ids are
 * base64url, none starts with ':'). A stand-in finds and saves the row but never consumes it,
 * and finds no consumed one: only the device code itself is redeemed at the token endpoint, so
 * the digest in a copy of the table (or an Interaction row holding the stand-in) redeems nothing.
 */
const STAND_IN_MODELS: ReadonlySet<string> = new Set(['DeviceCode']);
const STAND_IN = /^:([A-Za-z0-9_-]{43})$/;

/** Models that are redeemed; a lost race to consume one is an invalid grant, not a server error. */
export const REDEEMABLE_MODELS: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/** Bearer models whose rows show a grant was used while a key signed. */
export const TOKEN_MODELS: readonly string[] = ['AuthorizationCode', 'AccessToken', 'RefreshToken'];

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

interface StoredRow {
  payload: unknown;
  consumedAt: Date | null;
  expiresAt: Date | null;
}

function isLive(row: { expiresAt: Date | null }): boolean {
  return !row.expiresAt || row.expiresAt.getTime() > Date.now();
}

/** The rows of one model, as oidc-provider's adapter reads and writes them. */
function modelRows(db: Database, model: string) {
  const hashed = BEARER_MODELS.has(model);
  const standIns = STAND_IN_MODELS.has(model);
  /** The digest a stand-in id names, if `id` is one. */
  const namedDigest = (id: string) => (standIns ? STAND_IN.exec(id)?.[1] : undefined);
  const key = (id: string) => ({ type: model, id: namedDigest(id) ?? (hashed ? sha256(id) : id) });

  /** The payload of a live row; `id` puts back the jti a bearer row is stored without. */
  function livePayload(row: StoredRow | null, id?: string): AdapterPayload | undefined {
    if (!row || !isLive(row)) return undefined;
    const payload = { ...(row.payload as AdapterPayload) };
    if (hashed && id) payload.jti = id;
    if (row.consumedAt) payload.consumed = epochSeconds(row.consumedAt);
    return payload;
  }

  /** A live row found by a derived column, with a stand-in id where its own cannot be given back. */
  async function findLive(where: { uid: string } | { userCode: string }) {
    const row = await db.oidcPayload.findFirst({ where: { type: model, ...where } });
    return livePayload(row, row && standIns ? `:${row.id}` : undefined);
  }

  return {
    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const stored: AdapterPayload = JSON.parse(JSON.stringify(payload));
      if (hashed) delete stored.jti;
      const fields = {
        payload: stored as object,
        grantId: payload.grantId ?? null,
        accountId: payload.accountId ?? null,
        clientId: payload.clientId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      };
      const where = key(id);
      // A stand-in saves back the row it was found as; it never creates one (a deleted code stays gone).
      if (namedDigest(id)) await db.oidcPayload.updateMany({ where, data: fields });
      else await db.oidcPayload.upsert({ where: { type_id: where }, create: { ...where, ...fields }, update: fields });
    },

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (unstorable(id)) return undefined;
      const row = await db.oidcPayload.findUnique({ where: { type_id: key(id) } });
      return livePayload(namedDigest(id) && row?.consumedAt ? null : row, id);
    },

    findByUid: async (uid: string) => (unstorable(uid) ? undefined : findLive({ uid })),
    findByUserCode: async (userCode: string) => (unstorable(userCode) ? undefined : findLive({ userCode })),

    /**
     * One conditional update: of two concurrent redemptions, exactly one changes the row.
     * True when this call consumed it.
     */
    async consume(id: string): Promise<boolean> {
      if (unstorable(id) || namedDigest(id)) return false;
      const { count } = await db.oidcPayload.updateMany({ where: { ...key(id), consumedAt: null }, data: { consumedAt: new Date() } });
      return count > 0;
    },

    async destroy(id: string): Promise<void> {
      if (unstorable(id)) return;
      await db.oidcPayload.deleteMany({ where: key(id) });
    },

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.oidcPayload.deleteMany({ where: { type: model, grantId } });
    },
  };
}

export type ModelRows = ReturnType<typeof modelRows>;

/** A stored Grant (the consent a person gave a client); its id is not hashed. */
export interface GrantRow {
  id: string;
  clientId: string | null;
  payload: unknown;
  createdAt: Date;
  expiresAt: Date | null;
}

/** A stored Session (a person signed in to the provider in one browser); its id is the browser's cookie. */
export interface SessionRow {
  uid: string;
  payload: unknown;
  createdAt: Date;
}

/** Whose grants: a person's (optionally to one client), or a client's. */
export interface GrantOwner {
  accountId?: string;
  clientId?: string;
}

export function createProviderStore(db: Database) {
  const grantIds = async (owner: GrantOwner): Promise<string[]> =>
    (await db.oidcPayload.findMany({ where: { type: 'Grant', ...owner }, select: { id: true } })).map((g) => g.id);

  return {
    /** The adapter operations of one model (oidc-provider asks once per model name). */
    model: (name: string) => modelRows(db, name),

    grantIds,

    /** A person's grants, oldest first. */
    async grantsOf(accountId: string): Promise<GrantRow[]> {
      return db.oidcPayload.findMany({ where: { type: 'Grant', accountId }, orderBy: { createdAt: 'asc' } });
    },

    /** Deletes grants and every code, token and session-bound row issued under them. */
    async deleteGrants(ids: string[]): Promise<void> {
      await db.oidcPayload.deleteMany({ where: { OR: [{ grantId: { in: ids } }, { type: 'Grant', id: { in: ids } }] } });
    },

    /** Deletes the registration access tokens (RFC 7592) of a client that is gone. */
    async deleteRegistrationAccess(clientId: string): Promise<void> {
      await db.oidcPayload.deleteMany({ where: { type: 'RegistrationAccessToken', clientId } });
    },

    /** A person's live sessions with the provider, newest first; without their ids (a bearer value). */
    async sessionsOf(accountId: string): Promise<SessionRow[]> {
      const rows = await db.oidcPayload.findMany({ where: { type: 'Session', accountId }, orderBy: { createdAt: 'desc' }, select: { uid: true, payload: true, createdAt: true, expiresAt: true } });
      return rows.filter((row) => isLive(row) && row.uid).map(({ uid, payload, createdAt }) => ({ uid: uid!, payload, createdAt }));
    },

    /** Deletes a person's sessions with the provider, but the one `keepUid` names (their grants and tokens stay). */
    async deleteSessions(accountId: string, keepUid?: string): Promise<void> {
      await db.oidcPayload.deleteMany({ where: { type: 'Session', accountId, ...(keepUid ? { NOT: { uid: keepUid } } : {}) } });
    },

    /**
     * Deletes every row of a person: sessions, grants, and every code and token issued to them
     * or under their grants. Returns how many grants they held.
     */
    async deleteAccount(accountId: string): Promise<number> {
      const ids = await grantIds({ accountId });
      await db.oidcPayload.deleteMany({ where: { OR: [{ accountId }, { grantId: { in: ids } }] } });
      return ids.length;
    },

    /** Grants that had a code or token issued since `since`. */
    async grantIdsIssuedSince(since: Date): Promise<string[]> {
      const rows = await db.oidcPayload.findMany({
        where: { type: { in: [...TOKEN_MODELS] }, createdAt: { gte: since }, grantId: { not: null } },
        select: { grantId: true },
        distinct: ['grantId'],
      });
      return rows.map((r) => r.grantId!);
    },

    /**
     * Deletes the rows past their expiry (consumed ones included), `batchSize` at a time, so no
     * statement locks a large table for long. Returns how many it deleted.
     */
    async deleteExpired(batchSize: number): Promise<number> {
      return deleteInBatches(
        batchSize,
        (take) => db.oidcPayload.findMany({ where: { expiresAt: { lt: new Date() } }, select: { type: true, id: true }, take }),
        async (batch) => (await db.oidcPayload.deleteMany({ where: { OR: batch } })).count,
      );
    },
  };
}

export type ProviderStore = ReturnType<typeof createProviderStore>;
