import type { Database } from '../db/index.ts';
import type { ProviderStore } from '../provider-store/index.ts';

export interface GrantView {
  grantId: string;
  clientId: string;
  clientName: string | null;
  scope: string;
  createdAt: Date;
  expiresAt: Date | null;
}

/** A person signed in to the provider in one browser: since when, and the clients signed in through it. */
export interface SessionView {
  uid: string;
  signedInAt: Date;
  clientIds: string[];
}

interface SessionPayload {
  loginTs?: number;
  authorizations?: Record<string, { sid?: string }>;
}

/** A client a person was signed in to through a session that has ended, and that session's id for it. */
export interface EndedSignIn {
  accountId: string;
  clientId: string;
  sid: string;
}

interface GrantPayload {
  openid?: { scope?: string };
  resources?: Record<string, string>;
}

/** Every scope a grant holds: its OpenID Connect scopes and each API's. */
function grantedScopes(payload: GrantPayload): string {
  const scopes = [payload.openid?.scope ?? '', ...Object.values(payload.resources ?? {})].flatMap((s) => s.split(' ')).filter(Boolean);
  return [...new Set(scopes)].join(' ');
}

/** The consents users gave to clients (oidc-provider Grants), and their revocation. */
export function createGrants(db: Database, store: ProviderStore) {
  const endedListeners: ((ended: EndedSignIn[]) => void)[] = [];
  /** The clients signed in through the person's live sessions (but `keepUid`), with each session's sid for them. */
  async function signInsOf(accountId: string, keepUid?: string): Promise<EndedSignIn[]> {
    return (await store.sessionsOf(accountId))
      .filter((row) => row.uid !== keepUid)
      .flatMap((row) => Object.entries((row.payload as SessionPayload).authorizations ?? {}).flatMap(([clientId, { sid }]) => (sid ? [{ accountId, clientId, sid }] : [])));
  }
  /** The clients are told (back-channel logout) once the sessions are gone. */
  const tell = (ended: EndedSignIn[]) => {
    if (ended.length) for (const listener of endedListeners) listener(ended);
  };
  /** Deletes grants and every code, token and session-bound row issued under them. */
  async function revoke(grantIds: string[]): Promise<number> {
    if (grantIds.length === 0) return 0;
    await store.deleteGrants(grantIds);
    return grantIds.length;
  }

  return {
    async listForUser(accountId: string): Promise<GrantView[]> {
      const rows = await store.grantsOf(accountId);
      const clients = await db.client.findMany({ where: { id: { in: rows.map((r) => r.clientId!) } }, select: { id: true, name: true } });
      const names = new Map(clients.map((c) => [c.id, c.name]));
      return rows.map((row) => ({
        grantId: row.id,
        clientId: row.clientId ?? '',
        clientName: names.get(row.clientId ?? '') ?? null,
        scope: grantedScopes(row.payload as GrantPayload),
        createdAt: row.createdAt,
        expiresAt: row.expiresAt,
      }));
    },

    /** A user's grants, to one client or to all; returns how many were revoked. */
    async revokeForUser(accountId: string, clientId?: string): Promise<number> {
      return revoke(await store.grantIds({ accountId, ...(clientId ? { clientId } : {}) }));
    },

    /**
     * Everything a person holds with the provider: sessions, grants, and every code and token
     * issued to them, so nothing of theirs stays usable or introspects as active.
     */
    async endEverything(accountId: string): Promise<number> {
      const ended = await signInsOf(accountId);
      const grants = await store.deleteAccount(accountId);
      tell(ended);
      return grants;
    },

    async sessionsOf(accountId: string): Promise<SessionView[]> {
      return (await store.sessionsOf(accountId)).map((row) => {
        const payload = row.payload as SessionPayload;
        return {
          uid: row.uid,
          signedInAt: payload.loginTs ? new Date(payload.loginTs * 1000) : row.createdAt,
          clientIds: Object.keys(payload.authorizations ?? {}),
        };
      });
    },

    /**
     * Signs a person out of the provider everywhere, or everywhere but the session `keepUid`
     * names; what apps hold (grants, refresh tokens) stays.
     */
    async endSessions(accountId: string, keepUid?: string): Promise<void> {
      const ended = await signInsOf(accountId, keepUid);
      await store.deleteSessions(accountId, keepUid);
      tell(ended);
    },

    /** Calls `listener` with the sign-ins each `endSessions` (or `endEverything`) ended; returns what stops it. */
    onSessionsEnded(listener: (ended: EndedSignIn[]) => void): () => void {
      endedListeners.push(listener);
      return () => {
        const index = endedListeners.indexOf(listener);
        if (index !== -1) endedListeners.splice(index, 1);
      };
    },

    /** A deleted client's grants and tokens, and its registration access tokens if it registered itself. */
    async revokeForClient(clientId: string): Promise<number> {
      await store.deleteRegistrationAccess(clientId);
      return revoke(await store.grantIds({ clientId }));
    },

    /** Grants that had a code or token issued since `since`; returns how many were revoked. */
    async revokeIssuedSince(since: Date): Promise<number> {
      return revoke(await store.grantIdsIssuedSince(since));
    },

    revoke,
  };
}

export type Grants = ReturnType<typeof createGrants>;

/** The snake_case JSON form shared by the CLI and the admin API. */
export const grantJson = (g: GrantView) => ({ grant_id: g.grantId, client_id: g.clientId, client_name: g.clientName, scope: g.scope, created_at: g.createdAt, expires_at: g.expiresAt });
