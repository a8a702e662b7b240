import type { ApnsEnvironment, Call, CallDevice, EndReason, PushType } from './call.js';
import type { TokenKeyRing } from './call-token.js';
import type { Clock, Timer } from './clock.js';
import type { CallwakeEvent, EventType } from './events.js';
import type { LimitStore } from './limits.js';
import type { UserSettings } from './settings.js';

/** What one device's push came to; `alertEnvironment`: its token was found in the other environment. */
export type DeliveryResult = Pick<CallDevice, 'delivery' | 'reason' | 'apnsId'> & {
  alertEnvironment?: ApnsEnvironment;
};

/** Where calls live. Every method treats an item past its lifetime as absent. */
export interface CallStore {
  /** Creates the call unless a live one holds its callUuid; then returns that one. */
  create(call: Call): Promise<{ created: true } | { created: false; existing: Call }>;
  get(callUuid: string): Promise<Call | undefined>;
  /** Whether the call exists and still rings: its status alone is read (the ring timer may read no more). */
  isRinging(callUuid: string): Promise<boolean>;
  /** Records push results; marks the call `unreachable` when nothing was sent and it still rings. */
  recordDeliveries(
    callUuid: string,
    results: Record<string, DeliveryResult>,
    answerStatus: 'ringing' | 'unreachable',
    now: number,
  ): Promise<Call | undefined>;
  /** A ringing (not yet expired) or answered call becomes cancelled; anything else is left alone. */
  cancel(callUuid: string, endReason: EndReason, now: number): Promise<TransitionResult>;
  /** Stores a tombstone unless a live call holds the key. */
  putTombstone(tombstone: Call): Promise<boolean>;
  /** Ringing -> answered by this slot's device (again true for the same device). */
  answer(callUuid: string, slot: string, now: number): Promise<TransitionResult>;
  /** Ringing -> declined by this slot's device (again true for the same device). */
  decline(callUuid: string, slot: string, now: number): Promise<TransitionResult>;
  /** Records the slot's first confirmation; returns the call as it is now. */
  confirm(callUuid: string, slot: string, now: number): Promise<Call | undefined>;
  /**
   * Marks a call still ringing past its ring end as expired (once): the write its `call.expired`
   * event comes from. False when it was not ringing, not yet past its end, or already marked.
   */
  markExpired(callUuid: string, now: number): Promise<boolean>;
}

export type TransitionResult =
  | { outcome: 'changed'; call: Call }
  | { outcome: 'unchanged'; call: Call }
  | { outcome: 'absent' };

export interface RegisteredDevice {
  deviceId: string;
  platform: 'ios';
  pushToken: string;
  bundleId: string;
  teamId: string;
  environment: ApnsEnvironment;
  pushType: PushType;
  /** The app's regular remote-notification token, for missed-call alerts. */
  alertPushToken?: string;
  updatedAt: number;
}

/** What a ring needs of a user, in one read: the registered devices and the call settings. */
export interface UserRecord {
  devices: RegisteredDevice[];
  settings: UserSettings;
}

export interface DeviceStore {
  list(tenantId: string, userId: string): Promise<RegisteredDevice[]>;
  lookup(tenantId: string, userId: string): Promise<UserRecord>;
  /** Throws StaleRequestError when settings signed later were applied. */
  putSettings(tenantId: string, userId: string, settings: UserSettings, signedAt: number): Promise<void>;
  /** A registered device's token answered in the other environment: record that one. */
  setEnvironment(
    tenantId: string,
    userId: string,
    deviceId: string,
    pushToken: string,
    environment: ApnsEnvironment,
  ): Promise<void>;
  /** APNs called this alert token dead: forget it (the device keeps its VoIP token). */
  clearAlertToken(tenantId: string, userId: string, deviceId: string, alertPushToken: string): Promise<void>;
  /**
   * Registers or replaces a device. A push token already registered under another deviceId of
   * the tenant moves here. Throws TooManyDevicesError past `maxDevices`, and StaleRequestError
   * when a change signed later (`signedAt`, unix seconds) was applied to this device.
   */
  put(
    tenantId: string,
    userId: string,
    device: RegisteredDevice,
    maxDevices: number,
    signedAt: number,
  ): Promise<{ created: boolean }>;
  /** Removes the device (absent: nothing to remove); remembers when, so an older PUT is stale. */
  remove(tenantId: string, userId: string, deviceId: string, signedAt: number): Promise<void>;
  /**
   * Removes the device only if it still has this push token (a dead token must not evict a fresh
   * one), and records why with it, which is what its `device.pruned` event comes from.
   */
  prune(tenantId: string, userId: string, deviceId: string, pushToken: string, cause: PruneCause): Promise<void>;
}

