import { isLocalHost, type Config } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import type { KeyPolicy, SigningKeySummary } from '../keys/index.ts';
import { item, type CheckItem } from './item.ts';

export interface InsideState {
  config: Config;
  db: Database;
  provider: 'sqlite' | 'postgresql';
  policy: KeyPolicy;
  keys: SigningKeySummary[];
  pendingMigrations: string[];
  /** The longest access or ID token lifetime any client has of its own, in seconds. */
  longestClientTtl: number;
  /** The origins of registered redirect URIs: the only browser origins the token endpoints accept. */
  corsOrigins: string[];
  now: Date;
}


async function databaseClock(db: Database, provider: 'sqlite' | 'postgresql'): Promise<Date> {
  if (provider === 'postgresql') return (await db.$queryRawUnsafe<{ now: Date }[]>('SELECT now() AS now'))[0]!.now;
  const [row] = await db.$queryRawUnsafe<{ now: string }[]>("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AS now");
  return new Date(row!.now);
}

function issuerItems(config: Config): CheckItem[] {
  const url = new URL(config.issuer);
  const local = isLocalHost(url.hostname);
  const https = url.protocol === 'https:';
  return [
    https
      ? item('https_issuer', 'pass', `ISSUER ${config.issuer} uses https`, 'Keep TLS in front of every instance.')
      : item('https_issuer', local ? 'warn' : 'fail', `ISSUER ${config.issuer} uses plain http`, 'Set ISSUER to the https URL relying parties use.'),
    https
      ? item('hsts', 'pass', 'Strict-Transport-Security is sent for an https issuer', 'Check from outside that the proxy passes it on.')
      : item('hsts', local ? 'warn' : 'fail', 'no HSTS for a plain http issuer', 'Use an https issuer: Ostiary sends Strict-Transport-Security for it.'),
    https && !config.trustProxy
      ? item('cookies_secure', 'fail', 'ISSUER is https but TRUST_PROXY is false: cookies behind the TLS proxy are not Secure', 'Set TRUST_PROXY=true behind the TLS-terminating proxy.')
      : item('cookies_secure', https ? 'pass' : local ? 'warn' : 'fail', https ? 'cookies are Secure behind the TLS proxy (TRUST_PROXY=true)' : 'cookies are not Secure over plain http', 'Serve over https so cookies are Secure.'),
    !https && config.trustProxy
      ? item('trust_proxy', 'warn', 'TRUST_PROXY is true with a plain http issuer', 'Trust forwarded headers only behind your own proxy; with no proxy, set TRUST_PROXY=false.')
      : item('trust_proxy', 'pass', `TRUST_PROXY=${config.trustProxy} matches an ${url.protocol.slice(0, -1)} issuer`, 'Make sure the proxy overwrites X-Forwarded-For/-Proto/-Host.'),
  ];
}

function keyItems(state: InsideState): CheckItem[] {
  const { keys, policy, now, config } = state;
  const published = keys.filter((k) => !k.removedAt && !k.revokedAt);
  const current = published.find((k) => k.state === 'current');
  const next = published.find((k) => k.state === 'next');
  const items: CheckItem[] = [];
  if (!current) items.push(item('key_rotation', 'fail', 'no key signs', 'Start the server or run keys rotate to make a signing key.'));
  else {
    const retires = current.retiresAt?.getTime() ?? Infinity;
    const dueNext = retires - policy.prepublish * 1000 <= now.getTime();
    const nextEarly = !next || !next.activatesAt || next.activatesAt.getTime() - next.createdAt.getTime() >= policy.prepublish * 1000 - 1000;
    if (dueNext && !next) items.push(item('key_rotation', 'fail', `the current key ${current.kid} retires at ${current.retiresAt?.toISOString()} and no next key is published`, 'Keep a server running: its key job publishes the next key KEY_PREPUBLISH_SECONDS ahead.'));
    else if (!nextEarly) items.push(item('key_rotation', 'fail', `the next key ${next!.kid} signs less than KEY_PREPUBLISH_SECONDS after it was published`, 'Let the next key be published for KEY_PREPUBLISH_SECONDS before it signs.'));
    else items.push(item('key_rotation', 'pass', `${current.kid} signs${next ? `; ${next.kid} is published and signs from ${next.activatesAt?.toISOString()}` : `; the next key is published from ${new Date(retires - policy.prepublish * 1000).toISOString()}`}`, 'Nothing to do.'));
  }
  const longest = Math.max(config.ttl.accessToken, config.ttl.idToken, state.longestClientTtl);
  const shortRetired = keys.filter((k) => k.retiredAt && k.removesAt && (k.removesAt.getTime() - k.retiredAt.getTime()) / 1000 < longest);
  items.push(
    policy.retention < longest || shortRetired.length
      ? item('key_retention', 'fail', `retired keys stay published ${policy.retention} seconds but tokens live up to ${longest} seconds${shortRetired.length ? ` (${shortRetired.map((k) => k.kid).join(', ')})` : ''}`, 'Lower the per-client token lifetimes (clients ... --access-token-ttl) to the configured ones, or raise ACCESS_TOKEN_TTL_SECONDS.')
      : item('key_retention', 'pass', `retired keys stay published ${policy.retention} seconds, longer than the longest token (${longest} seconds)`, 'Nothing to do.'),
  );
  return items;
}

