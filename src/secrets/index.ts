import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config/index.ts';

const DEV_KEY_FILE = 'dev-key-encryption-key';
const VERSION = 'v1';

export interface Secrets {
  /** Encrypts with AES-256-GCM under the first key-encryption key, bound to `context` (e.g. the row it belongs to). */
  seal(plaintext: string, context: string): string;
  /** Decrypts what `seal` produced under any configured key; throws if none fits or the context differs. */
  open(sealed: string, context: string): string;
  /** True when `sealed` was sealed under the first (current) key-encryption key. */
  isCurrent(sealed: string): boolean;
  /** A 32-byte key for `purpose` derived (HKDF-SHA256) from the first key-encryption key. */
  derive(purpose: string): Buffer;
  /** The same derived key from every key-encryption key, first first (for verify-with-any lists). */
  deriveAll(purpose: string): Buffer[];
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

/** Several keys, separated by commas or new lines: the first encrypts, all decrypt. */
export function parseKeyEncryptionKeys(text: string): Buffer[] {
  const keys = text.split(/[,\n]/).map((k) => k.trim()).filter(Boolean).map(parseKeyEncryptionKey);
  if (keys.length === 0) throw new ConfigError('KEY_ENCRYPTION_KEY is empty');
  return keys;
}

export function generateKeyEncryptionKey(): string {
  return randomBytes(32).toString('base64url');
}

async function developmentKey(dataDir: string, warn: (message: string) => void): Promise<Buffer[]> {
  const file = join(dataDir, DEV_KEY_FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // DATA_DIR may have been made by hand or by a volume mount: only its owner may enter it.
  if ((await stat(dataDir)).mode & 0o077) await chmod(dataDir, 0o700);
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing) {
    await chmod(file, 0o600);
    return parseKeyEncryptionKeys(existing);
  }
  await writeFile(file, `${generateKeyEncryptionKey()}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {});
  await chmod(file, 0o600);
  warn(
    `KEY_ENCRYPTION_KEY is not set: generated a development key in ${file}. ` +
      'Anyone who can read that file can decrypt the signing keys. Set KEY_ENCRYPTION_KEY in production.',
  );
  return parseKeyEncryptionKeys(await readFile(file, 'utf8'));
}

/**
 * The key-encryption keys: from the environment, or in development one kept in DATA_DIR.
 * Production refuses to start without them.
 */
export async function loadKeyEncryptionKeys(config: Config, warn: (message: string) => void): Promise<Buffer[]> {
  if (config.keyEncryptionKey !== undefined) return parseKeyEncryptionKeys(config.keyEncryptionKey);
  if (config.production) {
    throw new ConfigError('KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE) is required when NODE_ENV=production');
  }
  return developmentKey(config.dataDir, warn);
}

interface SealingKey {
  id: string;
  key: Buffer;
}

export function createSecrets(keyEncryptionKeys: Buffer[]): Secrets {
  if (keyEncryptionKeys.length === 0) throw new ConfigError('at least one key-encryption key is required');
  const deriveFrom = (kek: Buffer, purpose: string) => Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), `ostiary ${purpose}`, 32));
  // A short public id per key tells `open` which key sealed a value (it reveals nothing of the key).
  const sealing: SealingKey[] = keyEncryptionKeys.map((kek) => {
    const key = deriveFrom(kek, 'secret sealing');
    return { key, id: createHash('sha256').update(key).digest('base64url').slice(0, 8) };
  });
  const current = sealing[0]!;

  return {
    derive: (purpose) => deriveFrom(keyEncryptionKeys[0]!, purpose),
    deriveAll: (purpose) => keyEncryptionKeys.map((kek) => deriveFrom(kek, purpose)),
    isCurrent: (sealed) => sealed.split('.')[1] === current.id,
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, current.id, ...[iv, body, cipher.getAuthTag()].map((b) => b.toString('base64url'))].join('.');
    },
    open(sealed, context) {
      const [version, keyId, iv, body, tag] = sealed.split('.');
      if (version !== VERSION || !keyId || !iv || !body || !tag) throw new SecretDecryptionError('not a sealed secret');
      const sealer = sealing.find((s) => s.id === keyId);
      if (!sealer) {
        throw new SecretDecryptionError('cannot decrypt: sealed under a key-encryption key that is not configured (check KEY_ENCRYPTION_KEY)');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', sealer.key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretDecryptionError('cannot decrypt: the sealed data was altered or belongs to another row');
      }
    },
  };
}
