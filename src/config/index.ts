import { readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { z } from 'zod';
import { LOCALES, type Locale } from '../i18n/index.ts';
import { isAudience } from '../scopes/index.ts';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1');
const httpUrl = z.url({ protocol: /^https?$/ });
// An API audience: any absolute URI without a fragment (RFC 8707 section 2), `urn:` included.
const hexColor = z.string().regex(/^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i, 'must be a colour as #rgb or #rrggbb');
const audienceUri = z.string().refine(isAudience, 'must be an absolute URI without a fragment');

// Every variable Ostiary reads, with its default. Units are in the names.
const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.string().regex(/^\d{1,5}$/, 'must be a port number').default('3000').transform(Number).pipe(z.number().max(65535)),
  HOST: z.string().min(1).default('127.0.0.1'),
  ISSUER: httpUrl.optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.string().regex(/^(file:|postgres(ql)?:\/\/)/, 'must start with file: or postgres(ql)://').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  TRUST_PROXY: flag,
  KEY_ENCRYPTION_KEY: z.string().optional(),
  KEY_ENCRYPTION_KEY_FILE: z.string().optional(),
  DEFAULT_RESOURCE: audienceUri.optional(),
  ACCESS_TOKEN_TTL_SECONDS: seconds(900),
  ID_TOKEN_TTL_SECONDS: seconds(900),
  AUTHORIZATION_CODE_TTL_SECONDS: seconds(60),
  REFRESH_TOKEN_TTL_SECONDS: seconds(14 * 24 * 3600),
  REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS: seconds(90 * 24 * 3600),
  SESSION_TTL_SECONDS: seconds(14 * 24 * 3600),
  INTERACTION_TTL_SECONDS: seconds(3600),
  KEY_ROTATION_INTERVAL_SECONDS: seconds(30 * 24 * 3600),
  KEY_PREPUBLISH_SECONDS: seconds(24 * 3600),
  JWKS_MAX_AGE_SECONDS: seconds(3600),
  KEY_RELOAD_SECONDS: seconds(60),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
  RATE_LIMIT_WINDOW_SECONDS: seconds(60),
  RATE_LIMIT_TOKEN_PER_CLIENT: seconds(600),
  RATE_LIMIT_TOKEN_PER_IP: seconds(1200),
  RATE_LIMIT_AUTHORIZE_PER_IP: seconds(300),
  RATE_LIMIT_LOGIN_PER_IP: seconds(30),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: seconds(10),
  RATE_LIMIT_DEVICE_PER_IP: seconds(30),
  RATE_LIMIT_PASSWORD_RESET_PER_IP: seconds(10),
  RATE_LIMIT_PASSWORD_RESET_PER_ACCOUNT: seconds(3),
  RATE_LIMIT_SIGNUP_PER_IP: seconds(10),
  RATE_LIMIT_SIGNUP_PER_ACCOUNT: seconds(3),
  RATE_LIMIT_REGISTRATION_PER_IP: seconds(10),
  DYNAMIC_REGISTRATION: z.enum(['off', 'token', 'open']).default('off'),
  SIGNUP: z.enum(['closed', 'open', 'invite']).default('closed'),
  SIGNUP_ALLOWED_DOMAINS: z.string().optional(),
  REQUIRE_VERIFIED_EMAIL: z.enum(['true', 'false', '1', '0']).optional(),
  EMAIL_VERIFICATION_TTL_SECONDS: seconds(86_400),
  INVITATION_TTL_SECONDS: seconds(7 * 86_400),
  PASSWORD_RESET_TTL_SECONDS: seconds(1800),
  PASSWORD_RESET_REVOKES_GRANTS: z.enum(['true', 'false', '1', '0']).default('true').transform((v) => v === 'true' || v === '1'),
  MFA: z.enum(['optional', 'required']).default('optional'),
  ACCOUNT_DELETION: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
  DEFAULT_LOCALE: z.enum(LOCALES).default('en'),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8, 'must be at least 8 (NIST SP 800-63B)').max(256, 'must be at most 256, the longest password').default(12),
  LOGIN_LOCKOUT_THRESHOLD: seconds(5),
  LOGIN_LOCKOUT_BASE_SECONDS: seconds(30),
  LOGIN_LOCKOUT_MAX_SECONDS: seconds(900),
  /** Wrong second-step codes in a row that lock the second step; unset, LOGIN_LOCKOUT_THRESHOLD's. */
  MFA_LOCKOUT_THRESHOLD: z.coerce.number().int().positive().optional(),
  AUDIT_RETENTION_DAYS: seconds(90),
  RATE_LIMIT_ADMIN_PER_KEY: seconds(600),
  API_KEY_ROTATION_GRACE_SECONDS: seconds(86_400),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  WORKERS: z.string().regex(/^(auto|[1-9]\d{0,2})$/, 'must be a number of processes or auto').default('1'),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(10),
  CLEANUP_INTERVAL_SECONDS: seconds(600),
  CLEANUP_BATCH_SIZE: seconds(1000),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('ostiary'),
  CONFIG_FILE: z.string().min(1).optional(),
  SMTP_URL: z.string().regex(/^smtps?:\/\//i, 'must start with smtp:// or smtps://').optional(),
  MAIL_FROM: z.string().min(1).optional(),
  BRAND_NAME: z.string().trim().min(1).max(60, 'must be at most 60 characters').regex(/^[^\p{Cc}<>]+$/u, 'must not hold control characters, < or >').default('Ostiary'),
  BRAND_LOGO_URL: httpUrl.optional(),
  BRAND_LOGO_FILE: z.string().min(1).optional(),
  BRAND_PRIMARY_COLOR: hexColor.default('#2a5bd7'),
  BRAND_BACKGROUND_COLOR: hexColor.default('#f4f5f7'),
  BRAND_STYLESHEET: z.string().min(1).optional(),
  CIMD: z.enum(['off', 'allowlist', 'open']).default('off'),
  CIMD_ALLOWED_HOSTS: z.string().optional(),
  CIMD_ALLOW_LOOPBACK: flag,
  UPSTREAM_DOMAINS: z.string().optional(),
});

