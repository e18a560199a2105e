import type { FastifyBaseLogger } from 'fastify';
import type { Transition } from './model.ts';

interface Deps {
  /** The transitions that are due, performed (see lifecycle.ts). */
  signingKeys: { tick(): Promise<Transition[]> };
  /** Reloads the provider's keystore when the published keys changed. */
  reload(): Promise<boolean>;
  /** Seconds; an instance notices another's transition within this bound. */
  reloadSeconds: number;
  log: FastifyBaseLogger;
  /** False in every worker but one: transitions are jobs; reloading is every process's. */
  transitions: boolean;
}

/**
 * Drives key transitions and keystore reloads on a timer. Every instance runs it; the
 * transitions are conditional writes, so each happens once however many instances try.
 */
export function startKeyScheduler({ signingKeys, reload, reloadSeconds, log, transitions: runTransitions }: Deps) {
  let running: Promise<Transition[]> | undefined;

  async function runOnce(): Promise<Transition[]> {
    const transitions = runTransitions ? await signingKeys.tick() : [];
    for (const t of transitions) log.info({ kid: t.kid, from: t.from, to: t.to }, 'signing key transition');
    if (await reload()) log.info('signing keys reloaded');
    return transitions;
  }

  const run = () => (running ??= runOnce().finally(() => (running = undefined)));
  // Polling at half the bound keeps the delay within it, query time included.
  const timer = setInterval(() => run().catch((err) => log.error({ err }, 'signing key schedule failed')), (reloadSeconds * 1000) / 2);
  timer.unref();

  return {
    /** Runs the schedule now (tests and `keys rotate` on a live server use it). */
    run,
    stop: () => clearInterval(timer),
  };
}

export type KeyScheduler = ReturnType<typeof startKeyScheduler>;
