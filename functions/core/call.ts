import { iso } from './clock.js';

/** A call's stored state. `expired` is never stored: it is decided when read. */
export type StoredStatus = 'ringing' | 'answered' | 'declined' | 'cancelled' | 'unreachable' | 'rejected';
/** Why the user's settings refused a call: nothing was pushed. */
export type RejectReason = 'blocked' | 'doNotDisturb';
export type PbxStatus = StoredStatus | 'expired';
export type AppStatus = 'ringing' | 'answered' | 'declined' | 'ended';

/** CallKit's CXCallEndedReason names. */
export type EndReason = 'remoteEnded' | 'answeredElsewhere' | 'declinedElsewhere' | 'unanswered' | 'failed';

export const CANCEL_REASONS = [
  'caller_hangup',
  'answered_elsewhere',
  'declined_elsewhere',
  'timeout',
  'error',
] as const;
export type CancelReason = (typeof CANCEL_REASONS)[number];

export const END_REASON_OF_CANCEL: Record<CancelReason, EndReason> = {
  caller_hangup: 'remoteEnded',
  answered_elsewhere: 'answeredElsewhere',
  declined_elsewhere: 'declinedElsewhere',
  timeout: 'unanswered',
  error: 'failed',
};

export const PUSH_TYPES = ['voip', 'alert'] as const;
export type PushType = (typeof PUSH_TYPES)[number];
export const APNS_ENVIRONMENTS = ['production', 'sandbox'] as const;
export type ApnsEnvironment = (typeof APNS_ENVIRONMENTS)[number];
export type Delivery = 'pending' | 'sent' | 'failed';

export interface Caller {
  number?: string;
  displayName?: string;
  uri?: string;
}

/**
 * Where a normal (alert) notification for this device goes when the call ends: a VoIP device's
 * alert token (missed calls), or an alert-mode device's own token (its incoming-call alert is
 * replaced). Kept with the call, so the events function needs no other read to send it.
 */
export interface AlertTarget {
  deviceId: string;
  pushToken: string;
  bundleId: string;
  teamId: string;
  environment: ApnsEnvironment;
  /** Set for a registry device: a dead alert token is cleared from this user's device. */
  registeredTo?: string;
}

/** One pushed device of a call. Its slot (`d0`, `d1`, …) is what the device's call token names. */
export interface CallDevice {
  deviceId: string;
  pushType: PushType;
  delivery: Delivery;
  alert?: AlertTarget;
  reason?: string;
  apnsId?: string;
  confirmedAt?: number;
  answeredAt?: number;
  declinedAt?: number;
}

export interface Call {
  tenantId: string;
  callId: string;
  callUuid: string;
  status: StoredStatus;
  /** Set by a cancel for a call that was never created here: it only makes a late create fail. */
  tombstone: boolean;
  endReason?: EndReason;
  createdAt: number;
  /** When the call stops ringing: createdAt + ring timeout. */
  expiresAt: number;
  /** After this the call is gone, whatever DynamoDB's TTL has done yet. */
  lifetimeEnd: number;
  requestHash?: string;
  caller: Caller;
  userId?: string;
  hasVideo: boolean;
  metadata?: Record<string, string>;
  devices: Record<string, CallDevice>;
  /** false: pushes carry no caller (the app learns it from confirm). Absent: true. */
  callerInPush?: boolean;
  /** The user's setting when the call came in (absent: on; a call without a user has none). */
  missedCallPush?: boolean;
  /** A Do Not Disturb rejection: the user's alert-capable devices, told of the call passively. */
  passiveAlerts?: AlertTarget[];
  /** The call holds one of its tenant's ringing slots, given back at its first end. */
  countsRinging?: boolean;
  /** The 201 answer's status, replayed to a retried create. */
  answerStatus?: 'ringing' | 'unreachable';
  /** When the push results were recorded. */
  deliveredAt?: number;
  /** Set by the ring timer once a still-ringing call passed its ring end (its `call.expired` event). */
  expiredAt?: number;
  rejectReason?: RejectReason;
  answeredBy?: string;
  answeredAt?: number;
  declinedBy?: string;
  declinedAt?: number;
  endedAt?: number;
}

export const slotName = (index: number): string => `d${index}`;
export const slotIndex = (slot: string): number => Number(slot.slice(1));

export const orderedSlots = (call: Call): [string, CallDevice][] =>
  Object.entries(call.devices).sort(([a], [b]) => slotIndex(a) - slotIndex(b));

/** Still ringing past its ring timeout: `expired` for the PBX, `ended`/`unanswered` for the app. */
export const isExpiredRinging = (call: Call, now: number): boolean =>
  call.status === 'ringing' && call.expiresAt <= now;

export const pbxStatusOf = (call: Call, now: number): PbxStatus =>
  isExpiredRinging(call, now) ? 'expired' : call.status;

export function endReasonOf(call: Call, now: number): EndReason | null {
  switch (pbxStatusOf(call, now)) {
    case 'cancelled':
      return call.endReason ?? 'remoteEnded';
    case 'expired':
      return 'unanswered';
    case 'unreachable':
      return 'failed';
    default:
      return null;
  }
}