/** Why a device was pruned: Apple's reason, during the ring of this call. */
export interface PruneCause {
  reason: string;
  callId: string;
  callUuid: string;
  at: number;
}

export interface PushRequest {
  pushToken: string;
  teamId: string;
  environment: ApnsEnvironment;
  pushType: PushType;
  topic: string;
  /** apns-expiration, epoch seconds; 0 = deliver now or never. */
  expiration: number;
  collapseId?: string;
  payload: string;
}

export type PushOutcome = { result: 'sent'; apnsId: string } | { result: 'failed'; reason: string; permanent: boolean };

export interface Pusher {
  /** Configured Apple teams: a push for any other team is not attempted. */
  readonly teams: readonly string[];
  /** Never throws; gives up by `deadline` (epoch ms) with reason `Timeout`. */
  send(request: PushRequest, deadline: number): Promise<PushOutcome>;
}

/** Only what is safe to log: no numbers, URIs, tokens or secrets. */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };

/** What operators graph and alarm on (docs/deploy.md lists every metric). */
export type MetricName =
  | 'CallsCreated'
  | 'CallsRung'
  | 'CallsUnreachable'
  | 'CallsRejected'
  | 'PushesSent'
  | 'PushesFailed'
  | 'PushLatency'
  | 'WebhookLatency'
  | 'ConfirmDelay'
  | 'Answers'
  | 'Declines'
  | 'Cancels'
  | 'Expiries'
  | 'AlertsSent'
  | 'AlertsFailed'
  | 'CallbacksDelivered'
  | 'CallbacksRetried'
  | 'CallbacksDeadLettered'
  | 'WaitsHeld';

/** Low-cardinality dimensions only; `tenant` is kept only where the operator opted in. */
export interface MetricDimensions {
  tenant?: string;
  reason?: string;
  outcome?: string;
}

export interface Metrics {
  count(name: MetricName, value?: number, dimensions?: MetricDimensions): void;
  /** A duration in milliseconds. */
  time(name: MetricName, ms: number, dimensions?: MetricDimensions): void;
}

export const noMetrics: Metrics = { count() {}, time() {} };

export interface Deps {
  calls: CallStore;
  devices: DeviceStore;
  pusher: Pusher;
  clock: Clock;
  timer: Timer;
  tokenKeys: () => TokenKeyRing;
  /** Re-reads the key ring now; false when it was just re-read (so a forger cannot force reads). */
  refreshTokenKeys?: () => Promise<boolean>;
  defaultEnvironment: ApnsEnvironment;
  /** How long the webhook waits for APNs before reporting a device `Timeout`. */
  pushDeadlineMs: number;
  /** How often a held request (`Prefer: wait`) reads its call again. */
  waitPollMs: number;
  /** Per-tenant limits; absent, nothing is limited. */
  limits?: LimitStore;
  log: Log;
  /** Absent: nothing is measured (tests, tools). */
  metrics?: Metrics;
}

/** A tenant's callback: where its events are POSTed, and which ones. */
export interface Webhook {
  url: string;
  events: EventType[];
  updatedAt: number;
}

/** Changes are ordered by their signed time: an older one throws StaleRequestError. */
export interface WebhookStore {
  get(tenantId: string): Promise<Webhook | undefined>;
  put(tenantId: string, webhook: Webhook, signedAt: number): Promise<void>;
  remove(tenantId: string, signedAt: number): Promise<void>;
}

/** Every event goes out here (the stack's SNS topic; a log line locally). */
export interface EventPublisher {
  publish(events: readonly CallwakeEvent[]): Promise<void>;
}

/** One event on its way to one tenant's callback url. */
export interface CallbackDelivery {
  tenantId: string;
  url: string;
  event: CallwakeEvent;
  /** Attempts made so far. */
  attempts: number;
  /** When the first attempt was made (epoch ms): retries go on for a day after it. */
  firstAttemptAt?: number;
}

/** Deliveries waiting for their (next) attempt, and the ones given up on. */
export interface CallbackQueue {
  enqueue(deliveries: readonly CallbackDelivery[], delayMs: number): Promise<void>;
  deadLetter(delivery: CallbackDelivery): Promise<void>;
}

export type PostOutcome = { ok: true; status: number } | { ok: false; status?: number; error?: string };

/** POSTs one callback; never throws, never follows a redirect, gives up after `timeoutMs`. */
export interface CallbackSender {
  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostOutcome>;
}

/** Calls `expireRing` for a call at its ring end (an SQS delay message; a timer locally). */
export interface RingTimers {
  schedule(callUuid: string, expiresAt: number): Promise<void>;
}
