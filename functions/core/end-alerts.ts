import type { AlertTarget, Call } from './call.js';
import type { Clock } from './clock.js';
import type { CallwakeEvent } from './events.js';
import { fingerprint } from './ids.js';
import type { DeviceStore, Log, Metrics, Pusher } from './ports.js';
import { callerLabel, fitDisplayName, MAX_PAYLOAD_BYTES, pushedCaller } from './push-payload.js';

/** How long a missed-call alert stays worth delivering to a phone that is off. */
const MISSED_ALERT_TTL_MS = 24 * 60 * 60 * 1000;

export interface EndAlertDeps {
  pusher: Pusher;
  devices: DeviceStore;
  clock: Clock;
  log: Log;
  pushDeadlineMs: number;
  metrics?: Metrics;
}

export type EndAlertKind = 'missed' | 'missedPassive' | 'ended';

export interface EndAlert {
  kind: EndAlertKind;
  target: AlertTarget;
}

/**
 * The normal notifications a call's end calls for (Apple's advice 4), from the event and the call:
 * - ended unanswered (cancelled with `remoteEnded` or `unanswered`, or expired), with nobody
 *   having answered or declined and the user's `missedCallPush` on: a missed-call alert to every
 *   device whose push was sent and that has an alert token;
 * - rejected for Do Not Disturb: the same alert, passive and silent, to the user's alert-capable
 *   devices (no push rang them);
 * - alert-mode devices have their incoming-call alert replaced at the call's end (same collapse
 *   id): the missed-call alert when it ended unanswered, else a passive "call ended" alert; the
 *   device that answered or declined gets none.
 */
export function endAlertsOf(event: CallwakeEvent, call: Call): EndAlert[] {
  const missedOn = call.missedCallPush !== false;
  if (event.type === 'call.rejected') {
    if (event.reason !== 'doNotDisturb' || !missedOn) return [];
    return (call.passiveAlerts ?? []).map((target) => ({ kind: 'missedPassive', target }));
  }
  const decided = call.answeredBy !== undefined || call.declinedBy !== undefined;
  const unanswered =
    !decided &&
    ((event.type === 'call.cancelled' && (event.reason === 'remoteEnded' || event.reason === 'unanswered')) ||
      event.type === 'call.expired');
  // The first end of the call: a later cancel of an answered call replaces nothing again.
  const firstEnd =
    event.type === 'call.answered' ||
    event.type === 'call.declined' ||
    event.type === 'call.expired' ||
    (event.type === 'call.cancelled' && !decided);
  if (!firstEnd) return [];
  const alerts: EndAlert[] = [];
  for (const d of Object.values(call.devices)) {
    if (d.delivery !== 'sent' || d.alert === undefined) continue;
    if (d.pushType === 'voip') {
      if (unanswered && missedOn) alerts.push({ kind: 'missed', target: d.alert });
    } else if (d.deviceId !== call.answeredBy && d.deviceId !== call.declinedBy) {
      alerts.push({ kind: unanswered && missedOn ? 'missed' : 'ended', target: d.alert });
    }
  }
  return alerts;
}

/** The alert's body (at most 4096 bytes: a long display name is shortened, never the alert dropped). */
export function endAlertPayload(kind: EndAlertKind, call: Call, endedAt: number, endReason?: string): string {
  if (kind === 'ended') {
    return JSON.stringify({
      aps: { alert: { 'title-loc-key': 'CALLWAKE_CALL_ENDED_TITLE' }, 'interruption-level': 'passive' },
      callwake: { v: 1, type: 'ended', callId: call.callId, callUuid: call.callUuid, endReason, endedAt },
    });
  }
  return fitDisplayName(MAX_PAYLOAD_BYTES.alert, call.caller.displayName, (displayName) => {
    const label = callerLabel(call, displayName);
    return JSON.stringify({
      aps: {
        alert: {
          'title-loc-key': 'CALLWAKE_MISSED_CALL_TITLE',
          'loc-key': 'CALLWAKE_MISSED_CALL_BODY',
          'loc-args': label === undefined ? [] : [label],
        },
        ...(kind === 'missedPassive' ? { 'interruption-level': 'passive' } : { sound: 'default' }),
        'thread-id': 'callwake.missed',
        'mutable-content': 1,
      },
      callwake: {
        v: 1,
        type: 'missed',
        callId: call.callId,
        callUuid: call.callUuid,
        caller: pushedCaller(call, displayName),
        createdAt: call.createdAt,
        endedAt,
      },
    });
  });
}

/**
 * Sends the alerts a call's end calls for, with the same pusher as the rings (shared provider
 * token, bounded retries). Never throws: an alert that fails is logged, and an alert token APNs
 * calls dead is cleared from its registered device (the device and its VoIP token stay).
 */
export async function sendEndAlerts(deps: EndAlertDeps, event: CallwakeEvent, call: Call): Promise<number> {
  const alerts = endAlertsOf(event, call);
  if (alerts.length === 0) return 0;
  const endedAt = Date.parse(event.occurredAt);
  const deadline = Date.now() + deps.pushDeadlineMs;
  const sent = await Promise.all(
    alerts.map(async ({ kind, target }) => {
      try {
        const outcome = await deps.pusher.send(
          {
            pushToken: target.pushToken,
            teamId: target.teamId,
            environment: target.environment,
            pushType: 'alert',
            topic: target.bundleId,
            expiration: Math.floor((endedAt + MISSED_ALERT_TTL_MS) / 1000),
            collapseId: call.callUuid,
            payload: endAlertPayload(kind, call, endedAt, event.call?.endReason ?? undefined),
          },
          deadline,
        );
        if (outcome.result === 'sent') {
          deps.metrics?.count('AlertsSent');
          return true;
        }
        deps.metrics?.count('AlertsFailed', 1, { reason: outcome.reason });
        deps.log.warn('end-of-call alert refused', {
          device: fingerprint(target.deviceId),
          kind,
          reason: outcome.reason,
        });
        const dead = outcome.reason === 'Unregistered' || outcome.reason === 'BadDeviceToken';
        // Clears only a device's alert token: an alert-mode device's own token is left to its next ring.
        if (dead && target.registeredTo !== undefined) {
          await deps.devices.clearAlertToken(call.tenantId, target.registeredTo, target.deviceId, target.pushToken);
          deps.log.info('alert token cleared', { device: fingerprint(target.deviceId), reason: outcome.reason });
        }
      } catch (e) {
        deps.log.warn('end-of-call alert failed', { device: fingerprint(target.deviceId), error: (e as Error)?.name });
      }
      return false;
    }),
  );
  return sent.filter(Boolean).length;
}
