/**
 * Passkey rules that need no I/O: limits, names, the shape of what a browser sends back from a
 * WebAuthn ceremony, and what a signature counter going backwards means.
 */
import { MINUTE_MS } from './clock.ts';

/** A challenge answers one ceremony within this time (the issue: 5 minutes). */
export const WEBAUTHN_CHALLENGE_TTL_MS = 5 * MINUTE_MS;
export const MAX_PASSKEYS_PER_PERSON = 20;
export const MAX_PASSKEY_NAME_LENGTH = 64;
/** Generous bounds on each field (decoded bytes): real authenticators send far less; anything above is not one. */
const LIMITS = { credentialId: 1023, clientData: 2048, authenticatorData: 1024, signature: 512, userHandle: 64, attestationObject: 16384 } as const;
const TRANSPORTS: ReadonlySet<string> = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

/** RFC 8176: a security key bound to one device is a hardware key; a synced passkey is a software key. */
export type KeyKind = 'hwk' | 'swk';
export function keyKindOf(deviceType: string): KeyKind {
  return deviceType === 'multiDevice' ? 'swk' : 'hwk';
}

/** A name as the person typed it, trimmed; null when empty, too long or holding control characters. */
export function normalizePasskeyName(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const name = raw.normalize('NFC').trim();
  if (name.length === 0 || [...name].length > MAX_PASSKEY_NAME_LENGTH || /[\p{Cc}\p{Cf}]/u.test(name)) return null;
  return name;
}

/**
 * A cloned authenticator shows itself when the counter it sends is not above the one stored.
 * Authenticators that keep no counter send 0 every time, and are left alone.
 */
export function isCounterRegression(stored: number, received: number): boolean {
  return (stored > 0 || received > 0) && received <= stored;
}

function base64url(value: unknown, max: number, min = 1): Buffer | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > Math.ceil((max * 4) / 3) + 2) return null;
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return null;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.length >= min && bytes.length <= max ? bytes : null;
}

export interface ClientData {
  type: string;
  challenge: string;
  origin: string;
}

/** What was checked of a browser's answer, and a clean copy of it for the verifier. */
export interface ParsedResponse {
  credentialId: string;
  clientData: ClientData;
  /** Only the known fields, re-encoded: the verifier never sees anything else the sender added. */
  json: Record<string, unknown>;
  transports: string[];
  userHandle: string | null;
}

export type ResponseParse = { ok: true; value: ParsedResponse } | { ok: false; field: string };

function parseClientData(value: unknown): ClientData | null {
  const bytes = base64url(value, LIMITS.clientData);
  if (!bytes) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { type, challenge, origin } = parsed as Record<string, unknown>;
  if (typeof type !== 'string' || typeof origin !== 'string' || origin.length > 512) return null;
  if (base64url(challenge, 64, 16) === null) return null;
  return { type, challenge: challenge as string, origin };
}

/**
 * The browser's RegistrationResponseJSON or AuthenticationResponseJSON, checked for shape and
 * size before anything else reads it: malformed input is the sender's mistake (400), never a
 * verification failure, and never reaches the CBOR decoder oversized.
 */
export function parseWebAuthnResponse(kind: 'registration' | 'authentication', raw: unknown): ResponseParse {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, field: 'response' };
  const r = raw as Record<string, unknown>;
  if (r.type !== 'public-key') return { ok: false, field: 'type' };
  const idBytes = base64url(r.id, LIMITS.credentialId);
  if (!idBytes || (r.rawId !== undefined && r.rawId !== r.id)) return { ok: false, field: 'id' };
  const id = idBytes.toString('base64url');
  const inner = r.response;
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) return { ok: false, field: 'response' };
  const res = inner as Record<string, unknown>;
  const clientData = parseClientData(res.clientDataJSON);
  if (!clientData) return { ok: false, field: 'clientDataJSON' };
  const attachment = r.authenticatorAttachment === 'platform' || r.authenticatorAttachment === 'cross-platform' ? r.authenticatorAttachment : undefined;
  const base = { id, rawId: id, type: 'public-key', clientExtensionResults: {}, ...(attachment ? { authenticatorAttachment: attachment } : {}) };
  if (kind === 'registration') {
    if (!base64url(res.attestationObject, LIMITS.attestationObject, 37)) return { ok: false, field: 'attestationObject' };
    const transports = Array.isArray(res.transports) ? res.transports.filter((t): t is string => typeof t === 'string' && TRANSPORTS.has(t)).slice(0, 8) : [];
    if (res.transports !== undefined && (!Array.isArray(res.transports) || res.transports.length > 16)) return { ok: false, field: 'transports' };
    return {
      ok: true,
      value: {
        credentialId: id, clientData, transports, userHandle: null,
        json: { ...base, response: { clientDataJSON: res.clientDataJSON, attestationObject: res.attestationObject, transports } },
      },
    };
  }
  if (!base64url(res.authenticatorData, LIMITS.authenticatorData, 37)) return { ok: false, field: 'authenticatorData' };
  if (!base64url(res.signature, LIMITS.signature, 8)) return { ok: false, field: 'signature' };
  let userHandle: string | null = null;
  if (res.userHandle !== undefined && res.userHandle !== null && res.userHandle !== '') {
    const handle = base64url(res.userHandle, LIMITS.userHandle);
    if (!handle) return { ok: false, field: 'userHandle' };
    userHandle = handle.toString('base64url');
  }
  return {
    ok: true,
    value: {
      credentialId: id, clientData, transports: [], userHandle,
      json: { ...base, response: { clientDataJSON: res.clientDataJSON, authenticatorData: res.authenticatorData, signature: res.signature, ...(userHandle ? { userHandle } : {}) } },
    },
  };
}
