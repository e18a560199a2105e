import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config/index.ts';

const DEV_KEY_FILE = 'dev-key-encryption-key';
const VERSION = 'v1';

export interface Secrets {
  /** Encrypts `plaintext` with AES-256-GCM, bound to `context` (e.g. the row it belongs to). */
  seal(plaintext: string, context: string): string;
  /** Decrypts what `seal` produced; throws if the key or the context differ. */
  open(sealed: string, context: string): string;
  /** A 32-byte key for `purpose`, derived from the key-encryption key (HKDF-SHA256). */
  derive(purpose: string): Buffer;
}

export class SecretDecryptionError extends Error {
  override name = 'SecretDecryptionError';
}

/** Accepts 32 bytes written as 64 hex digits, or base64 / base64url. */
export function parseKeyEncryptionKey(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64url');
  if (bytes.length !== 32) {
    throw new ConfigError('KEY_ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64 (try: openssl rand -base64 32)');
  }
  return bytes;
}

export function generateKeyEncryptionKey(): string {
  return randomBytes(32).toString('base64url');
}

async function developmentKey(dataDir: string, warn: (message: string) => void): Promise<Buffer> {
  const file = join(dataDir, DEV_KEY_FILE);
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing) return parseKeyEncryptionKey(existing);
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${generateKeyEncryptionKey()}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {});
  await chmod(file, 0o600);
  warn(
    `KEY_ENCRYPTION_KEY is not set: generated a development key in ${file}. ` +
      'Anyone who can read that file can decrypt the signing keys. Set KEY_ENCRYPTION_KEY in production.',
  );
  return parseKeyEncryptionKey(await readFile(file, 'utf8'));
}

/**
 * The key-encryption key: from the environment, or in development a key kept in DATA_DIR.
 * Production refuses to start without one.
 */
export async function loadKeyEncryptionKey(config: Config, warn: (message: string) => void): Promise<Buffer> {
  if (config.keyEncryptionKey !== undefined) return parseKeyEncryptionKey(config.keyEncryptionKey);
  if (config.production) {
    throw new ConfigError('KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE) is required when NODE_ENV=production');
  }
  return developmentKey(config.dataDir, warn);
}

export function createSecrets(keyEncryptionKey: Buffer): Secrets {
  const derive = (purpose: string) =>
    Buffer.from(hkdfSync('sha256', keyEncryptionKey, Buffer.alloc(0), `ostiary ${purpose}`, 32));
  const sealingKey = derive('secret sealing');

  return {
    derive,
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', sealingKey, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, iv, body, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    open(sealed, context) {
      const [version, iv, body, tag] = sealed.split('.');
      if (version !== VERSION || !iv || !body || !tag) throw new SecretDecryptionError('not a sealed secret');
      try {
        const decipher = createDecipheriv('aes-256-gcm', sealingKey, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretDecryptionError('cannot decrypt: wrong KEY_ENCRYPTION_KEY, or the data was altered');
      }
    },
  };
}
