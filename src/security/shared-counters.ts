import { createRequire } from 'node:module';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';

type Counted = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** The store contract of @fastify/rate-limit (its own typings lack `read`). */
interface Store {
  incr(key: string, done: Counted, timeWindow: number, max: number): void;
  read(key: string, done: Counted, timeWindow: number, max: number): void;
  child(routeOptions: object): Store;
}

interface StoreOptions {
  continueExceeding?: boolean;
  exponentialBackoff?: boolean;
}

// The plugin's own stores, which it does not export.
const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key: string) => Store;
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean) => Store;

/** The longest a request waits on a Redis that accepts connections but does not answer. */
// Long enough that a busy instance (a GC pause, a saturated core) does not take Redis for gone.
const REDIS_COMMAND_TIMEOUT_MS = 500;
const PROBE_INTERVAL_MS = 1000;
const DEGRADED = 'degraded: counting in this process';
const KEY_PREFIX = 'ostiary-rl-';

/**
 * Rate-limit counters shared by every instance through Redis, with a fallback: while Redis is
 * unreachable or failing, each limit is counted in this process instead (fail open, limits kept).
 * No request waits for a reconnection: commands are not queued while the link is down.
 */
export class SharedCounters {
  readonly redis: Redis;
  private readonly log: FastifyBaseLogger;
  /** A command failed on a connection ioredis still thinks is ready (a hung or overloaded Redis). */
  private commandFailed = false;
  private reported: 'up' | 'down' | undefined;
  private probe: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(url: string, log: FastifyBaseLogger) {
    this.log = log;
    this.redis = new Redis(url, { connectTimeout: 1000, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
    this.redis.on('ready', () => {
      this.commandFailed = false;
      this.report();
    });
    // Listening to 'error' also keeps ioredis from printing every failed reconnection.
    this.redis.on('error', (err: Error) => this.report(err));
    this.redis.on('close', () => this.report());
  }

  get usable(): boolean {
    return this.redis.status === 'ready' && !this.commandFailed;
  }

  /** The /readyz value: never a failure, since requests are still served and limited. */
  readiness(): string {
    return this.usable ? 'ok' : DEGRADED;
  }

  /** The plugin's `store` option: Redis while usable, else this process's memory. */
  get store() {
    const counters = this;
    return class extends FallbackStore {
      constructor({ continueExceeding = false, exponentialBackoff = false }: StoreOptions) {
        super(new RedisStore(continueExceeding, exponentialBackoff, counters.redis, KEY_PREFIX), new LocalStore(continueExceeding, exponentialBackoff), counters);
      }
    };
  }

  /** Waits briefly for the first connection, so that a starting instance shares its counts from the first request. */
  async connected(timeoutMs = 1000) {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done).off('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.redis.once('ready', done).once('error', done);
    });
  }

  failed(err: Error) {
    this.commandFailed = true;
    this.report(err);
    this.probe ??= setInterval(() => void this.ping(), PROBE_INTERVAL_MS).unref();
  }

  async close() {
    this.closing = true;
    clearInterval(this.probe);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** While commands fail on a ready connection, one PING a second finds out when they work again. */
  private async ping() {
    if (this.commandFailed && this.redis.status === 'ready') {
      try {
        await this.redis.ping();
        this.commandFailed = false;
        this.report();
      } catch {
        return;
      }
    }
    if (this.commandFailed) return;
    clearInterval(this.probe);
    this.probe = undefined;
  }

  /** Logs each change between shared and per-process counting once, not once per request. */
  private report(err?: Error) {
    if (this.closing) return;
    const now = this.usable ? 'up' : 'down';
    if (now === this.reported) return;
    if (now === 'down') this.log.warn({ redis: this.redis.status, reason: err?.message }, 'Redis unavailable: rate limits are counted in this process until it is back');
    else if (this.reported === 'down') this.log.info('Redis is back: rate limits are shared again');
    this.reported = now;
  }
}

class FallbackStore implements Store {
  private readonly shared: Store;
  private readonly local: Store;
  private readonly counters: SharedCounters;

  constructor(shared: Store, local: Store, counters: SharedCounters) {
    this.shared = shared;
    this.local = local;
    this.counters = counters;
  }

  incr(key: string, done: Counted, timeWindow: number, max: number) {
    this.use('incr', key, done, timeWindow, max);
  }

  read(key: string, done: Counted, timeWindow: number, max: number) {
    this.use('read', key, done, timeWindow, max);
  }

  child(routeOptions: object): Store {
    return new FallbackStore(this.shared.child(routeOptions), this.local.child(routeOptions), this.counters);
  }

  private use(method: 'incr' | 'read', key: string, done: Counted, timeWindow: number, max: number) {
    if (!this.counters.usable) return this.local[method](key, done, timeWindow, max);
    this.shared[method](
      key,
      (err, result) => {
        if (!err) return done(null, result);
        this.counters.failed(err);
        this.local[method](key, done, timeWindow, max);
      },
      timeWindow,
      max,
    );
  }
}
