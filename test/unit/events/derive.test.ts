import { describe, expect, it } from '@jest/globals';
import type { Call } from '../../../functions/core/call.js';
import { eventsOfCallChange, prunedEvent } from '../../../functions/core/events.js';

/** Events derived from one write to a call item: its new facts, numbered after the ones it had. */
const base: Call = {
  tenantId: 'acme',
  callId: 'c1@pbx',
  callUuid: 'uuid-1',
  status: 'ringing',
  tombstone: false,
  createdAt: 1_000,
  expiresAt: 61_000,
  lifetimeEnd: 3_661_000,
  caller: { number: '+1555' },
  hasVideo: false,
  devices: {
    d0: { deviceId: 'phone', pushType: 'voip', delivery: 'pending' },
    d1: { deviceId: 'pad', pushType: 'voip', delivery: 'pending' },
  },
};
const delivered: Call = {
  ...base,
  answerStatus: 'ringing',
  deliveredAt: 1_050,
  devices: {
    d0: { ...base.devices.d0!, delivery: 'sent' },
    d1: { ...base.devices.d1!, delivery: 'sent' },
  },
};

describe('events of a call change', () => {
  it('a new call is no event until its pushes are recorded; then call.ringing #1 with the view', () => {
    expect(eventsOfCallChange(undefined, base)).toEqual([]);
    const [e, ...rest] = eventsOfCallChange(base, delivered);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({
      type: 'call.ringing',
      tenantId: 'acme',
      callId: 'c1@pbx',
      callUuid: 'uuid-1',
      sequence: 1,
      occurredAt: new Date(1_050).toISOString(),
      call: { status: 'ringing', devices: [{ delivery: 'sent' }, { delivery: 'sent' }] },
    });
    expect(e!.id).toMatch(/^evt_[A-Za-z0-9_-]{24}$/);
  });

  it('nothing sent: call.unreachable', () => {
    const unreachable: Call = { ...base, status: 'unreachable', answerStatus: 'unreachable', deliveredAt: 1_040 };
    expect(eventsOfCallChange(base, unreachable).map((e) => [e.type, e.sequence, e.call?.status])).toEqual([
      ['call.unreachable', 1, 'unreachable'],
    ]);
  });

  it('numbers every later fact after the facts the call already held, and ids follow the number', () => {
    const confirmed: Call = {
      ...delivered,
      devices: { ...delivered.devices, d1: { ...delivered.devices.d1!, confirmedAt: 2_000 } },
    };
    const [c] = eventsOfCallChange(delivered, confirmed);
    expect(c).toMatchObject({ type: 'call.confirmed', sequence: 2, deviceId: 'pad' });
    const answered: Call = { ...confirmed, status: 'answered', answeredBy: 'pad', answeredAt: 3_000 };
    const [a] = eventsOfCallChange(confirmed, answered);
    expect(a).toMatchObject({ type: 'call.answered', sequence: 3, deviceId: 'pad', call: { answeredBy: 'pad' } });
    const cancelled: Call = { ...answered, status: 'cancelled', endReason: 'failed', endedAt: 4_000 };
    const [x] = eventsOfCallChange(answered, cancelled);
    expect(x).toMatchObject({
      type: 'call.cancelled',
      sequence: 4,
      reason: 'failed',
      occurredAt: new Date(4_000).toISOString(),
    });
    // A retried batch derives the same event, id included.
    expect(eventsOfCallChange(answered, cancelled)).toEqual([x]);
    expect(new Set([c!.id, a!.id, x!.id]).size).toBe(3);
  });

  it('a change that adds no fact (a repeated confirm, a declined call cancelled) is no event', () => {
    expect(eventsOfCallChange(delivered, { ...delivered })).toEqual([]);
    const declined: Call = { ...delivered, status: 'declined', declinedBy: 'phone', declinedAt: 2_000 };
    expect(eventsOfCallChange(delivered, declined).map((e) => [e.type, e.sequence])).toEqual([['call.declined', 2]]);
  });

  it('call.expired is dated at the ring end, its view expired', () => {
    const expired: Call = { ...delivered, expiredAt: 61_400 };
    expect(eventsOfCallChange(delivered, expired)).toEqual([
      expect.objectContaining({
        type: 'call.expired',
        sequence: 2,
        occurredAt: new Date(61_000).toISOString(),
        call: expect.objectContaining({ status: 'expired', endReason: 'unanswered' }),
      }),
    ]);
  });

  it('a tombstone is no event, and a new call on an old key starts again at 1', () => {
    const tombstone: Call = { ...base, status: 'cancelled', tombstone: true, endReason: 'remoteEnded', devices: {} };
    expect(eventsOfCallChange(undefined, tombstone)).toEqual([]);
    const old: Call = { ...delivered, status: 'cancelled', endedAt: 5_000, createdAt: 0 };
    const reborn: Call = { ...delivered, createdAt: 9_000_000, deliveredAt: 9_000_050 };
    expect(eventsOfCallChange(old, reborn).map((e) => e.sequence)).toEqual([1]);
    expect(eventsOfCallChange(old, reborn)[0]!.id).not.toBe(eventsOfCallChange(base, delivered)[0]!.id);
  });

  it('several new facts in one change are numbered in time order', () => {
    const both: Call = {
      ...delivered,
      devices: {
        d0: { ...delivered.devices.d0!, confirmedAt: 2_500 },
        d1: { ...delivered.devices.d1!, confirmedAt: 2_100 },
      },
    };
    expect(eventsOfCallChange(delivered, both).map((e) => [e.deviceId, e.sequence])).toEqual([
      ['pad', 2],
      ['phone', 3],
    ]);
  });

  it('a rejected call is call.rejected #1 with its reason', () => {
    const rejected: Call = { ...base, status: 'rejected', rejectReason: 'doNotDisturb', devices: {} };
    expect(eventsOfCallChange(undefined, rejected)).toEqual([
      expect.objectContaining({ type: 'call.rejected', sequence: 1, reason: 'doNotDisturb' }),
    ]);
  });
});

describe('device.pruned', () => {
  it('has the user, device, reason and the ring that found the dead token, but no sequence or view', () => {
    const e = prunedEvent({
      tenantId: 'acme',
      userId: 'ann',
      deviceId: 'ann-ipad',
      reason: 'Unregistered',
      callId: 'c1@pbx',
      callUuid: 'uuid-1',
      at: 5_000,
    });
    expect(e).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'device.pruned',
      tenantId: 'acme',
      occurredAt: new Date(5_000).toISOString(),
      callId: 'c1@pbx',
      callUuid: 'uuid-1',
      userId: 'ann',
      deviceId: 'ann-ipad',
      reason: 'Unregistered',
    });
  });
});
