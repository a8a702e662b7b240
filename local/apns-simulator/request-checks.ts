/**
 * The checks APNs applies to a notification request's path, headers and body, as pure functions.
 * Provider-token checks live in provider-token.ts; device state (unregistered tokens, topic
 * binding) lives in the simulator.
 */

import { isPlainObject } from './provider-token.js';
import { NOT_A_JSON_OBJECT_REASON, Reason, type ReasonString } from './reasons.js';

export interface Rejection {
  status: number;
  reason: ReasonString;
}

/** Apple's `apns-push-type` values. */
export const PUSH_TYPES = [
  'alert',
  'background',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
  'widgets',
  'controls',
] as const;
export type PushType = (typeof PUSH_TYPES)[number];

/** Payload size limits in bytes: 5 KB for VoIP, 4 KB for the others. */
export const MAX_PAYLOAD_BYTES_VOIP = 5120;
export const MAX_PAYLOAD_BYTES = 4096;
export const MAX_COLLAPSE_ID_BYTES = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEVICE_PATH = /^\/3\/device\/([^/?#]*)$/;
const DEVICE_TOKEN = /^(?:[0-9a-f]{2}){32,100}$/i;
/** Headers that must appear at most once (APNs: 400 DuplicateHeaders). */
const SINGLE_HEADERS = new Set([
  'authorization',
  'apns-id',
  'apns-topic',
  'apns-push-type',
  'apns-priority',
  'apns-expiration',
  'apns-collapse-id',
]);

export type PathCheck = { ok: true; token: string } | ({ ok: false; token: string } & Rejection);

/** Method and path: only `POST /3/device/<hex token>`. */
export function checkPath(method: string, path: string): PathCheck {
  const match = DEVICE_PATH.exec(path);
  if (!match) return { ok: false, token: '', status: 404, reason: Reason.BadPath };
  const token = decodeURIComponentSafe(match[1] ?? '');
  if (method !== 'POST') return { ok: false, token, status: 405, reason: Reason.MethodNotAllowed };
  if (token === '') return { ok: false, token, status: 400, reason: Reason.MissingDeviceToken };
  if (!DEVICE_TOKEN.test(token)) return { ok: false, token, status: 400, reason: Reason.BadDeviceToken };
  return { ok: true, token };
}

/** True when a single-valued APNs header (or authorization) is repeated in a raw header list. */
export function hasDuplicateHeaders(rawHeaders: readonly string[]): boolean {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    if (!SINGLE_HEADERS.has(name)) continue;
    if (seen.has(name)) return true;
    seen.add(name);
  }
  return false;
}

/** The request's `apns-id` when it is a canonical UUID; `false` when present and malformed. */
export function requestApnsId(headers: Record<string, string>): string | undefined | false {
  const value = headers['apns-id'];
  if (value === undefined) return undefined;
  return UUID.test(value) ? value : false;
}

export interface HeaderFacts {
  topic: string;
  pushType: PushType;
}

/**
 * The APNs headers. Without `apns-push-type` the type is inferred the way APNs treats legacy
 * requests: `voip` for a `.voip` topic, else `alert`.
 */
export function checkHeaders(
  headers: Record<string, string>,
  boundTopic: string | undefined,
): ({ ok: true } & HeaderFacts) | ({ ok: false } & Rejection) {
  const reject = (reason: ReasonString) => ({ ok: false as const, status: 400, reason });
  if (requestApnsId(headers) === false) return reject(Reason.BadMessageId);
  const topic = headers['apns-topic'];
  if (topic === undefined || topic === '') return reject(Reason.MissingTopic);
  const declaredType = headers['apns-push-type'];
  let pushType: PushType;
  if (declaredType === undefined) {
    pushType = topic.endsWith('.voip') ? 'voip' : 'alert';
  } else if ((PUSH_TYPES as readonly string[]).includes(declaredType)) {
    pushType = declaredType as PushType;
  } else {
    return reject(Reason.InvalidPushType);
  }
  const priority = headers['apns-priority'];
  if (priority !== undefined) {
    if (!/^(?:1|5|10)$/.test(priority)) return reject(Reason.BadPriority);
    if (pushType === 'voip' && priority === '5') return reject(Reason.BadPriority);
  }
  const expiration = headers['apns-expiration'];
  if (expiration !== undefined && !/^\d{1,15}$/.test(expiration)) return reject(Reason.BadExpirationDate);
  const collapseId = headers['apns-collapse-id'];
  if (collapseId !== undefined && Buffer.byteLength(collapseId, 'utf8') > MAX_COLLAPSE_ID_BYTES) {
    return reject(Reason.BadCollapseId);
  }
  if (boundTopic !== undefined && boundTopic !== topic) return reject(Reason.DeviceTokenNotForTopic);
  if (pushType === 'voip' && !topic.endsWith('.voip')) return reject(Reason.BadTopic);
  if ((pushType === 'alert' || pushType === 'background') && topic.endsWith('.voip')) {
    return reject(Reason.BadTopic);
  }
  return { ok: true, topic, pushType };
}

/**
 * The body: not empty, within the push type's size limit, a JSON object. APNs does not look
 * inside it: `{}` is accepted (Wallet pass updates are exactly that), and so is a payload without
 * `aps`; the device, not APNs, decides what to show.
 */
export function checkBody(
  body: Buffer,
  pushType: PushType,
): { ok: true; payload: Record<string, unknown> } | ({ ok: false } & Rejection) {
  if (body.length === 0) return { ok: false, status: 400, reason: Reason.PayloadEmpty };
  const limit = pushType === 'voip' ? MAX_PAYLOAD_BYTES_VOIP : MAX_PAYLOAD_BYTES;
  if (body.length > limit) return { ok: false, status: 413, reason: Reason.PayloadTooLarge };
  const payload = parseJson(body.toString('utf8'));
  if (!isPlainObject(payload)) return { ok: false, status: 400, reason: NOT_A_JSON_OBJECT_REASON };
  return { ok: true, payload };
}

export function parseJson(text: string): unknown | undefined {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
