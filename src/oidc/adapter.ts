import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ClientStore } from '../clients/index.ts';
import { REDEEMABLE_MODELS, type ModelRows, type ProviderStore } from '../provider-store/index.ts';

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
export function createAdapterFactory(store: ProviderStore, clients: ClientStore) {
  return (model: string): Adapter => (model === 'Client' ? new ClientAdapter(clients) : new StoredModelAdapter(store, model));
}
