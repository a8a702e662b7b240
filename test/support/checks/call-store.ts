/**
 * The CallStore port's semantics, written once and run against the in-memory fake (test/unit)
 * and DynamoCallStore on DynamoDB Local (test/integration), so the fast tier's fake cannot drift
 * from the adapter the service runs on.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { Call } from '../../../functions/core/call.js';
import type { Clock } from '../../../functions/core/clock.js';
import type { CallStore } from '../../../functions/core/ports.js';
import { VirtualClock } from '../fakes/clock.js';

export type MakeCallStore = (clock: Clock) => CallStore | Promise<CallStore>;

const HOUR = 60 * 60 * 1000;
const RING_MS = 60_000;

/** A ringing call created `now`: two pending devices, a 60 s ring, an hour of grace. */
export function ringingCall(now: number, over: Partial<Call> = {}): Call {
  return {
    tenantId: 'acme',
    callId: `${randomUUID()}@pbx.example.com`,
    callUuid: randomUUID(),
    status: 'ringing',
    tombstone: false,
    createdAt: now,
    expiresAt: now + RING_MS,
    lifetimeEnd: now + RING_MS + HOUR,
    requestHash: 'request-hash',
    caller: { number: '+15550001111', displayName: 'Bob Smith' },
    userId: 'alice',
    hasVideo: false,
    metadata: { registrar: 'sip:pbx.example.com' },
    devices: {
      d0: { deviceId: 'phone', pushType: 'voip', delivery: 'pending' },
      d1: { deviceId: 'tablet', pushType: 'alert', delivery: 'pending' },
    },
    ...over,
  };
}

export const tombstoneOf = (call: Call, now: number): Call => ({
  tenantId: call.tenantId,
  callId: call.callId,
  callUuid: call.callUuid,
  status: 'cancelled',
  tombstone: true,
  endReason: 'remoteEnded',
  createdAt: now,
  expiresAt: now,
  lifetimeEnd: now + HOUR,
  caller: {},
  hasVideo: false,
  devices: {},
  endedAt: now,
});

