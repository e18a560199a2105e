import type Provider from 'oidc-provider';
import type { Audit } from '../audit/index.ts';
import type { EndedSignIn } from '../grants/index.ts';

/** Waits before each retry of a logout token a client did not take. */
const RETRY_SECONDS = [1, 5, 30];

type Deliverable = { clientId: string; backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> };

const pause = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000).unref());

/**
 * OpenID Connect Back-Channel Logout 1.0, delivered outside the request that ended the session:
 * the provider's own logout token (signed like an ID token, with `sid`) is posted in the
 * background, retried three times over about half a minute, and each outcome audited. A sign-out
 * never waits for, or fails because of, a client's logout endpoint.
 */
export function deliverLogoutsInBackground(provider: Provider, audit: Audit): void {
  const prototype = provider.Client.prototype as unknown as Deliverable;
  const send = prototype.backchannelLogout;

  async function deliver(client: Deliverable, sub: string, sid: string) {
    let attempt = 1;
    let failure: unknown;
    for (; ; attempt += 1) {
      try {
        await send.call(client, sub, sid);
        failure = undefined;
        break;
      } catch (error) {
        failure = error;
        if (attempt > RETRY_SECONDS.length) break;
        await pause(RETRY_SECONDS[attempt - 1]!);
      }
    }
    const event = { actor: 'system', subject: sub, clientId: client.clientId };
    if (failure === undefined) await audit.record({ ...event, type: 'logout.backchannel_sent', outcome: 'success', details: { attempts: attempt } });
    else await audit.record({ ...event, type: 'logout.backchannel_failed', outcome: 'failure', details: { attempts: attempt, reason: failure instanceof Error ? failure.message.slice(0, 300) : 'failed' } });
  }

  prototype.backchannelLogout = function backchannelLogout(this: Deliverable, sub: string, sid: string) {
    void deliver(this, sub, sid).catch(() => {});
    return Promise.resolve();
  };
}

/** Sessions Ostiary ended itself (sign out everywhere, a password reset, a disabled person): their clients are told too. */
export function logoutsForEndedSessions(provider: () => Provider) {
  return (ended: EndedSignIn[]) => {
    for (const { accountId, clientId, sid } of ended) {
      void (async () => {
        const client = (await provider().Client.find(clientId)) as unknown as Deliverable | undefined;
        if (client?.backchannelLogoutUri) await client.backchannelLogout(accountId, sid);
      })().catch(() => {});
    }
  };
}
