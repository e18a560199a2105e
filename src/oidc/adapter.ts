import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ClientStore } from '../clients/index.ts';
import { REDEEMABLE_MODELS, type ModelRows, type ProviderStore } from '../provider-store/index.ts';
import { registrationWrites, type Registrations } from './registration.ts';

/** One model's rows in the provider store (hashed ids, derived columns, live checks live there). */
class StoredModelAdapter implements Adapter {
  private readonly rows: ModelRows;
  private readonly model: string;

  constructor(store: ProviderStore, model: string) {
    this.rows = store.model(model);
    this.model = model;
  }

  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    return this.rows.upsert(id, payload, expiresIn);
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.rows.find(id);
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.rows.findByUid(uid);
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.rows.findByUserCode(userCode);
  }

  /** Of two concurrent redemptions exactly one consumes; the other's is an invalid grant. */
  async consume(id: string): Promise<void> {
    if (!(await this.rows.consume(id)) && REDEEMABLE_MODELS.has(this.model)) throw new errors.InvalidGrant('grant request is invalid');
  }

  destroy(id: string): Promise<void> {
    return this.rows.destroy(id);
  }

  revokeByGrantId(grantId: string): Promise<void> {
    return this.rows.revokeByGrantId(grantId);
  }
}

/**
 * Clients come from Ostiary's own table. The provider writes one only at its registration
 * endpoints, and then through the clients service, for clients that registered themselves.
 */
class ClientAdapter implements Adapter {
  private readonly clients: ClientStore;
  private readonly writes: ReturnType<typeof registrationWrites>;

  constructor(clients: ClientStore, registrations: Registrations | undefined) {
    this.clients = clients;
    this.writes = registrationWrites(registrations);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return (await this.clients.providerMetadata(id)) as AdapterPayload | undefined;
  }

  upsert(id: string, payload: AdapterPayload): Promise<void> {
    return this.writes.upsert(id, payload);
  }

  destroy(id: string): Promise<void> {
    return this.writes.destroy(id);
  }

  async findByUid(): Promise<undefined> {}
  async findByUserCode(): Promise<undefined> {}
  async consume(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}

/** Initial access tokens (RFC 7591) are Ostiary's own (`clients registration-token create`): read only. */
class InitialAccessTokenAdapter implements Adapter {
  private readonly registrations: Registrations | undefined;

  constructor(registrations: Registrations | undefined) {
    this.registrations = registrations;
  }

  async find(value: string): Promise<AdapterPayload | undefined> {
    return (await this.registrations?.tokens.providerPayload(value)) as AdapterPayload | undefined;
  }

  async upsert(): Promise<void> {
    throw new Error('initial access tokens are created with ostiary clients registration-token create');
  }

  async findByUid(): Promise<undefined> {}
  async findByUserCode(): Promise<undefined> {}
  async consume(): Promise<void> {}
  async destroy(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}

/** The adapter factory oidc-provider calls once per model name. */
export function createAdapterFactory(store: ProviderStore, clients: ClientStore, registrations?: Registrations) {
  return (model: string): Adapter => {
    if (model === 'Client') return new ClientAdapter(clients, registrations);
    if (model === 'InitialAccessToken') return new InitialAccessTokenAdapter(registrations);
    return new StoredModelAdapter(store, model);
  };
}
