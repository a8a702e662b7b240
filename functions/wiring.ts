import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoCallStore } from './adapters/dynamo-call-store.js';
import { DynamoDeviceStore } from './adapters/dynamo-device-store.js';
import { DynamoLimitStore } from './adapters/dynamo-limit-store.js';
import { DynamoWebhookStore } from './adapters/dynamo-webhook-store.js';
import type { AppDeps } from './app-api/api.js';
import { DEFAULT_TENANT_LIMITS } from './config.js';
import type { ApnsEnvironment } from './core/call.js';
import type { TokenKeyRing } from './core/call-token.js';
import { type Clock, realTimer, systemClock } from './core/clock.js';
import type { DispatchDeps } from './core/dispatch-events.js';
import type { RingTimerDeps } from './core/expire-ring.js';
import type { CallbackQueue, EventPublisher, Log, Metrics, Pusher, RingTimers } from './core/ports.js';
import type { TenantConfig, TenantLimits } from './core/tenants.js';
import type { PbxDeps } from './pbx-api/deps.js';

/**
 * A held request reads its call this often: a change is seen within this (plus one read) of the
 * write, well inside the contract's 300 ms; docs/decisions.md has the cost.
 */
export const DEFAULT_WAIT_POLL_MS = 100;

export interface Parts {
  doc: DynamoDBDocumentClient;
  tableName: string;
  pusher: Pusher;
  tokenKeys: () => TokenKeyRing;
  refreshTokenKeys?: () => Promise<boolean>;
  /** The tenants' configuration (secrets, apps, limits). */
  tenant: (tenantId: string) => Promise<TenantConfig | undefined>;
  /** The limits of a tenant that sets none. @default DEFAULT_TENANT_LIMITS */
  defaultLimits?: TenantLimits;
  log: Log;
  clock?: Clock;
  defaultEnvironment: ApnsEnvironment;
  pushDeadlineMs: number;
  /** How often a held request reads its call again. @default DEFAULT_WAIT_POLL_MS */
  waitPollMs?: number;
  publicBaseUrl?: string | undefined;
  /** `npm start` only: callbacks to http: URLs. */
  allowHttpCallbacks?: boolean;
  metrics?: Metrics;
}

/** The one place adapters are plugged into the use cases' ports (Lambda, local server, tests). */
export function wire(p: Parts): PbxDeps & AppDeps {
  const clock = p.clock ?? systemClock;
  return {
    calls: new DynamoCallStore(p.doc, p.tableName, clock),
    devices: new DynamoDeviceStore(p.doc, p.tableName),
    pusher: p.pusher,
    clock,
    timer: realTimer,
    tokenKeys: p.tokenKeys,
    ...(p.refreshTokenKeys ? { refreshTokenKeys: p.refreshTokenKeys } : {}),
    tenant: p.tenant,
    defaultLimits: p.defaultLimits ?? DEFAULT_TENANT_LIMITS,
    defaultEnvironment: p.defaultEnvironment,
    pushDeadlineMs: p.pushDeadlineMs,
    waitPollMs: p.waitPollMs ?? DEFAULT_WAIT_POLL_MS,
    log: p.log,
    ...(p.publicBaseUrl ? { publicBaseUrl: p.publicBaseUrl } : {}),
    webhooks: new DynamoWebhookStore(p.doc, p.tableName),
    allowHttpCallbacks: p.allowHttpCallbacks ?? false,
    limits: new DynamoLimitStore(p.doc, p.tableName),
    ...(p.metrics ? { metrics: p.metrics } : {}),
  };
}

/** The events function: table changes in, events out (topic, callback queue, ring timers). */
export function wireDispatch(p: {
  doc: DynamoDBDocumentClient;
  tableName: string;
  publisher: EventPublisher;
  callbacks: CallbackQueue;
  ringTimers: RingTimers;
  /** The same pusher as the rings: missed-call and alert-replacement notifications. */
  pusher: Pusher;
  pushDeadlineMs: number;
  log: Log;
  clock?: Clock;
  metrics?: Metrics;
}): DispatchDeps {
  return {
    publisher: p.publisher,
    webhooks: new DynamoWebhookStore(p.doc, p.tableName),
    callbacks: p.callbacks,
    ringTimers: p.ringTimers,
    limits: new DynamoLimitStore(p.doc, p.tableName),
    alerts: {
      pusher: p.pusher,
      devices: new DynamoDeviceStore(p.doc, p.tableName),
      clock: p.clock ?? systemClock,
      log: p.log,
      pushDeadlineMs: p.pushDeadlineMs,
      ...(p.metrics ? { metrics: p.metrics } : {}),
    },
    log: p.log,
  };
}

/** The ring-timer function: marks calls that rang out. */
export function wireRingTimer(p: {
  doc: DynamoDBDocumentClient;
  tableName: string;
  log: Log;
  clock?: Clock;
  metrics?: Metrics;
}): RingTimerDeps {
  const clock = p.clock ?? systemClock;
  return {
    calls: new DynamoCallStore(p.doc, p.tableName, clock),
    clock,
    timer: realTimer,
    log: p.log,
    ...(p.metrics ? { metrics: p.metrics } : {}),
  };
}
