import { createHash } from 'node:crypto';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { unstorable, type Database } from '../db/index.ts';
import type { ClientStore } from '../clients/index.ts';

/**
 * Models whose id is a bearer value (the opaque token itself). They are stored under a SHA-256
 * of the id and without `jti`, so a copy of the table hands out no working token. Sessions are
 * not here: they are also looked up by `uid` and must be able to return their own id.
 * DeviceCode is not here either (found by user code); the device flow is not enabled.
 */
const BEARER_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'PushedAuthorizationRequest',
  'BackchannelAuthenticationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
]);

/** Models that are redeemed; a lost race to consume one is an invalid grant, not a server error. */
const GRANT_MODELS = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

function isLive(row: { expiresAt: Date | null }): boolean {
  return !row.expiresAt || row.expiresAt.getTime() > Date.now();
}

class PrismaModelAdapter implements Adapter {
  private readonly db: Database;
  private readonly model: string;
  private readonly hashed: boolean;

  constructor(db: Database, model: string) {
    this.db = db;
    this.model = model;
    this.hashed = BEARER_MODELS.has(model);
  }

  private key(id: string): { type: string; id: string } {
    return { type: this.model, id: this.hashed ? sha256(id) : id };
  }

  private toPayload(row: { payload: unknown; consumedAt: Date | null }, id?: string): AdapterPayload {
    const payload = { ...(row.payload as AdapterPayload) };
    if (this.hashed && id) payload.jti = id;
    if (row.consumedAt) payload.consumed = epochSeconds(row.consumedAt);
    return payload;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const stored: AdapterPayload = JSON.parse(JSON.stringify(payload));
    if (this.hashed) delete stored.jti;
    const fields = {
      payload: stored as object,
      grantId: payload.grantId ?? null,
      accountId: payload.accountId ?? null,
      clientId: payload.clientId ?? null,
      userCode: payload.userCode ?? null,
      uid: payload.uid ?? null,
      expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
    };
    const key = this.key(id);
    await this.db.oidcPayload.upsert({ where: { type_id: key }, create: { ...key, ...fields }, update: fields });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (unstorable(id)) return undefined;
    const row = await this.db.oidcPayload.findUnique({ where: { type_id: this.key(id) } });
    return row && isLive(row) ? this.toPayload(row, id) : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    if (unstorable(uid)) return undefined;
    const row = await this.db.oidcPayload.findFirst({ where: { type: this.model, uid } });
    return row && isLive(row) ? this.toPayload(row) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    if (unstorable(userCode)) return undefined;
    const row = await this.db.oidcPayload.findFirst({ where: { type: this.model, userCode } });
    return row && isLive(row) ? this.toPayload(row) : undefined;
  }

  /** One conditional update: of two concurrent redemptions, exactly one changes the row. */
  async consume(id: string): Promise<void> {
    const { count } = await this.db.oidcPayload.updateMany({
      where: { ...this.key(id), consumedAt: null },
      data: { consumedAt: new Date() },
    });
    if (count === 0 && GRANT_MODELS.has(this.model)) throw new errors.InvalidGrant('grant request is invalid');
  }

  async destroy(id: string): Promise<void> {
    await this.db.oidcPayload.deleteMany({ where: this.key(id) });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.oidcPayload.deleteMany({ where: { type: this.model, grantId } });
  }
}

/** Clients come from Ostiary's own table; the provider may read them but never writes them. */
class ClientAdapter implements Adapter {
  private readonly clients: ClientStore;

  constructor(clients: ClientStore) {
    this.clients = clients;
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return (await this.clients.providerMetadata(id)) as AdapterPayload | undefined;
  }

  async upsert(): Promise<void> {
    throw new Error('clients are managed by Ostiary, not by the provider');
  }

  async findByUid(): Promise<undefined> {}
  async findByUserCode(): Promise<undefined> {}
  async consume(): Promise<void> {}
  async destroy(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}

/** The adapter factory oidc-provider calls once per model name. */
export function createAdapterFactory(db: Database, clients: ClientStore) {
  return (model: string): Adapter => (model === 'Client' ? new ClientAdapter(clients) : new PrismaModelAdapter(db, model));
}
