import { createHash } from 'node:crypto';
import { type Call, orderedSlots, type PbxView, pbxViewOf } from './call.js';
import { iso } from './clock.js';

/** Every event type, in the contract's order; a webhook filter may name only these. */
export const EVENT_TYPES = [
  'call.ringing',
  'call.unreachable',
  'call.rejected',
  'call.confirmed',
  'call.answered',
  'call.declined',
  'call.cancelled',
  'call.expired',
  'device.pruned',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One change of a call (or a device pruned), as the operator's systems and the PBX receive it. */
export interface CallwakeEvent {
  /** The same for every delivery of one event: receivers drop duplicates by it. */
  id: string;
  type: EventType;
  tenantId: string;
  occurredAt: string;
  callId: string;
  callUuid: string;
  /** 1, 2, 3, … for the events of one call, in the order its changes happened (not on device.pruned). */
  sequence?: number;
  /** The PBX view right after the change (not on device.pruned). */
  call?: PbxView;
  deviceId?: string;
  userId?: string;
  reason?: string;
}

/** A device removed from the registry because APNs called its token dead, during one ring. */
export interface PruneRecord {
  tenantId: string;
  userId: string;
  deviceId: string;
  reason: string;
  callId: string;
  callUuid: string;
  at: number;
}

/** What changed in the table, as the events function sees it (after the stream adapter). */
export type TableChange =
  | { kind: 'call'; before: Call | undefined; after: Call }
  | { kind: 'pruned'; record: PruneRecord };

const eventId = (...parts: (string | number)[]): string =>
  `evt_${createHash('sha256').update(parts.join('/')).digest('base64url').slice(0, 24)}`;

/**
 * A call's facts: each is set by exactly one write and never unset, so the events of a call are
 * its facts in the order they appeared, and the number of facts a call holds is the sequence of
 * its last event. Nothing extra is stored to number events.
 */
interface Fact {
  key: string;
  type: EventType;
  at: number;
  deviceId?: string;
  reason?: string;
}

function factsOf(call: Call): Fact[] {
  if (call.tombstone) return [];
  const facts: Fact[] = [];
  if (call.status === 'rejected') {
    facts.push({ key: 'rejected', type: 'call.rejected', at: call.createdAt, reason: call.rejectReason ?? 'blocked' });
  }
  if (call.answerStatus !== undefined) {
    facts.push({
      key: 'delivered',
      type: call.answerStatus === 'ringing' ? 'call.ringing' : 'call.unreachable',
      at: call.deliveredAt ?? call.createdAt,
    });
  }
  for (const [slot, d] of orderedSlots(call)) {
    if (d.confirmedAt !== undefined) {
      facts.push({ key: `confirmed:${slot}`, type: 'call.confirmed', at: d.confirmedAt, deviceId: d.deviceId });
    }
  }
  if (call.answeredBy !== undefined) {
    facts.push({
      key: 'answered',
      type: 'call.answered',
      at: call.answeredAt ?? call.createdAt,
      deviceId: call.answeredBy,
    });
  }
  if (call.declinedBy !== undefined) {
    facts.push({
      key: 'declined',
      type: 'call.declined',
      at: call.declinedAt ?? call.createdAt,
      deviceId: call.declinedBy,
    });
  }
  if (call.status === 'cancelled') {
    facts.push({
      key: 'cancelled',
      type: 'call.cancelled',
      at: call.endedAt ?? call.createdAt,
      reason: call.endReason,
    });
  }
  if (call.expiredAt !== undefined) facts.push({ key: 'expired', type: 'call.expired', at: call.expiresAt });
  return facts;
}

/**
 * The events one write to a call item produced. `before` is the item as it was (absent for a
 * new call, or for an old call whose key a new one took over after its lifetime).
 */
export function eventsOfCallChange(before: Call | undefined, after: Call): CallwakeEvent[] {
  const sameCall = before !== undefined && before.createdAt === after.createdAt && !before.tombstone;
  const had = new Set((sameCall ? factsOf(before) : []).map((f) => f.key));
  let sequence = had.size;
  return factsOf(after)
    .filter((f) => !had.has(f.key))
    .sort((a, b) => a.at - b.at)
    .map((f) => {
      sequence += 1;
      return {
        id: eventId(after.tenantId, after.callUuid, after.createdAt, sequence),
        type: f.type,
        tenantId: after.tenantId,
        occurredAt: iso(f.at),
        callId: after.callId,
        callUuid: after.callUuid,
        sequence,
        call: pbxViewOf(after, f.at),
        ...(f.deviceId === undefined ? {} : { deviceId: f.deviceId }),
        ...(f.reason === undefined ? {} : { reason: f.reason }),
      };
    });
}

export function prunedEvent(r: PruneRecord): CallwakeEvent {
  return {
    id: eventId(r.tenantId, 'pruned', r.userId, r.deviceId, r.at),
    type: 'device.pruned',
    tenantId: r.tenantId,
    occurredAt: iso(r.at),
    callId: r.callId,
    callUuid: r.callUuid,
    userId: r.userId,
    deviceId: r.deviceId,
    reason: r.reason,
  };
}

export const eventsOfChange = (change: TableChange): CallwakeEvent[] =>
  change.kind === 'call' ? eventsOfCallChange(change.before, change.after) : [prunedEvent(change.record)];
