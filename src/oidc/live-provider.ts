import type Provider from 'oidc-provider';
import { renderDocuments } from './documents.ts';
import { createProvider, type ProviderDeps } from './provider.ts';

type Callback = ReturnType<Provider['callback']>;
type Documents = Awaited<ReturnType<typeof renderDocuments>>;

/**
 * oidc-provider fixes its keystore at construction. When the published signing keys change,
 * a new Provider is built over the same adapter, cookie keys and configuration and replaces the
 * old one in a single assignment: each request runs wholly on one or the other, never a mix.
 */
export async function createLiveProvider(deps: ProviderDeps, onCreate: (provider: Provider) => void = () => {}) {
  async function build() {
    const version = await deps.signingKeys.publishedVersion();
    const provider = await createProvider(deps);
    onCreate(provider);
    const callback = provider.callback();
    const documents = await renderDocuments(provider, callback, deps.config.issuer, deps.config.keys.jwksMaxAge);
    return { version, provider, callback, documents };
  }
  let live: { version: string; provider: Provider; callback: Callback; documents: Documents } = await build();

  return {
    get provider(): Provider {
      return live.provider;
    },
    get callback(): Callback {
      return live.callback;
    },
    /** Discovery and the JWKS of the live provider, serialized. */
    get documents(): Documents {
      return live.documents;
    },
    /** Rebuilds when the published keys changed; true when it did. */
    async refresh(): Promise<boolean> {
      if ((await deps.signingKeys.publishedVersion()) === live.version) return false;
      live = await build();
      return true;
    },
  };
}

export type LiveProvider = Awaited<ReturnType<typeof createLiveProvider>>;
