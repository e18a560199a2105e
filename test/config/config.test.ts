import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { createSecrets, parseKeyEncryptionKey, parseKeyEncryptionKeys, SecretDecryptionError } from '../../src/secrets/index.ts';

describe('configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, issuer: 'http://localhost:3000', production: false, logLevel: 'info' });
    expect(config.databaseUrl).toMatch(/^file:.*\/data\/ostiary\.db$/);
    expect(config.dynamicRegistration).toBe('off');
    expect(Object.isFrozen(config)).toBe(true);
    expect(config.cimd).toEqual({ mode: 'off', allowedHosts: [], allowLoopback: false });
    expect(loadConfig({ CIMD: 'allowlist', CIMD_ALLOWED_HOSTS: ' Agent.Example.com, tools.example.org ' }).cimd.allowedHosts).toEqual(['agent.example.com', 'tools.example.org']);
  });

  it.each([
    [{ PORT: 'abc' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ ISSUER: 'not a url' }, /ISSUER/],
    [{ ISSUER: 'https://id.example.com/?x=1' }, /ISSUER must not have a query/],
    [{ NODE_ENV: 'production', ISSUER: 'http://id.example.com' }, /ISSUER must use https/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ TRUST_PROXY: 'yes' }, /TRUST_PROXY/],
    [{ ACCESS_TOKEN_TTL_SECONDS: '-5' }, /ACCESS_TOKEN_TTL_SECONDS/],
    [{ KEY_ENCRYPTION_KEY: 'x', KEY_ENCRYPTION_KEY_FILE: '/tmp/x' }, /both set/],
    [{ KEY_ENCRYPTION_KEY_FILE: '/nonexistent/kek' }, /KEY_ENCRYPTION_KEY_FILE/],
    [{ CIMD: 'on' }, /CIMD/],
    [{ CIMD: 'allowlist' }, /CIMD=allowlist needs CIMD_ALLOWED_HOSTS/],
    [{ CIMD: 'allowlist', CIMD_ALLOWED_HOSTS: 'agent.example.com,https://x' }, /CIMD_ALLOWED_HOSTS: "https:\/\/x" is not a host name/],
    [{ NODE_ENV: 'production', ISSUER: 'https://id.example.com', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'), CIMD: 'open', CIMD_ALLOW_LOOPBACK: 'true' }, /CIMD_ALLOW_LOOPBACK is for development and tests/],
    [{ DYNAMIC_REGISTRATION: 'yes' }, /DYNAMIC_REGISTRATION/],
    [{ RATE_LIMIT_REGISTRATION_PER_IP: '0' }, /RATE_LIMIT_REGISTRATION_PER_IP/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadConfig(env as Record<string, string>)).toThrow(ConfigError);
    expect(() => loadConfig(env as Record<string, string>)).toThrow(message);
  });
});

describe('secret envelope', () => {
  const key = parseKeyEncryptionKey(Buffer.alloc(32, 7).toString('base64'));

  it('round-trips, binds the context, and refuses another key', () => {
    const secrets = createSecrets([key]);
    const sealed = secrets.seal('private material', 'signing-key:a');
    expect(sealed).not.toContain('private material');
    expect(secrets.open(sealed, 'signing-key:a')).toBe('private material');
    expect(() => secrets.open(sealed, 'signing-key:b')).toThrow(SecretDecryptionError);
    expect(() => createSecrets([Buffer.alloc(32, 8)]).open(sealed, 'signing-key:a')).toThrow(/not configured/);
  });

  it('seals under the first key and opens under any configured key', () => {
    const old = createSecrets([key]);
    const sealedOld = old.seal('kept', 'c');
    const rotated = createSecrets([Buffer.alloc(32, 9), key]);
    expect(rotated.open(sealedOld, 'c')).toBe('kept');
    expect(rotated.isCurrent(sealedOld)).toBe(false);
    const sealedNew = rotated.seal('kept', 'c');
    expect(rotated.isCurrent(sealedNew)).toBe(true);
    expect(() => old.open(sealedNew, 'c')).toThrow(SecretDecryptionError);
    expect(rotated.deriveAll('cookies')).toHaveLength(2);
    expect(rotated.deriveAll('cookies')[1]).toEqual(old.derive('cookies'));
  });

  it('accepts 32-byte keys in hex or base64 only', () => {
    expect(parseKeyEncryptionKey('ab'.repeat(32))).toHaveLength(32);
    expect(() => parseKeyEncryptionKey('too short')).toThrow(/32 bytes/);
    expect(parseKeyEncryptionKeys(`${'ab'.repeat(32)}, ${Buffer.alloc(32, 1).toString('base64')}`)).toHaveLength(2);
  });
});