/** Every environment variable read, for the README's table (a test compares them). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape);

export interface Config {
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  readonly issuer: string;
  readonly dataDir: string;
  readonly databaseUrl: string;
  readonly logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  /** `json` or `pretty`; unset: pretty on a terminal outside production, JSON otherwise. */
  readonly logFormat: 'json' | 'pretty' | undefined;
  readonly trustProxy: boolean;
  /** The key-encryption key as given (base64 or hex text); undefined means "use the development key". */
  readonly keyEncryptionKey: string | undefined;
  readonly defaultResource: string | undefined;
  readonly ttl: Readonly<{
    accessToken: number;
    idToken: number;
    authorizationCode: number;
    /** Sliding: each rotation gets this long again... */
    refreshToken: number;
    /** ...but never past this long after the first refresh token of the grant. */
    refreshTokenAbsolute: number;
    session: number;
    interaction: number;
  }>;
  readonly keys: Readonly<{
    /** How long a key signs before the next one takes over. */
    rotationInterval: number;
    /** How long a next key is published before it signs. */
    prepublish: number;
    /** Cache-Control max-age of the JWKS. */
    jwksMaxAge: number;
    /** Bound on how long an instance takes to notice another instance's key transition. */
    reload: number;
  }>;
  readonly redisUrl: string | undefined;
  /** Requests per window, each per its key (client id, IP address, account email). */
  readonly rateLimits: Readonly<{
    windowSeconds: number;
    tokenPerClient: number;
    tokenPerIp: number;
    authorizePerIp: number;
    loginPerIp: number;
    loginPerAccount: number;
    devicePerIp: number;
    passwordResetPerIp: number;
    passwordResetPerAccount: number;
    signupPerIp: number;
    signupPerAccount: number;
    registrationPerIp: number;
    adminPerKey: number;
  }>;
  /** Dynamic client registration (RFC 7591/7592): `off`, `token` (an initial access token is required) or `open`. */
  readonly dynamicRegistration: 'off' | 'token' | 'open';
  /** How long a mailed password reset link works. */
  readonly passwordResetTtl: number;
  /** A password reset also revokes the person's grants and refresh tokens (sessions end either way). */
  readonly passwordResetRevokesGrants: boolean;
  readonly signup: SignupConfig;
  /** People may delete their own accounts on the account page. */
  readonly accountDeletion: boolean;
  /** Every sign-in needs a second factor: who has none sets one up before the sign-in continues. */
  readonly mfaRequired: boolean;
  /** The pages' and mails' language when neither `ui_locales` nor `Accept-Language` names a supported one. */
  readonly defaultLocale: Locale;
  /** What every new password must meet, whoever sets it. */
  readonly passwordPolicy: Readonly<{ minLength: number }>;
  /** How long a rotated API key keeps working beside its successor. */
  readonly apiKeyRotationGrace: number;
  /** After `threshold` failures an account locks for base * 2^(failures - threshold) seconds, at most max. */
  readonly lockout: LockoutPolicy;
  /** The same for wrong codes at the second step, on a counter of their own (its own threshold). */
  readonly mfaLockout: LockoutPolicy;
  /** Client ID metadata documents: an https URL as client_id, fetched from the hosts allowed. */
  readonly cimd: CimdConfig;
  /** UPSTREAM_DOMAINS: email domain -> the slug of the upstream its people sign in through. */
  readonly upstreamDomains: ReadonlyMap<string, string>;
  readonly auditRetentionDays: number;
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  readonly metricsToken: string | undefined;
  /** Processes serving the port: a number, or `auto` for one per core. */
  readonly workers: number | 'auto';
  /** In-flight requests get this long to finish after SIGTERM. */
  readonly shutdownTimeout: number;
  readonly cleanup: Readonly<{ intervalSeconds: number; batchSize: number }>;
  /** OpenTelemetry traces go here (OTLP/HTTP) when set; off otherwise. */
  readonly otel: Readonly<{ endpoint: string | undefined; serviceName: string }>;
  /** A configuration file `serve` applies at start (ostiary apply -f), when set. */
  readonly configFile: string | undefined;
  readonly mail: MailConfig;
  readonly brand: BrandConfig;
}