export function describeCallStoreContract(name: string, make: MakeCallStore): void {
  const setup = async () => {
    const clock = new VirtualClock();
    const store = await make(clock);
    return { clock, store, now: clock.now() };
  };
  /** A stored ringing call. */
  const stored = async (over: Partial<Call> = {}) => {
    const s = await setup();
    const call = ringingCall(s.now, over);
    expect(await s.store.create(call)).toEqual({ created: true });
    return { ...s, call };
  };
  const changed = (call: Call) => ({ outcome: 'changed', call });
  const unchanged = (call: Call) => ({ outcome: 'unchanged', call });

  describe(`CallStore contract: ${name}`, () => {
    describe('create and get', () => {
      it('creates a new call and reads back exactly what was stored', async () => {
        const { store, call } = await stored();
        expect(await store.get(call.callUuid)).toEqual(call);
      });

      it('keeps metadata under any key, prototype names included, and any string value', async () => {
        const metadata = JSON.parse('{"":"empty","__proto__":"p","constructor":"c","toString":"","a.b":"☎ \\u0000"}');
        const { store, call } = await stored({ metadata });
        const got = await store.get(call.callUuid);
        expect(Object.entries(got!.metadata!)).toEqual(Object.entries(metadata));
      });

      it('does not create over a live call: answers with the one stored (a ringing call or a tombstone)', async () => {
        const { store, call, now } = await stored();
        const again = ringingCall(now + 1000, { callUuid: call.callUuid, requestHash: 'another' });
        expect(await store.create(again)).toEqual({ created: false, existing: call });
        expect(await store.get(call.callUuid)).toEqual(call);

        const s = await setup();
        const tomb = tombstoneOf(ringingCall(s.now), s.now);
        expect(await s.store.putTombstone(tomb)).toBe(true);
        const late = ringingCall(s.now + 5000, { callUuid: tomb.callUuid });
        expect(await s.store.create(late)).toEqual({ created: false, existing: tomb });
      });

      it('creates over a call past its lifetime (judged at the new call’s createdAt) that is not yet deleted', async () => {
        const { store, call, clock } = await stored();
        clock.advance(RING_MS + HOUR);
        const next = ringingCall(clock.now(), { callUuid: call.callUuid, requestHash: 'next' });
        expect(await store.create(next)).toEqual({ created: true });
        expect(await store.get(call.callUuid)).toEqual(next);
      });

      it('reads a call as absent from its lifetime end on, and an unknown call as absent', async () => {
        const { store, call, clock } = await stored();
        clock.advance(RING_MS + HOUR - 1);
        expect(await store.get(call.callUuid)).toEqual(call);
        clock.advance(1);
        expect(await store.get(call.callUuid)).toBeUndefined();
        expect(await store.get(randomUUID())).toBeUndefined();
      });

      it('hands out copies: changing a call it returned changes nothing stored', async () => {
        const { store, call } = await stored();
        const got = (await store.get(call.callUuid))!;
        got.status = 'answered';
        got.devices.d0!.delivery = 'sent';
        expect(await store.get(call.callUuid)).toEqual(call);
      });
    });

    describe('recordDeliveries', () => {
      it('records each slot’s result, the answer status and when; a slot not named is left as it was', async () => {
        const { store, call, now } = await stored();
        const out = await store.recordDeliveries(
          call.callUuid,
          { d0: { delivery: 'sent', apnsId: 'apns-1' } },
          'ringing',
          now + 40,
        );
        const want: Call = {
          ...call,
          answerStatus: 'ringing',
          deliveredAt: now + 40,
          devices: { ...call.devices, d0: { deviceId: 'phone', pushType: 'voip', delivery: 'sent', apnsId: 'apns-1' } },
        };
        expect(out).toEqual(want);
        expect(await store.get(call.callUuid)).toEqual(want);
      });

      it('recorded again (a retry settling the rest): the first time is kept', async () => {
        const { store, call, now } = await stored();
        await store.recordDeliveries(
          call.callUuid,
          { d0: { delivery: 'sent', apnsId: 'apns-1' } },
          'ringing',
          now + 40,
        );
        const out = await store.recordDeliveries(
          call.callUuid,
          { d1: { delivery: 'failed', reason: 'Timeout' } },
          'ringing',
          now + 6000,
        );
        expect(out).toMatchObject({
          deliveredAt: now + 40,
          devices: { d0: { delivery: 'sent', apnsId: 'apns-1' }, d1: { delivery: 'failed', reason: 'Timeout' } },
        });
      });

      it('nothing sent: a ringing call becomes unreachable / failed', async () => {
        const { store, call, now } = await stored();
        const results = {
          d0: { delivery: 'failed' as const, reason: 'Unregistered' },
          d1: { delivery: 'failed' as const, reason: 'Timeout' },
        };
        const out = await store.recordDeliveries(call.callUuid, results, 'unreachable', now + 5000);
        const want: Call = {
          ...call,
          status: 'unreachable',
          endReason: 'failed',
          answerStatus: 'unreachable',
          deliveredAt: now + 5000,
          devices: {
            d0: { ...call.devices.d0!, ...results.d0 },
            d1: { ...call.devices.d1!, ...results.d1 },
          },
        };
        expect(out).toEqual(want);
        expect(await store.get(call.callUuid)).toEqual(want);
      });

      it.each(['answer', 'decline'] as const)(
        'nothing sent, but a device managed to %s: the call keeps that state and the PBX is told ringing',
        async (action) => {
          const { store, call, now } = await stored();
          await store[action](call.callUuid, 'd0', now + 10);
          const out = await store.recordDeliveries(
            call.callUuid,
            { d0: { delivery: 'failed', reason: 'Timeout' } },
            'unreachable',
            now + 5000,
          );
          expect(out).toMatchObject({
            status: action === 'answer' ? 'answered' : 'declined',
            answerStatus: 'ringing',
            devices: { d0: { delivery: 'failed', reason: 'Timeout' } },
          });
          expect(out?.endReason).toBeUndefined();
        },
      );

      it('nothing sent to a call already cancelled: it stays cancelled with its reason', async () => {
        const { store, call, now } = await stored();
        await store.cancel(call.callUuid, 'remoteEnded', now + 10);
        const out = await store.recordDeliveries(
          call.callUuid,
          { d0: { delivery: 'failed', reason: 'Timeout' } },
          'unreachable',
          now + 5000,
        );
        expect(out).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded', answerStatus: 'unreachable' });
      });

      it('an unknown call: undefined, and nothing is stored', async () => {
        const { store, now } = await setup();
        const callUuid = randomUUID();
        expect(await store.recordDeliveries(callUuid, {}, 'ringing', now)).toBeUndefined();
        expect(await store.get(callUuid)).toBeUndefined();
      });
    });

    describe('cancel', () => {
      it('a ringing call becomes cancelled with the end reason and the time', async () => {
        const { store, call, now } = await stored();
        const want: Call = { ...call, status: 'cancelled', endReason: 'answeredElsewhere', endedAt: now + 5 };
        expect(await store.cancel(call.callUuid, 'answeredElsewhere', now + 5)).toEqual(changed(want));
        expect(await store.get(call.callUuid)).toEqual(want);
      });

      it('an answered call becomes cancelled and keeps who answered', async () => {
        const { store, call, now } = await stored();
        await store.answer(call.callUuid, 'd1', now + 1);
        const r = await store.cancel(call.callUuid, 'remoteEnded', now + 2);
        expect(r).toMatchObject({
          outcome: 'changed',
          call: { status: 'cancelled', endReason: 'remoteEnded', answeredBy: 'tablet', endedAt: now + 2 },
        });
      });

      it('a call ringing past its ring end (expired) is left alone', async () => {
        const { store, call, now } = await stored();
        expect(await store.cancel(call.callUuid, 'remoteEnded', now + RING_MS)).toEqual(unchanged(call));
        expect(await store.get(call.callUuid)).toEqual(call);
      });

      it.each([
        ['declined', async (s: CallStore, c: Call, now: number) => s.decline(c.callUuid, 'd0', now)],
        ['cancelled', async (s: CallStore, c: Call, now: number) => s.cancel(c.callUuid, 'declinedElsewhere', now)],
        [
          'unreachable',
          async (s: CallStore, c: Call, now: number) =>
            s.recordDeliveries(c.callUuid, { d0: { delivery: 'failed', reason: 'Timeout' } }, 'unreachable', now),
        ],
      ])('a %s call is left alone, as it was', async (_state, end) => {
        const { store, call, now } = await stored();
        await end(store, call, now + 1);
        const before = await store.get(call.callUuid);
        expect(await store.cancel(call.callUuid, 'remoteEnded', now + 2)).toEqual(unchanged(before!));
        expect(await store.get(call.callUuid)).toEqual(before);
      });

      it('an unknown call, or one past its lifetime, is absent', async () => {
        const { store, call, now } = await stored();
        expect(await store.cancel(randomUUID(), 'remoteEnded', now)).toEqual({ outcome: 'absent' });
        expect(await store.cancel(call.callUuid, 'remoteEnded', call.lifetimeEnd)).toEqual({ outcome: 'absent' });
      });

      it('a tombstone is left alone', async () => {
        const { store, now } = await setup();
        const tomb = tombstoneOf(ringingCall(now), now);
        await store.putTombstone(tomb);
        expect(await store.cancel(tomb.callUuid, 'unanswered', now + 1)).toEqual(unchanged(tomb));
      });
    });

    describe('putTombstone', () => {
      it('stores a tombstone where there is nothing; a create then meets it', async () => {
        const { store, now } = await setup();
        const tomb = tombstoneOf(ringingCall(now), now);
        expect(await store.putTombstone(tomb)).toBe(true);
        expect(await store.get(tomb.callUuid)).toEqual(tomb);
      });

      it('does not overwrite a live call', async () => {
        const { store, call, now } = await stored();
        expect(await store.putTombstone(tombstoneOf(call, now + 1))).toBe(false);
        expect(await store.get(call.callUuid)).toEqual(call);
      });

      it('replaces a call past its lifetime that is not yet deleted', async () => {
        const { store, call, clock } = await stored();
        clock.advance(RING_MS + HOUR);
        const tomb = tombstoneOf(call, clock.now());
        expect(await store.putTombstone(tomb)).toBe(true);
        expect(await store.get(call.callUuid)).toEqual(tomb);
      });
    });

    describe.each([
      { action: 'answer', status: 'answered', by: 'answeredBy', at: 'answeredAt' },
      { action: 'decline', status: 'declined', by: 'declinedBy', at: 'declinedAt' },
    ] as const)('$action', ({ action, status, by, at }) => {
      it(`a ringing call becomes ${status} by the slot's device, at that time`, async () => {
        const { store, call, now } = await stored();
        const want: Call = {
          ...call,
          status,
          [by]: 'tablet',
          [at]: now + 7,
          devices: { ...call.devices, d1: { ...call.devices.d1!, [at]: now + 7 } },
        };
        expect(await store[action](call.callUuid, 'd1', now + 7)).toEqual(changed(want));
        expect(await store.get(call.callUuid)).toEqual(want);
      });

      it('the same device again: changed again, its first time kept', async () => {
        const { store, call, now } = await stored();
        const first = await store[action](call.callUuid, 'd1', now + 7);
        const again = await store[action](call.callUuid, 'd1', now + 9000);
        expect(again).toEqual(first);
      });

      it('another device, after it: unchanged, the call as the winner left it', async () => {
        const { store, call, now } = await stored();
        const first = await store[action](call.callUuid, 'd1', now + 7);
        expect(first.outcome).toBe('changed');
        expect(await store[action](call.callUuid, 'd0', now + 8)).toEqual({
          outcome: 'unchanged',
          call: (first as { call: Call }).call,
        });
      });

      it('past the ring end, after a cancel, or after the other decision: unchanged', async () => {
        const a = await stored();
        expect(await a.store[action](a.call.callUuid, 'd0', a.now + RING_MS)).toEqual(unchanged(a.call));

        const b = await stored();
        const cancelled = await b.store.cancel(b.call.callUuid, 'remoteEnded', b.now + 1);
        expect(await b.store[action](b.call.callUuid, 'd0', b.now + 2)).toEqual(
          unchanged((cancelled as { call: Call }).call),
        );

        const c = await stored();
        const other = action === 'answer' ? 'decline' : 'answer';
        const decided = await c.store[other](c.call.callUuid, 'd0', c.now + 1);
        expect(await c.store[action](c.call.callUuid, 'd0', c.now + 2)).toEqual({
          outcome: 'unchanged',
          call: (decided as { call: Call }).call,
        });
      });

      it('a slot the call does not have: unchanged; an unknown call or one past its lifetime: absent', async () => {
        const { store, call, now } = await stored();
        expect(await store[action](call.callUuid, 'd7', now + 1)).toEqual(unchanged(call));
        expect(await store[action](randomUUID(), 'd0', now + 1)).toEqual({ outcome: 'absent' });
        expect(await store[action](call.callUuid, 'd0', call.lifetimeEnd)).toEqual({ outcome: 'absent' });
      });
    });

    describe('isRinging', () => {
      it('true while a call rings; false once it ended, for a tombstone and for an unknown call', async () => {
        const { store, call, now } = await stored();
        expect(await store.isRinging(call.callUuid)).toBe(true);
        await store.answer(call.callUuid, 'd0', now + 1);
        expect(await store.isRinging(call.callUuid)).toBe(false);
        const cancelled = await stored();
        await cancelled.store.cancel(cancelled.call.callUuid, 'remoteEnded', cancelled.now + 1);
        expect(await cancelled.store.isRinging(cancelled.call.callUuid)).toBe(false);
        const tomb = tombstoneOf(ringingCall(now), now);
        await store.putTombstone(tomb);
        expect(await store.isRinging(tomb.callUuid)).toBe(false);
        expect(await store.isRinging(randomUUID())).toBe(false);
      });
    });

    describe('markExpired', () => {
      it('marks a call still ringing at or past its ring end, once', async () => {
        const { store, call, now } = await stored();
        expect(await store.markExpired(call.callUuid, now + RING_MS - 1)).toBe(false);
        expect(await store.get(call.callUuid)).toEqual(call);
        expect(await store.markExpired(call.callUuid, now + RING_MS)).toBe(true);
        expect(await store.markExpired(call.callUuid, now + RING_MS + 1000)).toBe(false);
        expect(await store.get(call.callUuid)).toEqual({ ...call, expiredAt: now + RING_MS });
      });

      it('leaves a call that stopped ringing (answered, declined, cancelled, unreachable) and a tombstone', async () => {
        const ends = {
          answered: (s: CallStore, c: Call, now: number) => s.answer(c.callUuid, 'd0', now),
          declined: (s: CallStore, c: Call, now: number) => s.decline(c.callUuid, 'd0', now),
          cancelled: (s: CallStore, c: Call, now: number) => s.cancel(c.callUuid, 'remoteEnded', now),
          unreachable: (s: CallStore, c: Call, now: number) => s.recordDeliveries(c.callUuid, {}, 'unreachable', now),
        };
        for (const [state, end] of Object.entries(ends)) {
          const { store, call, now } = await stored();
          await end(store, call, now + 1);
          const before = await store.get(call.callUuid);
          expect({ state, marked: await store.markExpired(call.callUuid, now + RING_MS) }).toEqual({
            state,
            marked: false,
          });
          expect(await store.get(call.callUuid)).toEqual(before);
        }
        const { store, now } = await setup();
        const tomb = tombstoneOf(ringingCall(now), now);
        await store.putTombstone(tomb);
        expect(await store.markExpired(tomb.callUuid, now + 1)).toBe(false);
      });

      it('an unknown call, or one past its lifetime: false', async () => {
        const { store, call } = await stored();
        expect(await store.markExpired(randomUUID(), call.expiresAt)).toBe(false);
        expect(await store.markExpired(call.callUuid, call.lifetimeEnd)).toBe(false);
      });
    });

    describe('confirm', () => {
      it('records the first confirmation only, and returns the call as it is', async () => {
        const { store, call, now } = await stored();
        const want: Call = { ...call, devices: { ...call.devices, d0: { ...call.devices.d0!, confirmedAt: now + 3 } } };
        expect(await store.confirm(call.callUuid, 'd0', now + 3)).toEqual(want);
        expect(await store.confirm(call.callUuid, 'd0', now + 4000)).toEqual(want);
        expect(await store.get(call.callUuid)).toEqual(want);
      });

      it('records it on an ended call too (the app learns the end from the answer)', async () => {
        const { store, call, now } = await stored();
        await store.cancel(call.callUuid, 'remoteEnded', now + 1);
        expect(await store.confirm(call.callUuid, 'd1', now + 2)).toMatchObject({
          status: 'cancelled',
          devices: { d1: { confirmedAt: now + 2 } },
        });
      });

      it('a slot the call does not have, an unknown call, one past its lifetime: undefined, nothing written', async () => {
        const { store, call, now } = await stored();
        expect(await store.confirm(call.callUuid, 'd2', now + 1)).toBeUndefined();
        expect(await store.confirm(randomUUID(), 'd0', now + 1)).toBeUndefined();
        expect(await store.confirm(call.callUuid, 'd0', call.lifetimeEnd)).toBeUndefined();
        expect(await store.get(call.callUuid)).toEqual(call);
      });
    });
  });
}
