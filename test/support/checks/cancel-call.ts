/**
 * cancelCall and viewCall, the contract's cancel and PBX-view rules that live in the core, checked
 * on any World (the fakes in test/unit, the DynamoDB adapters in test/integration).
 */
import { describe, expect, it } from '@jest/globals';
import { actOnCall } from '../../../functions/core/app-calls.js';
import { END_REASON_OF_CANCEL } from '../../../functions/core/call.js';
import { cancelCall, viewCall } from '../../../functions/core/cancel-call.js';
import { iso } from '../../../functions/core/clock.js';
import { CallNotFoundError } from '../../../functions/core/errors.js';
import { inlineDeviceIdOf } from '../../../functions/core/ids.js';
import { ringCall } from '../../../functions/core/ring-call.js';
import { callUuidOf, newToken } from '../contract-helpers.js';
import type { MakeWorld, World } from '../fakes/world.js';
import { API_URL, claimsOf, HOUR, inlineDevice, replacing, ring, ringRequest } from './kit.js';

/** A ringing call to two inline devices. */
async function ringing(w: World, ringTimeoutSeconds = 60) {
  const [a, b] = [newToken(), newToken()];
  const req = ringRequest({ devices: [inlineDevice(a), inlineDevice(b)], ringTimeoutSeconds });
  await ring(w, req);
  return { callId: req.callId, a, b, req };
}

