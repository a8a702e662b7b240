import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The app's bearer token: opaque to the app, at most 200 characters, bound to one call
 * (its callUuid, which is derived from tenant and callId), one callId and one device slot,
 * valid until the call's lifetime ends.
 *
 * Layout: `cw1.<keyTag>.<payload>.<mac>` (base64url)
 *   payload = callUuid (16 bytes) | sha256(callId)[0..8] | slot (1 byte) | lifetime end (uint32 s)
 *   mac     = HMAC-SHA256(key, "cw1.<keyTag>.<payload>")[0..16]
 * It is signed rather than stored, so a genuine token for a vanished call (410) is told apart
 * from a forged one (401) without a read, and the callUuid it carries still lets the app end
 * its CallKit call.
 */
export interface TokenKey {
  kid: string;
  secret: string;
}

export interface TokenKeyRing {
  /** The key new tokens are signed with. */
  current: TokenKey;
  /** Every key that still verifies: the current one and those being rotated out. */
  all: TokenKey[];
}

export interface CallTokenClaims {
  callUuid: string;
  callIdHash: string; // hex of 8 bytes
  slot: number;
  lifetimeEnd: number; // epoch ms, second precision
}

const PREFIX = 'cw1';
const PAYLOAD_BYTES = 16 + 8 + 1 + 4;
const MAC_BYTES = 16;
export const MAX_TOKEN_LENGTH = 200;

const keyTagOf = (kid: string): string => createHash('sha256').update(kid).digest('base64url').slice(0, 6);
const macOf = (secret: string, signed: string): Buffer =>
  createHmac('sha256', secret).update(signed).digest().subarray(0, MAC_BYTES);

export const callIdHashOf = (callId: string): string =>
  createHash('sha256').update(callId, 'utf8').digest('hex').slice(0, 16);

export function mintCallToken(key: TokenKey, claims: CallTokenClaims): string {
  const payload = Buffer.alloc(PAYLOAD_BYTES);
  Buffer.from(claims.callUuid.replace(/-/g, ''), 'hex').copy(payload, 0);
  Buffer.from(claims.callIdHash, 'hex').copy(payload, 16);
  payload.writeUInt8(claims.slot, 24);
  payload.writeUInt32BE(Math.ceil(claims.lifetimeEnd / 1000), 25);
  const signed = `${PREFIX}.${keyTagOf(key.kid)}.${payload.toString('base64url')}`;
  return `${signed}.${macOf(key.secret, signed).toString('base64url')}`;
}

const isCanonicalBase64url = (s: string): boolean => Buffer.from(s, 'base64url').toString('base64url') === s;

const TOKEN_SHAPE = /^cw1\.([A-Za-z0-9_-]{6})\.([A-Za-z0-9_-]{39})\.([A-Za-z0-9_-]{22})$/;

/** Verifies a token's shape and signature; undefined for anything not minted with a key of the ring. */
export function verifyCallToken(ring: TokenKeyRing, token: string): CallTokenClaims | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const match = TOKEN_SHAPE.exec(token);
  if (!match) return undefined;
  const [, tag, payloadB64, macB64] = match as unknown as [string, string, string, string];
  const key = ring.all.find((k) => keyTagOf(k.kid) === tag);
  if (!key) return undefined;
  // base64url leaves spare bits in the last character: only the canonical spelling is the token.
  if (!isCanonicalBase64url(payloadB64) || !isCanonicalBase64url(macB64)) return undefined;
  const given = Buffer.from(macB64, 'base64url');
  const expected = macOf(key.secret, `${PREFIX}.${tag}.${payloadB64}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const payload = Buffer.from(payloadB64, 'base64url');
  if (payload.length !== PAYLOAD_BYTES) return undefined;
  const hex = payload.subarray(0, 16).toString('hex');
  return {
    callUuid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    callIdHash: payload.subarray(16, 24).toString('hex'),
    slot: payload.readUInt8(24),
    lifetimeEnd: payload.readUInt32BE(25) * 1000,
  };
}
