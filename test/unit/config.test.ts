import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

/** The ConfigError `env` is refused with (the test fails if it is accepted or fails otherwise). */
function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

// Cases test/config/config.test.ts does not already have. Each names the variable at fault.
describe('configuration values refused, naming the variable', () => {
  it.each([
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PORT', '8080abc'],
    ['PORT', 'Infinity'],
    ['ACCESS_TOKEN_TTL_SECONDS', '0'],
    ['ACCESS_TOKEN_TTL_SECONDS', '1.5'],
    ['ID_TOKEN_TTL_SECONDS', 'ten'],
    ['SESSION_TTL_SECONDS', '1e400'],
    ['REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS', '99999999999999999999'],
    ['RATE_LIMIT_TOKEN_PER_CLIENT', '0'],
    ['LOGIN_LOCKOUT_THRESHOLD', '-3'],
    ['WORKERS', '0'],
    ['WORKERS', '1000'],
    ['WORKERS', 'many'],
    ['NODE_ENV', 'staging'],
    ['TRUST_PROXY', 'on'],
    ['TRUST_PROXY', 'TRUE'],
    ['TRUST_PROXY', '2'],
    ['TRUST_PROXY', 'no'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'warning'],
    ['LOG_LEVEL', 'INFO'],
    ['DATABASE_URL', 'sqlite:./ostiary.db'],
    ['DATABASE_URL', 'postgres:/db.example.com/ostiary'],
    ['DATABASE_URL', 'https://db.example.com/ostiary'],
    ['DATABASE_URL', './data/ostiary.db'],
    ['REDIS_URL', 'http://cache.example.com'],
    ['METRICS_TOKEN', 'too-short'],
    ['DEFAULT_RESOURCE', 'billing'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
    ['ISSUER', 'id.example.com'],
    ['ISSUER', 'ftp://id.example.com'],
    ['ISSUER', 'https://id.example.com/#top'],
    ['DEFAULT_LOCALE', 'es'],
    ['DEFAULT_LOCALE', 'de-DE'],
    ['BRAND_NAME', 'x'.repeat(61)],
    ['BRAND_NAME', 'Acme\nID'],
    ['BRAND_NAME', '<b>Acme</b>'],
    ['BRAND_PRIMARY_COLOR', 'blue'],
    ['BRAND_PRIMARY_COLOR', '#12345'],
    ['BRAND_BACKGROUND_COLOR', 'rgb(0,0,0)'],
    ['BRAND_LOGO_URL', 'javascript:alert(1)'],
    ['BRAND_LOGO_URL', 'logo.svg'],
    ['BRAND_LOGO_FILE', '/nonexistent/logo.png'],
    ['BRAND_LOGO_FILE', 'package.json'],
    ['BRAND_STYLESHEET', '/nonexistent/brand.css'],
  ])('%s=%j', (name, value) => {
    const error = refusal({ [name]: value });
    expect(error.message).toContain(name);
  });

  it.each(['http://id.example.com', 'http://id.example.com:8080/tenant', 'http://localhost.example.com', 'http://10.0.0.1'])(
    'ISSUER=%j in production (https required)',
    (issuer) => {
      expect(refusal({ NODE_ENV: 'production', ISSUER: issuer }).message).toMatch(/ISSUER must use https/);
    },
  );

  it('names the brand as the default sender, quoted', () => {
    expect(loadConfig({}).mail.from).toBe('Ostiary <no-reply@localhost>');
    expect(loadConfig({ BRAND_NAME: 'Acme ID' }).mail.from).toBe('Acme ID <no-reply@localhost>');
    expect(loadConfig({ BRAND_NAME: 'Acme, Inc. "ID"', ISSUER: 'https://id.acme.example' }).mail.from).toBe('"Acme, Inc. ID" <no-reply@id.acme.example>');
    expect(loadConfig({ BRAND_NAME: 'Acme', MAIL_FROM: 'it@acme.example' }).mail.from).toBe('it@acme.example');
  });

  it('refuses two logos, and a logo over plain http in production', () => {
    expect(refusal({ BRAND_LOGO_URL: 'https://cdn.example.com/logo.svg', BRAND_LOGO_FILE: 'views/ostiary.css' }).message).toMatch(/BRAND_LOGO_URL or BRAND_LOGO_FILE/);
    expect(refusal({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', BRAND_LOGO_URL: 'http://cdn.example.com/logo.svg' }).message).toMatch(/^BRAND_LOGO_URL must be https/);
  });

  it('lists every variable at fault at once', () => {
    const { message } = refusal({ PORT: 'x', LOG_LEVEL: 'loud', TRUST_PROXY: 'yes' });
    for (const name of ['PORT', 'LOG_LEVEL', 'TRUST_PROXY']) expect(message).toContain(name);
  });

  it('refuses key timings under which a cached JWKS could miss the signing key', () => {
    expect(refusal({ KEY_PREPUBLISH_SECONDS: '600', JWKS_MAX_AGE_SECONDS: '600', KEY_RELOAD_SECONDS: '60' }).message).toMatch(/^KEY_PREPUBLISH_SECONDS must be at least/);
    expect(refusal({ KEY_ROTATION_INTERVAL_SECONDS: '86400', KEY_PREPUBLISH_SECONDS: '86400' }).message).toMatch(/^KEY_ROTATION_INTERVAL_SECONDS must be longer/);
    expect(refusal({ REFRESH_TOKEN_TTL_SECONDS: '100', REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS: '99' }).message).toMatch(/^REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS/);
  });

  // Coerced loosely, spaces are the number 0 (any free port, and an issuer of http://localhost:0).
  it('PORT=" " (not a number)', () => {
    expect(refusal({ PORT: ' ' }).message).toContain('PORT');
  });

  // A bare `?` or `#` leaves url.search and url.hash empty, yet would end up in the issuer.
  it.each(['https://id.example.com?', 'https://id.example.com#'])('ISSUER=%j (an empty query or fragment)', (issuer) => {
    let accepted: string;
    try {
      accepted = loadConfig({ ISSUER: issuer }).issuer;
    } catch (error) {
      expect((error as Error).message).toContain('ISSUER'); // refusing it is right
      return;
    }
    expect(accepted).toBe('https://id.example.com'); // and so is dropping the empty part
  });
});

describe('configuration values accepted', () => {
  it('allows http in production only for a loopback issuer', () => {
    for (const issuer of ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000']) {
      expect(loadConfig({ NODE_ENV: 'production', ISSUER: issuer })).toMatchObject({ production: true, issuer });
    }
    expect(loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com' }).issuer).toBe('https://id.example.com');
    expect(loadConfig({ NODE_ENV: 'development', ISSUER: 'http://id.example.com' }).issuer).toBe('http://id.example.com');
  });

  it('drops one trailing slash from ISSUER, keeping its path', () => {
    expect(loadConfig({ ISSUER: 'https://id.example.com/' }).issuer).toBe('https://id.example.com');
    expect(loadConfig({ ISSUER: 'https://id.example.com/tenant/' }).issuer).toBe('https://id.example.com/tenant');
    expect(loadConfig({ ISSUER: 'https://id.example.com/tenant' }).issuer).toBe('https://id.example.com/tenant');
  });

  it('defaults ISSUER to localhost on the configured port', () => {
    expect(loadConfig({ PORT: '8080' }).issuer).toBe('http://localhost:8080');
  });

  it('reads TRUST_PROXY as true/false or 1/0 only, false when unset', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({}).trustProxy).toBe(false);
  });

  it('takes every pino level for LOG_LEVEL', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it('takes SQLite file: and PostgreSQL URLs for DATABASE_URL, else a database in DATA_DIR', () => {
    for (const url of ['file:./ostiary.db', 'file:/var/lib/ostiary/ostiary.db', 'postgres://ostiary@db/ostiary', 'postgresql://ostiary:pw@db:5432/ostiary?sslmode=require']) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
    expect(loadConfig({ DATA_DIR: '/srv/ostiary' }).databaseUrl).toBe('file:/srv/ostiary/ostiary.db');
  });

  it('reads numbers in range as numbers, and the bounds themselves', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65535);
    expect(loadConfig({ ACCESS_TOKEN_TTL_SECONDS: '1' }).ttl.accessToken).toBe(1);
    expect(loadConfig({ WORKERS: '4' }).workers).toBe(4);
    expect(loadConfig({ WORKERS: 'auto' }).workers).toBe('auto');
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '', TRUST_PROXY: '', ISSUER: '', DATABASE_URL: '' })).toMatchObject({
      port: 3000,
      logLevel: 'info',
      trustProxy: false,
      issuer: 'http://localhost:3000',
      databaseUrl: expect.stringMatching(/^file:.*\/ostiary\.db$/),
    });
  });
});