/** How the pages look, by configuration (views/ stays as shipped, so upgrades keep it). */
export interface BrandConfig {
  /** Shown in every page title and mail (the catalogues' `common:brand`). */
  readonly name: string;
  /** A logo above every page: at an address (its origin joins the pages' CSP img-src), or a file served at /assets/. */
  readonly logo: Readonly<{ kind: 'url'; url: string; origin: string } | { kind: 'file'; bytes: Buffer; contentType: string; extension: string }> | undefined;
  readonly primaryColor: string;
  readonly backgroundColor: string;
  /** An extra stylesheet, served after ours. */
  readonly stylesheet: string | undefined;
}

/** Who may create an account, and what an address must prove. */
export interface SignupConfig {
  /** `closed`: only operators create people; `open`: anyone; `invite`: with an operator's invitation. */
  readonly mode: 'closed' | 'open' | 'invite';
  /** When not empty, open sign-up takes only addresses at these domains (lower case, exact). */
  readonly allowedDomains: readonly string[];
  /** People whose address is not verified cannot sign in. */
  readonly requireVerifiedEmail: boolean;
  /** How long a mailed verification link works. */
  readonly verificationTtl: number;
  /** How long a mailed invitation works. */
  readonly invitationTtl: number;
}

/** An SMTP server as SMTP_URL names it; `password` must never reach a log. */
export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (`smtps://`); otherwise STARTTLS when the server offers it. */
  readonly secure: boolean;
  /** `?tls=required`: refuse to send unless the connection is upgraded with STARTTLS. */
  readonly requireTls: boolean;
  readonly user: string | undefined;
  readonly password: string | undefined;
}

