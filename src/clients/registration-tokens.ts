import { createHash, randomBytes } from 'node:crypto';
import type { Database, Transaction } from '../db/index.ts';
import type { Actor, Audit } from '../audit/index.ts';
import { fail } from '../errors.ts';

/**
 * The one owner of the `RegistrationToken` table: initial access tokens for dynamic client
 * registration (RFC 7591 section 3). A token is shown once and stored as its SHA-256.
 */

export interface RegistrationTokenView {
  id: string;
  maxClients: number | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdBy: string;
  lastUsedAt: Date | null;
  createdAt: Date;
}

export interface RegistrationTokenInput {
  /** How many registered clients may hold the token at once; undefined for no limit. */
  maxClients?: number;
  expiresAt?: Date | null;
}

type Row = Awaited<ReturnType<Database['registrationToken']['findUniqueOrThrow']>>;

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');
const MAX_TOKEN_LENGTH = 512;

function view(row: Row): RegistrationTokenView {
  const { tokenHash: _, ...rest } = row;
  return rest;
}

const isLive = (row: Row, now: Date) => !row.revokedAt && (!row.expiresAt || row.expiresAt > now);

function checkMaxClients(value: number | undefined): number | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw fail('registration_token.max_clients_invalid', 'the maximum number of clients must be a whole number from 1 to 1000000', { field: 'maxClients' });
  }
  return value;
}

export function createRegistrationTokens(db: Database, audit: Audit, clock: () => Date = () => new Date()) {
  async function find(id: string): Promise<Row> {
    const row = await db.registrationToken.findUnique({ where: { id } });
    if (!row) throw fail('registration_token.not_found', `no registration token ${id}`);
    return row;
  }

  /** The live token `value` is, found by its hash. */
  async function liveByValue(value: string, reader: Pick<Database, 'registrationToken'> = db): Promise<Row | undefined> {
    if (!value || value.length > MAX_TOKEN_LENGTH) return undefined;
    const row = await reader.registrationToken.findUnique({ where: { tokenHash: hashOf(value) } });
    return row && isLive(row, clock()) ? row : undefined;
  }

  return {
    /** A new token, returned here and never again. */
    async create(input: RegistrationTokenInput, actor: Actor): Promise<{ registrationToken: RegistrationTokenView; token: string }> {
      const maxClients = checkMaxClients(input.maxClients);
      if (input.expiresAt && input.expiresAt <= clock()) throw fail('registration_token.expiry_past', 'the expiry is not in the future', { field: 'expiresAt' });
      const token = randomBytes(32).toString('base64url');
      const id = randomBytes(8).toString('hex');
      const row = await db.$transaction(async (tx) => {
        const created = await tx.registrationToken.create({ data: { id, tokenHash: hashOf(token), maxClients, expiresAt: input.expiresAt ?? null, createdBy: actor.id } });
        await audit.change(actor, { type: 'registration_token.created', details: { id, max_clients: maxClients } }, tx);
        return created;
      });
      return { registrationToken: view(row), token };
    },

    async list(): Promise<RegistrationTokenView[]> {
      return (await db.registrationToken.findMany({ orderBy: { createdAt: 'asc' } })).map(view);
    },

    /** From the next registration on, the token is refused; the clients it registered stay. */
    async revoke(id: string, actor: Actor): Promise<RegistrationTokenView> {
      await find(id);
      return db.$transaction(async (tx) => {
        const row = await tx.registrationToken.update({ where: { id }, data: { revokedAt: clock() } });
        await audit.change(actor, { type: 'registration_token.revoked', details: { id } }, tx);
        return view(row);
      });
    },

    /** The provider's view of an initial access token (oidc-provider's `InitialAccessToken` model). */
    async providerPayload(value: string): Promise<Record<string, unknown> | undefined> {
      const row = await liveByValue(value);
      if (!row) return undefined;
      const exp = row.expiresAt ? Math.floor(row.expiresAt.getTime() / 1000) : undefined;
      return { jti: value, kind: 'InitialAccessToken', iat: Math.floor(row.createdAt.getTime() / 1000), ...(exp ? { exp } : {}) };
    },

    /**
     * For a registration in `tx`: the live token `value` is, touched first so that its row is
     * held until the transaction ends (registrations with one token are counted one at a time).
     */
    async claim(value: string, tx: Transaction): Promise<{ id: string; maxClients: number | null } | undefined> {
      const row = await liveByValue(value, tx);
      if (!row) return undefined;
      await tx.registrationToken.update({ where: { id: row.id }, data: { lastUsedAt: clock() } });
      return { id: row.id, maxClients: row.maxClients };
    },
  };
}

export type RegistrationTokens = ReturnType<typeof createRegistrationTokens>;

export const registrationTokenJson = (t: RegistrationTokenView) => ({
  id: t.id,
  max_clients: t.maxClients,
  expires_at: t.expiresAt,
  revoked_at: t.revokedAt,
  created_by: t.createdBy,
  last_used_at: t.lastUsedAt,
  created_at: t.createdAt,
});
