import { createHash } from 'node:crypto';

/** tenantId, userId, deviceId: 1-128 characters of `[A-Za-z0-9._:@+-]`, never `.` or `..`. */
const SIMPLE_ID = /^[A-Za-z0-9._:@+-]{1,128}$/;
/** callId: 1-256 printable ASCII, no whitespace, `/`, `?` or `#` (a SIP Call-ID fits). */
const CALL_ID = /^[\x21-\x7e]{1,256}$/;
const CALL_ID_FORBIDDEN = /[/?#]/;

const isDotSegment = (id: string): boolean => id === '.' || id === '..';

export const isSimpleId = (id: string): boolean => SIMPLE_ID.test(id) && !isDotSegment(id);

export const isCallId = (id: string): boolean => CALL_ID.test(id) && !CALL_ID_FORBIDDEN.test(id) && !isDotSegment(id);

/** The namespace the contract fixes, so a PBX can compute the same UUID. */
const CALL_UUID_NAMESPACE = '699e35b5-27c0-4dae-afc1-140c9ab06c2a';

/** RFC 9562 UUID version 5 (SHA-1, name-based). */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The same call always gets the same UUID: CallKit dedupes a repeated push with it. */
export const callUuidOf = (tenantId: string, callId: string): string =>
  uuidV5(CALL_UUID_NAMESPACE, `${tenantId}/${callId}`);

/** Inline devices get a stable id derived from (never revealing) their token. */
export const inlineDeviceIdOf = (pushToken: string): string =>
  `inline-${createHash('sha256').update(pushToken.toLowerCase()).digest('hex').slice(0, 24)}`;

/** What logs and listings may show of a secret-ish value: its last characters only. */
export const suffixOf = (value: string, length = 8): string => value.slice(-length);

/** A short, stable, non-reversible tag for a sensitive value (logs, keys). */
export const fingerprint = (value: string): string =>
  createHash('sha256').update(value).digest('base64url').slice(0, 16);

/**
 * An error's message as logs may keep it: `message` is the log line's own field (Powertools drops
 * one passed in), and a message may quote a value, so numbers (phone numbers) and long hex or
 * base64 runs (tokens, secrets) are masked and the text is cut short.
 */
export const causeOf = (e: unknown): string =>
  String((e as Error)?.message ?? e)
    .replace(/\+?\d[\d\s().-]{5,}\d/g, '<number>')
    .replace(/[A-Za-z0-9+/_=-]{24,}/g, '<redacted>')
    .slice(0, 300);