/**
 * Outgoing mail: through SMTP; without SMTP_URL outside production, into `.eml` files in
 * `directory`; in production without SMTP_URL, off.
 */
export type MailConfig = Readonly<
  { from: string } & ({ transport: 'smtp'; smtp: SmtpSettings } | { transport: 'files'; directory: string } | { transport: 'off' })
>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function readSecret(env: Env, name: 'KEY_ENCRYPTION_KEY'): string | undefined {
  const file = env[`${name}_FILE`];
  if (env[name] && file) throw new ConfigError(`${name} and ${name}_FILE are both set: set only one`);
  if (!file) return env[name];
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new ConfigError(`${name}_FILE: cannot read ${file}`);
  }
}

/** A URL host (as `URL.hostname` gives it) that is this machine: plain http is allowed there. */
export const isLocalHost = (hostname: string) => ['localhost', '127.0.0.1', '[::1]'].includes(hostname);

function checkIssuer(issuer: string, production: boolean): string {
  const url = new URL(issuer);
  // `url.search` and `url.hash` are empty for a bare `?` or `#`: look at the text too.
  if (url.search || url.hash || /[?#]/.test(issuer)) throw new ConfigError('ISSUER must not have a query or fragment');
  const local = isLocalHost(url.hostname);
  if (production && url.protocol !== 'https:' && !local) throw new ConfigError('ISSUER must use https in production');
  return issuer.replace(/\/$/, '');
}

/** `smtp://user:pass@host:port` or `smtps://...`, optionally `?tls=required`. Errors never repeat the URL: it may hold a password. */
export function parseSmtpUrl(text: string): SmtpSettings {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('SMTP_URL is not a URL (smtp://user:password@host:port)');
  }
  const secure = url.protocol === 'smtps:';
  if (!secure && url.protocol !== 'smtp:') throw new ConfigError('SMTP_URL must start with smtp:// or smtps://');
  if (!url.hostname) throw new ConfigError('SMTP_URL names no host');
  if (url.pathname && url.pathname !== '/') throw new ConfigError('SMTP_URL must not have a path');
  if (url.hash) throw new ConfigError('SMTP_URL must not have a fragment');
  const params = [...url.searchParams];
  if (params.some(([name, value]) => name !== 'tls' || value !== 'required')) throw new ConfigError('SMTP_URL takes only the parameter tls=required');
  const decode = (part: string) => (part ? decodeURIComponent(part) : undefined);
  return Object.freeze({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTls: params.length > 0,
    user: decode(url.username),
    password: decode(url.password),
  });
}

/** A bare address or `Name <address>`, on one line. */
const MAIL_FROM_FORM = /^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

function mailConfig(e: z.infer<typeof EnvSchema>, production: boolean, dataDir: string, issuer: string): MailConfig {
  const from = e.MAIL_FROM?.trim() ?? `${displayName(e.BRAND_NAME)} <no-reply@${new URL(issuer).hostname}>`;
  if (!MAIL_FROM_FORM.test(from)) throw new ConfigError('MAIL_FROM must be an address or "Name <address>"');
  if (e.SMTP_URL) return Object.freeze({ from, transport: 'smtp', smtp: parseSmtpUrl(e.SMTP_URL) });
  if (production) return Object.freeze({ from, transport: 'off' });
  return Object.freeze({ from, transport: 'files', directory: join(dataDir, 'mail') });
}

const LOGO_TYPES: Record<string, string> = { '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };
const MAX_LOGO_BYTES = 512 * 1024;
const MAX_STYLESHEET_BYTES = 256 * 1024;

/** Reads a branding file once, at start; a missing, unreadable or oversized one stops the start naming its variable. */
function brandFile(name: string, path: string, maxBytes: number): Buffer {
  try {
    if (statSync(path).size > maxBytes) throw new ConfigError(`${name}: ${path} is larger than ${maxBytes / 1024} KiB`);
    return readFileSync(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function brandConfig(e: z.infer<typeof EnvSchema>, production: boolean): BrandConfig {
  if (e.BRAND_LOGO_URL && e.BRAND_LOGO_FILE) throw new ConfigError('set BRAND_LOGO_URL or BRAND_LOGO_FILE, not both');
  let logo: BrandConfig['logo'];
  if (e.BRAND_LOGO_URL) {
    const url = new URL(e.BRAND_LOGO_URL);
    if (production && url.protocol !== 'https:') throw new ConfigError('BRAND_LOGO_URL must be https in production');
    logo = Object.freeze({ kind: 'url', url: url.href, origin: url.origin });
  } else if (e.BRAND_LOGO_FILE) {
    const extension = extname(e.BRAND_LOGO_FILE).toLowerCase();
    const contentType = LOGO_TYPES[extension];
    if (!contentType) throw new ConfigError(`BRAND_LOGO_FILE must be ${Object.keys(LOGO_TYPES).join(', ')}`);
    logo = Object.freeze({ kind: 'file', bytes: brandFile('BRAND_LOGO_FILE', e.BRAND_LOGO_FILE, MAX_LOGO_BYTES), contentType, extension: extension === '.jpeg' ? '.jpg' : extension });
  }
  const stylesheet = e.BRAND_STYLESHEET ? brandFile('BRAND_STYLESHEET', e.BRAND_STYLESHEET, MAX_STYLESHEET_BYTES).toString('utf8') : undefined;
  return Object.freeze({ name: e.BRAND_NAME, logo, primaryColor: e.BRAND_PRIMARY_COLOR.toLowerCase(), backgroundColor: e.BRAND_BACKGROUND_COLOR.toLowerCase(), stylesheet });
}

/** A display name as RFC 5322 takes it: plain words as they are, anything else (commas, dots) quoted. */
const displayName = (name: string) => (/^[\w !#$%&'*+/=?^`{|}~-]+$/.test(name) ? name : `"${name.replace(/["\\]/g, '')}"`);

export type CimdConfig = Readonly<{
  mode: 'off' | 'allowlist' | 'open';
  /** With `allowlist`, the only hosts documents are fetched from. */
  allowedHosts: readonly string[];
  /** Documents may be fetched from loopback addresses (development and tests only). */
  allowLoopback: boolean;
}>;

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function cimdConfig(e: z.infer<typeof EnvSchema>, production: boolean): CimdConfig {
  const allowedHosts = (e.CIMD_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  const bad = allowedHosts.find((host) => !HOST_NAME.test(host));
  if (bad !== undefined) throw new ConfigError(`CIMD_ALLOWED_HOSTS: ${JSON.stringify(bad)} is not a host name (comma-separated, e.g. app.example.com,tools.example.org)`);
  if (e.CIMD === 'allowlist' && allowedHosts.length === 0) throw new ConfigError('CIMD=allowlist needs CIMD_ALLOWED_HOSTS (comma-separated host names)');
  if (e.CIMD_ALLOW_LOOPBACK && production) throw new ConfigError('CIMD_ALLOW_LOOPBACK is for development and tests: it is refused when NODE_ENV=production');
  return Object.freeze({ mode: e.CIMD, allowedHosts: Object.freeze(allowedHosts), allowLoopback: e.CIMD_ALLOW_LOOPBACK });
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const UPSTREAM_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** `corp.example=corp,example.org=okta`: which upstream the people of each email domain sign in through. */
function upstreamDomains(value: string | undefined): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const entry of (value ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const [domain = '', slug = '', ...rest] = entry.split('=').map((part) => part.trim());
    if (rest.length || !DOMAIN.test(domain.toLowerCase()) || !UPSTREAM_SLUG.test(slug)) {
      throw new ConfigError(`UPSTREAM_DOMAINS: ${JSON.stringify(entry)} is not DOMAIN=SLUG (comma-separated, e.g. corp.example=corp,example.org=okta)`);
    }
    map.set(domain.toLowerCase(), slug);
  }
  return map;
}

function signupConfig(e: z.infer<typeof EnvSchema>, mail: MailConfig): SignupConfig {
  const allowedDomains = (e.SIGNUP_ALLOWED_DOMAINS ?? '').split(',').map((d) => d.trim().toLowerCase()).filter(Boolean);
  const bad = allowedDomains.find((domain) => !DOMAIN.test(domain));
  if (bad !== undefined) throw new ConfigError(`SIGNUP_ALLOWED_DOMAINS: ${JSON.stringify(bad)} is not a domain name (comma-separated, e.g. example.com,example.org)`);
  if (e.SIGNUP !== 'closed') requireMail({ mail }, `SIGNUP=${e.SIGNUP}`);
  const required = e.REQUIRE_VERIFIED_EMAIL === undefined ? e.SIGNUP !== 'closed' : e.REQUIRE_VERIFIED_EMAIL === 'true' || e.REQUIRE_VERIFIED_EMAIL === '1';
  return Object.freeze({
    mode: e.SIGNUP,
    allowedDomains: Object.freeze(allowedDomains),
    requireVerifiedEmail: required,
    verificationTtl: e.EMAIL_VERIFICATION_TTL_SECONDS,
    invitationTtl: e.INVITATION_TTL_SECONDS,
  });
}

/**
 * For features that send mail (sign-up, verification, password reset): they refuse to start
 * where mail is off, that is in production without SMTP_URL.
 */
export function requireMail(config: Pick<Config, 'mail'>, feature: string): void {
  if (config.mail.transport === 'off') throw new ConfigError(`${feature} sends mail: set SMTP_URL (smtp://user:password@host:port)`);
}

function checkKeyTimings(e: z.infer<typeof EnvSchema>): void {
  if (e.KEY_PREPUBLISH_SECONDS < e.JWKS_MAX_AGE_SECONDS + e.KEY_RELOAD_SECONDS) {
    throw new ConfigError(
      'KEY_PREPUBLISH_SECONDS must be at least JWKS_MAX_AGE_SECONDS + KEY_RELOAD_SECONDS, so every cached JWKS holds a key before it signs',
    );
  }
  if (e.KEY_ROTATION_INTERVAL_SECONDS <= e.KEY_PREPUBLISH_SECONDS) {
    throw new ConfigError('KEY_ROTATION_INTERVAL_SECONDS must be longer than KEY_PREPUBLISH_SECONDS');
  }
}

/** Reads and validates the environment once; any bad value stops the start naming its variable. */
export function loadConfig(env: Env = process.env): Config {
  const blankless = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = EnvSchema.safeParse(blankless);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new ConfigError(`invalid configuration\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  checkKeyTimings(e);
  if (e.REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS < e.REFRESH_TOKEN_TTL_SECONDS) {
    throw new ConfigError('REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS must be at least REFRESH_TOKEN_TTL_SECONDS');
  }
  const production = e.NODE_ENV === 'production';
  const dataDir = resolve(e.DATA_DIR);
  const issuer = checkIssuer(e.ISSUER ?? `http://localhost:${e.PORT}`, production);
  const mail = mailConfig(e, production, dataDir, issuer);
  return Object.freeze({
    production,
    port: e.PORT,
    host: e.HOST,
    issuer,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `file:${dataDir}/ostiary.db`,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    trustProxy: e.TRUST_PROXY,
    keyEncryptionKey: readSecret(blankless, 'KEY_ENCRYPTION_KEY'),
    defaultResource: e.DEFAULT_RESOURCE,
    ttl: Object.freeze({
      accessToken: e.ACCESS_TOKEN_TTL_SECONDS,
      idToken: e.ID_TOKEN_TTL_SECONDS,
      authorizationCode: e.AUTHORIZATION_CODE_TTL_SECONDS,
      refreshToken: e.REFRESH_TOKEN_TTL_SECONDS,
      refreshTokenAbsolute: e.REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS,
      session: e.SESSION_TTL_SECONDS,
      interaction: e.INTERACTION_TTL_SECONDS,
    }),
    keys: Object.freeze({
      rotationInterval: e.KEY_ROTATION_INTERVAL_SECONDS,
      prepublish: e.KEY_PREPUBLISH_SECONDS,
      jwksMaxAge: e.JWKS_MAX_AGE_SECONDS,
      reload: e.KEY_RELOAD_SECONDS,
    }),
    redisUrl: e.REDIS_URL,
    rateLimits: Object.freeze({
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      tokenPerClient: e.RATE_LIMIT_TOKEN_PER_CLIENT,
      tokenPerIp: e.RATE_LIMIT_TOKEN_PER_IP,
      authorizePerIp: e.RATE_LIMIT_AUTHORIZE_PER_IP,
      loginPerIp: e.RATE_LIMIT_LOGIN_PER_IP,
      loginPerAccount: e.RATE_LIMIT_LOGIN_PER_ACCOUNT,
      devicePerIp: e.RATE_LIMIT_DEVICE_PER_IP,
      passwordResetPerIp: e.RATE_LIMIT_PASSWORD_RESET_PER_IP,
      passwordResetPerAccount: e.RATE_LIMIT_PASSWORD_RESET_PER_ACCOUNT,
      signupPerIp: e.RATE_LIMIT_SIGNUP_PER_IP,
      signupPerAccount: e.RATE_LIMIT_SIGNUP_PER_ACCOUNT,
      registrationPerIp: e.RATE_LIMIT_REGISTRATION_PER_IP,
      adminPerKey: e.RATE_LIMIT_ADMIN_PER_KEY,
    }),
    dynamicRegistration: e.DYNAMIC_REGISTRATION,
    passwordResetTtl: e.PASSWORD_RESET_TTL_SECONDS,
    passwordResetRevokesGrants: e.PASSWORD_RESET_REVOKES_GRANTS,
    passwordPolicy: Object.freeze({ minLength: e.PASSWORD_MIN_LENGTH }),
    signup: signupConfig(e, mail),
    accountDeletion: e.ACCOUNT_DELETION,
    mfaRequired: e.MFA === 'required',
    defaultLocale: e.DEFAULT_LOCALE,
    apiKeyRotationGrace: e.API_KEY_ROTATION_GRACE_SECONDS,
    metricsToken: e.METRICS_TOKEN,
    workers: e.WORKERS === 'auto' ? 'auto' : Number(e.WORKERS),
    shutdownTimeout: e.SHUTDOWN_TIMEOUT_SECONDS,
    cleanup: Object.freeze({ intervalSeconds: e.CLEANUP_INTERVAL_SECONDS, batchSize: e.CLEANUP_BATCH_SIZE }),
    otel: Object.freeze({ endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME }),
    configFile: e.CONFIG_FILE,
    mail,
    brand: brandConfig(e, production),
    lockout: Object.freeze({ threshold: e.LOGIN_LOCKOUT_THRESHOLD, baseSeconds: e.LOGIN_LOCKOUT_BASE_SECONDS, maxSeconds: e.LOGIN_LOCKOUT_MAX_SECONDS }),
    mfaLockout: Object.freeze({ threshold: e.MFA_LOCKOUT_THRESHOLD ?? e.LOGIN_LOCKOUT_THRESHOLD, baseSeconds: e.LOGIN_LOCKOUT_BASE_SECONDS, maxSeconds: e.LOGIN_LOCKOUT_MAX_SECONDS }),
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    cimd: cimdConfig(e, production),
    upstreamDomains: upstreamDomains(e.UPSTREAM_DOMAINS),
  });
}

/** Failures in a row that lock (`threshold`), and the lock's first and longest length in seconds. */
export type LockoutPolicy = Readonly<{ threshold: number; baseSeconds: number; maxSeconds: number }>;

/**
 * Until when `failures` failures in a row lock, under `policy` (from the threshold on, for an
 * exponentially growing time); undefined below the threshold.
 */
export function lockedUntilAfter(policy: LockoutPolicy, failures: number, now: Date): Date | undefined {
  if (failures < policy.threshold) return undefined;
  const seconds = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** (failures - policy.threshold));
  return new Date(now.getTime() + seconds * 1000);
}