export interface PbxDeviceView {
  deviceId: string;
  delivery: Delivery;
  confirmedAt: string | null;
  answeredAt: string | null;
  declinedAt: string | null;
}

export interface PbxView {
  callId: string;
  callUuid: string;
  status: PbxStatus;
  endReason: EndReason | null;
  createdAt: string;
  expiresAt: string | null;
  answeredBy: string | null;
  declinedBy: string | null;
  devices: PbxDeviceView[];
  /** Only on a call the user's settings rejected (v1 views keep their exact shape). */
  rejectReason?: RejectReason;
}

const isoOrNull = (ms: number | undefined): string | null => (ms === undefined ? null : iso(ms));

export function pbxViewOf(call: Call, now: number): PbxView {
  return {
    callId: call.callId,
    callUuid: call.callUuid,
    status: pbxStatusOf(call, now),
    endReason: endReasonOf(call, now),
    createdAt: iso(call.createdAt),
    // A tombstone never rang, so it has no ring end.
    expiresAt: call.tombstone ? null : iso(call.expiresAt),
    answeredBy: call.answeredBy ?? null,
    declinedBy: call.declinedBy ?? null,
    devices: orderedSlots(call).map(([, d]) => ({
      deviceId: d.deviceId,
      delivery: d.delivery,
      confirmedAt: isoOrNull(d.confirmedAt),
      answeredAt: isoOrNull(d.answeredAt),
      declinedAt: isoOrNull(d.declinedAt),
    })),
    ...(call.status === 'rejected' ? { rejectReason: call.rejectReason ?? 'blocked' } : {}),
  };
}

export interface DeliveryView {
  deviceId: string;
  pushType: PushType;
  result: 'sent' | 'failed' | 'pending';
  apnsId?: string;
  reason?: string;
}

export interface CreateAnswer {
  callId: string;
  callUuid: string;
  status: 'ringing' | 'unreachable' | 'rejected';
  /** Only with `rejected`. */
  rejectReason?: RejectReason;
  createdAt: string;
  expiresAt: string;
  deliveries: DeliveryView[];
}

export function createAnswerOf(call: Call): CreateAnswer {
  return {
    callId: call.callId,
    callUuid: call.callUuid,
    // Until the pushes are recorded (a retry racing the first attempt), the call rings.
    status: call.status === 'rejected' ? 'rejected' : (call.answerStatus ?? 'ringing'),
    ...(call.status === 'rejected' ? { rejectReason: call.rejectReason ?? 'blocked' } : {}),
    createdAt: iso(call.createdAt),
    expiresAt: iso(call.expiresAt),
    deliveries: orderedSlots(call).map(([, d]) => ({
      deviceId: d.deviceId,
      pushType: d.pushType,
      result: d.delivery,
      ...(d.apnsId === undefined ? {} : { apnsId: d.apnsId }),
      ...(d.reason === undefined ? {} : { reason: d.reason }),
    })),
  };
}

export interface AppView {
  callId: string;
  callUuid: string;
  status: AppStatus;
  endReason: EndReason | null;
  caller: { number: string | null; displayName: string | null; uri: string | null } | null;
  hasVideo: boolean | null;
  expiresAt: string | null;
  metadata: Record<string, string> | null;
  /** When the server answered, so the app can tell how stale its push is (never part of a view's tag). */
  serverTime: string;
}

/** What one device of the call should show: its own answer/decline, or how the call ended for it. */
export function appStateOf(call: Call, slot: string, now: number): { status: AppStatus; endReason: EndReason | null } {
  const deviceId = call.devices[slot]?.deviceId;
  switch (pbxStatusOf(call, now)) {
    case 'ringing':
      return { status: 'ringing', endReason: null };
    case 'answered':
      return call.answeredBy === deviceId
        ? { status: 'answered', endReason: null }
        : { status: 'ended', endReason: 'answeredElsewhere' };
    case 'declined':
      return call.declinedBy === deviceId
        ? { status: 'declined', endReason: null }
        : { status: 'ended', endReason: 'declinedElsewhere' };
    case 'cancelled':
      return { status: 'ended', endReason: call.endReason ?? 'remoteEnded' };
    case 'expired':
      return { status: 'ended', endReason: 'unanswered' };
    case 'unreachable':
    // A rejected call pushed no device, so no app holds a token for it; ended/failed all the same.
    case 'rejected':
      return { status: 'ended', endReason: 'failed' };
  }
}

export function appViewOf(call: Call, slot: string, now: number): AppView {
  return {
    callId: call.callId,
    callUuid: call.callUuid,
    ...appStateOf(call, slot, now),
    caller: {
      number: call.caller.number ?? null,
      displayName: call.caller.displayName ?? null,
      uri: call.caller.uri ?? null,
    },
    hasVideo: call.hasVideo,
    expiresAt: iso(call.expiresAt),
    metadata: call.metadata ?? {},
    serverTime: iso(now),
  };
}

/** A call the app can no longer find: it ends its CallKit call as unanswered. */
export const vanishedAppView = (callId: string, callUuid: string, now: number): AppView => ({
  callId,
  callUuid,
  status: 'ended',
  endReason: 'unanswered',
  caller: null,
  hasVideo: null,
  expiresAt: null,
  metadata: null,
  serverTime: iso(now),
});
