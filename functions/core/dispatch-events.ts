import { type EndAlertDeps, sendEndAlerts } from './end-alerts.js';
import { type CallwakeEvent, eventsOfChange, type TableChange } from './events.js';
import type { LimitStore } from './limits.js';
import type { CallbackDelivery, CallbackQueue, EventPublisher, Log, RingTimers, WebhookStore } from './ports.js';

export interface DispatchDeps {
  publisher: EventPublisher;
  webhooks: WebhookStore;
  callbacks: CallbackQueue;
  ringTimers: RingTimers;
  /** Missed-call and alert-replacement notifications at a call's end. */
  alerts: EndAlertDeps;
  /** The tenants' ringing slots: a call gives its slot back at its first end. */
  limits?: LimitStore;
  log: Log;
}

/** The event types that end a ringing call (its slot is given back at the first of them). */
const ENDS_RINGING = new Set(['call.unreachable', 'call.answered', 'call.declined', 'call.cancelled', 'call.expired']);

/**
 * Turns a batch of table changes into events and sends them on. Every step is idempotent (event
 * ids are derived from the change), so a batch that fails part-way is simply retried whole.
 * 1. Derive the events of each change, in the order of the changes.
 * 2. A new ringing call gets its ring timer (its `call.expired`); an ending one gives its tenant's
 *    ringing slot back (once: the call's mark goes in the same write).
 * 3. Publish every event (SNS).
 * 4. For each tenant with a webhook, queue the events its filter takes, one delivery each. The
 *    webhook is read now, after the change, so a change made after a webhook's answer uses it.
 * 5. Alongside, the notifications a call's end calls for (missed call, alert replacement). They
 *    never fail the batch: a retried batch would publish every event again for one alert.
 */
export async function dispatchChanges(deps: DispatchDeps, changes: readonly TableChange[]): Promise<CallwakeEvent[]> {
  const perChange = changes.map((c) => ({ change: c, events: eventsOfChange(c) }));
  const events = perChange.flatMap((p) => p.events);
  await Promise.all(
    changes.flatMap((c) => (startsRinging(c) ? [deps.ringTimers.schedule(c.after.callUuid, c.after.expiresAt)] : [])),
  );
  if (events.length === 0) return events;
  await Promise.all(
    perChange.flatMap(({ change, events: own }) =>
      change.kind === 'call' && change.after.countsRinging && own.some((e) => ENDS_RINGING.has(e.type))
        ? [deps.limits?.endRinging(change.after.tenantId, change.after.callUuid)]
        : [],
    ),
  );
  const alerts = Promise.all(
    perChange.flatMap(({ change, events: own }) =>
      change.kind === 'call' ? own.map((e) => sendEndAlerts(deps.alerts, e, change.after)) : [],
    ),
  );
  await deps.publisher.publish(events);
  await Promise.all([...groupByTenant(events)].map(([tenantId, own]) => queueCallbacks(deps, tenantId, own)));
  await alerts;
  return events;
}

/** A call item that just came to be, ringing (a tombstone or a rejected call never rings). */
const startsRinging = (c: TableChange): c is Extract<TableChange, { kind: 'call' }> =>
  c.kind === 'call' &&
  c.after.status === 'ringing' &&
  !c.after.tombstone &&
  (c.before === undefined || c.before.createdAt !== c.after.createdAt);

function groupByTenant(events: readonly CallwakeEvent[]): Map<string, CallwakeEvent[]> {
  const by = new Map<string, CallwakeEvent[]>();
  for (const e of events) by.set(e.tenantId, [...(by.get(e.tenantId) ?? []), e]);
  return by;
}

async function queueCallbacks(deps: DispatchDeps, tenantId: string, events: CallwakeEvent[]): Promise<void> {
  const webhook = await deps.webhooks.get(tenantId);
  if (!webhook) return;
  const wanted = new Set(webhook.events);
  const deliveries: CallbackDelivery[] = events
    .filter((e) => wanted.has(e.type))
    .map((event) => ({ tenantId, url: webhook.url, event, attempts: 0 }));
  if (deliveries.length === 0) return;
  // No log line: the callback queue's NumberOfMessagesSent counts these, and each delivery logs
  // its outcome with its tenant and event (a line per stream record here cost ~330 bytes; docs/cost.md).
  await deps.callbacks.enqueue(deliveries, 0);
}