export function describeCancelAndView(name: string, make: MakeWorld): void {
  describe(`cancelCall (${name})`, () => {
    it.each(Object.entries(END_REASON_OF_CANCEL))(
      'a ringing call cancelled for %s becomes cancelled / %s, for the PBX and every device',
      async (reason, endReason) => {
        const w = make();
        const { callId, a, b } = await ringing(w);
        w.clock.advance(2000);
        const view = await cancelCall(w.deps, w.tenant, callId, reason as keyof typeof END_REASON_OF_CANCEL);
        expect(view).toMatchObject({ callId, status: 'cancelled', endReason, answeredBy: null });
        expect(await viewCall(w.deps, w.tenant, callId)).toEqual(view);
        for (const t of [a, b]) {
          expect(await actOnCall(w.deps, claimsOf(w, t), callId, 'view')).toMatchObject({ status: 'ended', endReason });
        }
      },
    );

    it('an answered call can still be cancelled: answeredBy stays, and the answering device’s view ends too', async () => {
      const w = make();
      const { callId, a, b } = await ringing(w);
      await actOnCall(w.deps, claimsOf(w, a), callId, 'answer');
      const view = await cancelCall(w.deps, w.tenant, callId, 'error');
      expect(view).toMatchObject({ status: 'cancelled', endReason: 'failed', answeredBy: inlineDeviceIdOf(a) });
      expect(await actOnCall(w.deps, claimsOf(w, a), callId, 'view')).toMatchObject({
        status: 'ended',
        endReason: 'failed',
      });
      expect(await actOnCall(w.deps, claimsOf(w, b), callId, 'view')).toMatchObject({
        status: 'ended',
        endReason: 'failed',
      });
    });

    it('a call that already ended keeps its state: declined, cancelled, past its ring end, unreachable', async () => {
      const w = make();
      const declined = await ringing(w);
      await actOnCall(w.deps, claimsOf(w, declined.b), declined.callId, 'decline');
      const cancelled = await ringing(w);
      await cancelCall(w.deps, w.tenant, cancelled.callId, 'answered_elsewhere');
      const expired = await ringing(w, 5);
      const t = newToken();
      w.pusher.reject(t, 'Unregistered');
      const unreachable = ringRequest({ devices: [inlineDevice(t)] });
      await ring(w, unreachable);
      w.clock.advance(5000);

      const before = {
        declined: await viewCall(w.deps, w.tenant, declined.callId),
        cancelled: await viewCall(w.deps, w.tenant, cancelled.callId),
        expired: await viewCall(w.deps, w.tenant, expired.callId),
        unreachable: await viewCall(w.deps, w.tenant, unreachable.callId),
      };
      expect(Object.values(before).map((v) => [v.status, v.endReason])).toEqual([
        ['declined', null],
        ['cancelled', 'answeredElsewhere'],
        ['expired', 'unanswered'],
        ['unreachable', 'failed'],
      ]);
      for (const [state, view] of Object.entries(before)) {
        const { callId } = view;
        expect({ state, view: await cancelCall(w.deps, w.tenant, callId, 'caller_hangup') }).toEqual({ state, view });
        expect({ state, view: await viewCall(w.deps, w.tenant, callId) }).toEqual({ state, view });
      }
    });

    it('an unknown callId is stored as a cancelled tombstone: no ring end, no devices, for one hour', async () => {
      const w = make();
      const callId = ringRequest().callId;
      const now = w.clock.now();
      const view = await cancelCall(w.deps, w.tenant, callId, 'declined_elsewhere');
      expect(view).toEqual({
        callId,
        callUuid: callUuidOf(w.tenant, callId),
        status: 'cancelled',
        endReason: 'declinedElsewhere',
        createdAt: iso(now),
        expiresAt: null,
        answeredBy: null,
        declinedBy: null,
        devices: [],
      });
      w.clock.advance(1000);
      expect(await cancelCall(w.deps, w.tenant, callId, 'timeout')).toEqual(view);
      expect(await viewCall(w.deps, w.tenant, callId)).toEqual(view);
      w.clock.advance(HOUR - 1000);
      await expect(viewCall(w.deps, w.tenant, callId)).rejects.toBeInstanceOf(CallNotFoundError);
    });

    it('a call past its lifetime is unknown: a cancel tombstones its callId afresh', async () => {
      const w = make();
      const { callId } = await ringing(w, 10);
      w.clock.advance(10_000 + HOUR);
      const view = await cancelCall(w.deps, w.tenant, callId, 'caller_hangup');
      expect(view).toMatchObject({ status: 'cancelled', expiresAt: null, devices: [], createdAt: iso(w.clock.now()) });
    });

    it('cancels only its own tenant’s call', async () => {
      const w = make();
      const { callId } = await ringing(w);
      const other = { ...w, tenant: `${w.tenant}-other` };
      expect(await cancelCall(other.deps, other.tenant, callId, 'caller_hangup')).toMatchObject({
        callUuid: callUuidOf(other.tenant, callId),
        status: 'cancelled',
        devices: [],
      });
      expect(await viewCall(w.deps, w.tenant, callId)).toMatchObject({ status: 'ringing' });
    });

    it('a create that wins the key from its tombstone is cancelled instead', async () => {
      const w = make();
      const req = ringRequest({ devices: [inlineDevice(newToken())] });
      const calls = w.deps.calls;
      // The create lands between the cancel finding nothing and its tombstone write.
      w.deps.calls = replacing(calls, 'putTombstone', async (tombstone) => {
        w.deps.calls = calls;
        await ringCall({ ...w.deps, calls }, w.tenant, req, API_URL);
        return calls.putTombstone(tombstone);
      });
      const view = await cancelCall(w.deps, w.tenant, req.callId, 'caller_hangup');
      expect(view).toMatchObject({
        status: 'cancelled',
        endReason: 'remoteEnded',
        expiresAt: iso(w.clock.now() + 60_000),
        devices: [{ delivery: 'sent' }],
      });
    });
  });

  describe(`viewCall (${name})`, () => {
    it('the PBX view: the call and each device, in slot order, with ISO times', async () => {
      const w = make();
      const { callId, a, b } = await ringing(w);
      const created = w.clock.now();
      w.clock.advance(1000);
      await actOnCall(w.deps, claimsOf(w, a), callId, 'confirm');
      w.clock.advance(1000);
      await actOnCall(w.deps, claimsOf(w, a), callId, 'answer');
      await actOnCall(w.deps, claimsOf(w, b), callId, 'confirm');
      expect(await viewCall(w.deps, w.tenant, callId)).toEqual({
        callId,
        callUuid: callUuidOf(w.tenant, callId),
        status: 'answered',
        endReason: null,
        createdAt: iso(created),
        expiresAt: iso(created + 60_000),
        answeredBy: inlineDeviceIdOf(a),
        declinedBy: null,
        devices: [
          {
            deviceId: inlineDeviceIdOf(a),
            delivery: 'sent',
            confirmedAt: iso(created + 1000),
            answeredAt: iso(created + 2000),
            declinedAt: null,
          },
          {
            deviceId: inlineDeviceIdOf(b),
            delivery: 'sent',
            confirmedAt: iso(created + 2000),
            answeredAt: null,
            declinedAt: null,
          },
        ],
      });
    });

    it('a call still ringing past its ring timeout is expired / unanswered, decided when read', async () => {
      const w = make();
      const { callId } = await ringing(w, 5);
      w.clock.advance(4999);
      expect(await viewCall(w.deps, w.tenant, callId)).toMatchObject({ status: 'ringing', endReason: null });
      w.clock.advance(1);
      expect(await viewCall(w.deps, w.tenant, callId)).toMatchObject({ status: 'expired', endReason: 'unanswered' });
    });

    it('unknown, past its lifetime, or another tenant’s: CallNotFoundError (404)', async () => {
      const w = make();
      await expect(viewCall(w.deps, w.tenant, ringRequest().callId)).rejects.toBeInstanceOf(CallNotFoundError);
      const { callId } = await ringing(w, 5);
      await expect(viewCall(w.deps, `${w.tenant}-other`, callId)).rejects.toBeInstanceOf(CallNotFoundError);
      w.clock.advance(5000 + HOUR - 1);
      expect((await viewCall(w.deps, w.tenant, callId)).status).toBe('expired');
      w.clock.advance(1);
      await expect(viewCall(w.deps, w.tenant, callId)).rejects.toBeInstanceOf(CallNotFoundError);
    });
  });
}
