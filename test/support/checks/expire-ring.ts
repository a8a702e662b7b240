/** expireRing, the ring timer's use case (the write `call.expired` comes from), checked on any World. */
import { describe, expect, it } from '@jest/globals';
import { actOnCall } from '../../../functions/core/app-calls.js';
import { viewCall } from '../../../functions/core/cancel-call.js';
import { expireRing } from '../../../functions/core/expire-ring.js';
import { callUuidOf, newToken } from '../contract-helpers.js';
import type { MakeWorld } from '../fakes/world.js';
import { claimsOf, inlineDevice, ring, ringRequest } from './kit.js';

export function describeExpireRing(name: string, make: MakeWorld): void {
  describe(`expireRing (${name})`, () => {
    it('a timer that fires early waits for the exact ring end, then marks the call expired, once', async () => {
      const w = make();
      const req = ringRequest({ devices: [inlineDevice(newToken())], ringTimeoutSeconds: 30 });
      await ring(w, req);
      const callUuid = callUuidOf(w.tenant, req.callId);
      const expiresAt = w.clock.now() + 30_000;
      w.clock.advance(29_200);
      expect(await expireRing(w.deps, callUuid, expiresAt)).toBe(true);
      expect(w.clock.now()).toBe(expiresAt);
      expect(await w.deps.calls.get(callUuid)).toMatchObject({ status: 'ringing', expiredAt: expiresAt });
      expect(await viewCall(w.deps, w.tenant, req.callId)).toMatchObject({
        status: 'expired',
        endReason: 'unanswered',
      });
      expect(await expireRing(w.deps, callUuid, expiresAt)).toBe(false);
      expect(w.log.lines.filter((l) => l.includes('call expired'))).toHaveLength(1);
    });

    it('a timer that fires early for a call already ended neither waits nor writes', async () => {
      const w = make();
      const t = newToken();
      const req = ringRequest({ devices: [inlineDevice(t)], ringTimeoutSeconds: 30 });
      await ring(w, req);
      await actOnCall(w.deps, claimsOf(w, t), req.callId, 'answer');
      const callUuid = callUuidOf(w.tenant, req.callId);
      const expiresAt = w.clock.now() + 30_000;
      w.clock.advance(28_500);
      const before = w.clock.now();
      expect(await expireRing(w.deps, callUuid, expiresAt)).toBe(false);
      expect(w.clock.now()).toBe(before);
      expect(await w.deps.calls.get(callUuid)).not.toHaveProperty('expiredAt');
      // Nor for a call that is gone (cancelled before its create, or past its lifetime).
      expect(await expireRing(w.deps, callUuidOf(w.tenant, 'never@pbx'), expiresAt)).toBe(false);
      expect(w.clock.now()).toBe(before);
    });

    it('a timer that cannot read its call waits for the ring end and marks it, as before the read existed', async () => {
      const w = make();
      const req = ringRequest({ devices: [inlineDevice(newToken())], ringTimeoutSeconds: 30 });
      await ring(w, req);
      const callUuid = callUuidOf(w.tenant, req.callId);
      const expiresAt = w.clock.now() + 30_000;
      w.clock.advance(28_800);
      // The deployed role may read a call's status alone; a denied read must not lose the expiry.
      const deps = {
        ...w.deps,
        calls: Object.assign(Object.create(w.deps.calls), {
          isRinging: async () => {
            throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
          },
        }),
      };
      expect(await expireRing(deps, callUuid, expiresAt)).toBe(true);
      expect(w.clock.now()).toBe(expiresAt);
      expect(w.log.lines.some((l) => l.includes('ring timer could not read its call'))).toBe(true);
    });

    it('a timer that fires late marks it at once; a call answered in time is left alone', async () => {
      const w = make();
      const late = ringRequest({ devices: [inlineDevice(newToken())], ringTimeoutSeconds: 5 });
      await ring(w, late);
      const t = newToken();
      const answered = ringRequest({ devices: [inlineDevice(t)], ringTimeoutSeconds: 5 });
      await ring(w, answered);
      await actOnCall(w.deps, claimsOf(w, t), answered.callId, 'answer');
      const expiresAt = w.clock.now() + 5000;
      w.clock.advance(9000);
      expect(await expireRing(w.deps, callUuidOf(w.tenant, late.callId), expiresAt)).toBe(true);
      expect(await expireRing(w.deps, callUuidOf(w.tenant, answered.callId), expiresAt)).toBe(false);
      expect(w.clock.now()).toBe(expiresAt + 4000);
      expect(await w.deps.calls.get(callUuidOf(w.tenant, late.callId))).toMatchObject({ expiredAt: expiresAt + 4000 });
    });
  });
}