/** In production, a loopback origin among the allowed ones is a development client left behind. */
function corsItem(config: Config, origins: string[]): CheckItem {
  const loopback = origins.filter((o) => isLocalHost(new URL(o).hostname));
  if (config.production && loopback.length) {
    return item('cors', 'warn', `the token endpoints accept browser requests from ${loopback.join(', ')}`, 'Delete development clients with loopback redirect URIs from production.');
  }
  return item('cors', 'pass', origins.length ? `browser origins accepted by the token endpoints: ${origins.join(', ')}` : 'no browser origin is accepted by the token endpoints', 'Register only the redirect URIs you serve: their origins are the allowed ones.');
}

/** Sign-in limits above these (per minute) no longer slow password guessing down. */
const MOST_SIGN_INS_PER_MINUTE = { loginPerAccount: 60, loginPerIp: 600 } as const;
const LIMIT_VARIABLES = { loginPerAccount: 'RATE_LIMIT_LOGIN_PER_ACCOUNT', loginPerIp: 'RATE_LIMIT_LOGIN_PER_IP' } as const;

function rateLimitItem(config: Config): CheckItem {
  const r = config.rateLimits;
  const loose = (Object.keys(MOST_SIGN_INS_PER_MINUTE) as (keyof typeof MOST_SIGN_INS_PER_MINUTE)[]).filter((k) => (r[k] * 60) / r.windowSeconds > MOST_SIGN_INS_PER_MINUTE[k]);
  const limits = `token ${r.tokenPerClient}/client and ${r.tokenPerIp}/IP, authorize ${r.authorizePerIp}/IP, sign-in ${r.loginPerIp}/IP and ${r.loginPerAccount}/account per ${r.windowSeconds} s`;
  return loose.length
    ? item('rate_limits', 'warn', `${loose.map((k) => LIMIT_VARIABLES[k]).join(' and ')} allow more than ${loose.map((k) => MOST_SIGN_INS_PER_MINUTE[k]).join(' and ')} sign-ins a minute: ${limits}`, 'Lower the sign-in limits so password guessing stays slow.')
    : item('rate_limits', 'pass', `on: ${limits}`, 'Tune the RATE_LIMIT_* variables to your traffic.');
}

/** Checks a deployment from inside: its configuration and its database. */
export async function checkFromInside(state: InsideState): Promise<CheckItem[]> {
  const { config } = state;
  const items = issuerItems(config);
  items.push(...keyItems(state));
  const dbNow = await databaseClock(state.db, state.provider);
  const skew = Math.round(Math.abs(dbNow.getTime() - state.now.getTime()) / 1000);
  items.push(
    skew > 300
      ? item('clock_skew', 'fail', `this machine's clock is ${skew} seconds off the database's`, 'Run NTP on every server and on the database host.')
      : skew > 30
        ? item('clock_skew', 'warn', `this machine's clock is ${skew} seconds off the database's`, 'Run NTP on every server and on the database host.')
        : item('clock_skew', 'pass', `within ${Math.max(skew, 1)} seconds of the database's clock`, 'Nothing to do.'),
  );
  items.push(
    state.pendingMigrations.length
      ? item('migrations', 'fail', `not applied: ${state.pendingMigrations.join(', ')}`, 'Run ostiary migrate (serve applies them at start).')
      : item('migrations', 'pass', 'every committed migration is applied', 'Nothing to do.'),
  );
  items.push(
    config.keyEncryptionKey
      ? item('key_encryption_key', 'pass', 'KEY_ENCRYPTION_KEY is set', 'Keep a copy of it with the database backups.')
      : item('key_encryption_key', config.production ? 'fail' : 'warn', 'the development key-encryption key in DATA_DIR is in use', 'Set KEY_ENCRYPTION_KEY (openssl rand -base64 32) and run secrets rewrap.'),
  );
  const several = config.workers === 'auto' || config.workers > 1;
  const shared = state.provider === 'postgresql';
  items.push(
    !config.redisUrl && (several || shared)
      ? item('redis', 'warn', `${several ? `WORKERS=${config.workers}` : 'a shared PostgreSQL database'} without REDIS_URL: each process counts rate limits alone`, 'Set REDIS_URL so every instance shares the rate-limit counters.')
      : item('redis', 'pass', config.redisUrl ? 'REDIS_URL is set' : 'one process on an embedded database needs no Redis', 'Set REDIS_URL once several instances serve.'),
  );
  items.push(corsItem(config, state.corsOrigins), rateLimitItem(config));
  return items;
}
