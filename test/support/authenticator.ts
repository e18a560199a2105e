import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/**
 * A WebAuthn authenticator in the test process, for protocol tests that have no browser: an
 * ES256 key, attestation "none", the client data a browser would write. Each answer can be bent
 * (another origin, rp id or challenge, no user verification, a counter of the test's choosing)
 * to check that the server refuses it. The browser tests use Chromium's virtual authenticator.
 */

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

type Cbor = number | string | Uint8Array | Map<number | string, Cbor> | { [key: string]: Cbor };

/** The little CBOR (RFC 8949) an attestation object needs: unsigned and negative integers, byte and text strings, maps. */
function cbor(value: Cbor): Buffer {
  const head = (major: number, n: number) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65_536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

export interface Bend {
  origin?: string;
  rpId?: string;
  challenge?: string;
  /** The user-verified flag (default set). */
  userVerified?: boolean;
  /** The signature counter to report (default: one more than the last). */
  counter?: number;
}

interface Options {
  challenge: string;
  rp?: { id?: string };
  rpId?: string;
  user?: { id: string };
}

export function softAuthenticator(origin: string, { synced = false }: { synced?: boolean } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const credentialId = randomBytes(16);
  const id = b64url(credentialId);
  let counter = 0;
  let userHandle: string | undefined;

  const flags = (bend: Bend, attested: boolean) =>
    0x01 | (bend.userVerified === false ? 0 : 0x04) | (synced ? 0x18 : 0) | (attested ? 0x40 : 0);
  const clientData = (type: string, challenge: string, bend: Bend) =>
    Buffer.from(JSON.stringify({ type, challenge: bend.challenge ?? challenge, origin: bend.origin ?? origin, crossOrigin: false }));
  const counterBytes = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };

  return {
    id,
    /** The answer to a registration challenge: this authenticator's new credential. */
    register(options: Options, bend: Bend = {}) {
      const rpId = bend.rpId ?? options.rp?.id ?? new URL(origin).hostname;
      userHandle = options.user?.id;
      const coseKey = new Map<number, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]);
      const idLength = Buffer.from([credentialId.length >> 8, credentialId.length & 255]);
      const authData = Buffer.concat([sha256(rpId), Buffer.from([flags(bend, true)]), counterBytes(counter), Buffer.alloc(16), idLength, credentialId, cbor(coseKey)]);
      const clientDataJSON = clientData('webauthn.create', options.challenge, bend);
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(cbor({ fmt: 'none', attStmt: {}, authData })), transports: ['internal'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      };
    },
    /** The answer to a sign-in challenge, signed with this credential's key. */
    authenticate(options: Options, bend: Bend = {}) {
      const rpId = bend.rpId ?? options.rpId ?? new URL(origin).hostname;
      const signCount = bend.counter ?? (counter += 1);
      const authenticatorData = Buffer.concat([sha256(rpId), Buffer.from([flags(bend, false)]), counterBytes(signCount)]);
      const clientDataJSON = clientData('webauthn.get', options.challenge, bend);
      const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), privateKey);
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: { clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authenticatorData), signature: b64url(signature), ...(userHandle ? { userHandle } : {}) },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      };
    },
  };
}

export type SoftAuthenticator = ReturnType<typeof softAuthenticator>;
