// A software WebAuthn authenticator: the client side of a ceremony, written from the spec with
// node:crypto (ES256) and a few lines of CBOR, so server tests can send real attestations and
// assertions — also wrong ones (another origin, a counter gone back, no user verification).
// The browser tests use Chromium's own virtual authenticator instead.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [k: string]: Cbor };

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Definite-length CBOR (RFC 8949) of the few types WebAuthn needs. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, s.length), s]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const entries: [Cbor, Cbor][] = value instanceof Map ? [...value] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();

export interface SoftCredential {
  id: Buffer;
  privateKey: KeyObject;
  publicKeyCose: Buffer;
  userHandle: string | null;
  counter: number;
  backupEligible: boolean;
}

export interface Ceremony {
  rpId: string;
  origin: string;
  challenge: string;
  /** User verification (PIN, fingerprint) done; presence is always shown. */
  uv?: boolean;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

function flagsOf(cred: SoftCredential, uv: boolean, extra = 0): number {
  return FLAG_UP | (uv ? FLAG_UV : 0) | (cred.backupEligible ? FLAG_BE | FLAG_BS : 0) | extra;
}

function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function clientData(type: string, c: Ceremony): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge: c.challenge, origin: c.origin, crossOrigin: false }));
}

/** A new ES256 key pair; `userHandle` (base64url) makes it discoverable. */
export function newSoftCredential(opts: { userHandle?: string | null; backupEligible?: boolean } = {}): SoftCredential {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const cose = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
  return { id: randomBytes(16), privateKey, publicKeyCose: cose, userHandle: opts.userHandle ?? null, counter: 0, backupEligible: opts.backupEligible ?? false };
}

/** The browser's RegistrationResponseJSON for `cred`, attestation "none". */
export function attest(cred: SoftCredential, c: Ceremony): Record<string, unknown> {
  const idLength = Buffer.alloc(2);
  idLength.writeUInt16BE(cred.id.length);
  const authData = Buffer.concat([
    sha256(c.rpId), Buffer.from([flagsOf(cred, c.uv ?? true, FLAG_AT)]), counterBytes(cred.counter),
    Buffer.alloc(16), idLength, cred.id, cred.publicKeyCose,
  ]);
  const attestationObject = cbor({ fmt: 'none', attStmt: {}, authData });
  return {
    id: b64u(cred.id), rawId: b64u(cred.id), type: 'public-key',
    response: { clientDataJSON: b64u(clientData('webauthn.create', c)), attestationObject: b64u(attestationObject), transports: ['internal'] },
    clientExtensionResults: {}, authenticatorAttachment: 'platform',
  };
}

/** The browser's AuthenticationResponseJSON; each call moves the signature counter on, as an authenticator does. */
export function assertWith(cred: SoftCredential, c: Ceremony, opts: { counter?: number } = {}): Record<string, unknown> {
  cred.counter = opts.counter ?? cred.counter + 1;
  const authData = Buffer.concat([sha256(c.rpId), Buffer.from([flagsOf(cred, c.uv ?? true)]), counterBytes(cred.counter)]);
  const cdj = clientData('webauthn.get', c);
  const signature = sign('sha256', Buffer.concat([authData, sha256(cdj)]), cred.privateKey);
  return {
    id: b64u(cred.id), rawId: b64u(cred.id), type: 'public-key',
    response: { clientDataJSON: b64u(cdj), authenticatorData: b64u(authData), signature: b64u(signature), ...(cred.userHandle ? { userHandle: cred.userHandle } : {}) },
    clientExtensionResults: {}, authenticatorAttachment: 'platform',
  };
}
