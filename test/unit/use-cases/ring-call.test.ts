import { describe, expect, it } from '@jest/globals';
import { actOnCall } from '../../../functions/core/app-calls.js';
import { cancelCall, viewCall } from '../../../functions/core/cancel-call.js';
import { listDevices, registerDevice } from '../../../functions/core/devices.js';
import { claimsOf, inlineDevice, registration, ring, ringRequest, signed } from '../../support/checks/kit.js';
import { describeRingCall } from '../../support/checks/ring-call.js';
import { callUuidOf, newToken } from '../../support/contract-helpers.js';
import { FakeCallStore } from '../../support/fakes/call-store.js';
import { FakeDeviceStore } from '../../support/fakes/device-store.js';
import { fakeWorld, worldOn } from '../../support/fakes/world.js';

describeRingCall('in memory', fakeWorld);

/**
 * Races in virtual time: what happens while a push is on its way to APNs. In memory only, where
 * the virtual clock orders every step exactly (see test/support/fakes/clock.ts).
 */
describe('ringCall while its pushes are on their way', () => {
  it('a retry of the create waits for the first attempt and answers what it recorded, pushing nothing', async () => {
    const w = fakeWorld();
    const t = newToken();
    w.pusher.accept(t, 1200);
    const req = ringRequest({ devices: [inlineDevice(t)] });
    const start = w.clock.now();
    const first = ring(w, req);
    await w.clock.sleep(100);
    expect(w.pusher.sent).toHaveLength(1);
    const retry = await ring(w, req);
    expect(retry).toEqual({ created: false, answer: (await first).answer });
    expect(retry.answer).toMatchObject({ status: 'ringing', deliveries: [{ result: 'sent' }] });
    expect(w.clock.now() - start).toBeGreaterThanOrEqual(1200);
    expect(w.clock.now() - start).toBeLessThan(1200 + 50);
    expect(w.pusher.sent).toHaveLength(1);
  });

  it('identical creates at once: one is created, every one answers the same, each device is pushed once', async () => {
    const w = fakeWorld();
    const [a, b] = [newToken(), newToken()];
    w.pusher.accept(a, 300).accept(b, 700);
    const req = ringRequest({ devices: [inlineDevice(a), inlineDevice(b)] });
    const all = await Promise.all(Array.from({ length: 8 }, () => ring(w, req)));
    expect(all.filter((r) => r.created)).toHaveLength(1);
    for (const r of all) expect(r.answer).toEqual(all[0]!.answer);
    expect(all[0]!.answer.deliveries.map((d) => d.result)).toEqual(['sent', 'sent']);
    expect(w.pusher.sent).toHaveLength(2);
  });

  it('a push given up on that reached the phone, which answered: the PBX is told ringing, not unreachable', async () => {
    const w = fakeWorld({ pushDeadlineMs: 3000 });
    const t = newToken();
    w.pusher.silence(t);
    const req = ringRequest({ devices: [inlineDevice(t)] });
    const created = ring(w, req);
    await w.clock.sleep(1000);
    expect(await actOnCall(w.deps, claimsOf(w, t), req.callId, 'answer')).toMatchObject({ status: 'answered' });
    const r = await created;
    expect(r.answer).toMatchObject({ status: 'ringing', deliveries: [{ result: 'failed', reason: 'Timeout' }] });
    expect(await viewCall(w.deps, w.tenant, req.callId)).toMatchObject({
      status: 'answered',
      devices: [{ delivery: 'failed' }],
    });
  });

  it('a cancel while the pushes are out: the call stays cancelled, and the answer still tells what was sent', async () => {
    const w = fakeWorld();
    const t = newToken();
    w.pusher.accept(t, 300);
    const req = ringRequest({ devices: [inlineDevice(t)] });
    const created = ring(w, req);
    await w.clock.sleep(100);
    expect(await cancelCall(w.deps, w.tenant, req.callId, 'caller_hangup')).toMatchObject({
      status: 'cancelled',
      devices: [{ delivery: 'pending' }],
    });
    expect((await created).answer).toMatchObject({ status: 'ringing', deliveries: [{ result: 'sent' }] });
    expect(await viewCall(w.deps, w.tenant, req.callId)).toMatchObject({
      status: 'cancelled',
      endReason: 'remoteEnded',
      devices: [{ delivery: 'sent' }],
    });
  });

  it('a pruned device is stored with why: Apple’s reason, the call that found it, when (its device.pruned event)', async () => {
    const devices = new FakeDeviceStore();
    const w = worldOn((clock) => ({ calls: new FakeCallStore(clock), devices }))();
    const dead = newToken();
    await registerDevice(w.deps, signed(w), 'alice', 'phone', registration(dead));
    w.pusher.reject(dead, 'BadDeviceToken', 300);
    const req = ringRequest({ to: { userId: 'alice' } });
    await ring(w, req);
    expect(devices.prunedOf(w.tenant, 'alice')).toEqual({
      phone: {
        reason: 'BadDeviceToken',
        callId: req.callId,
        callUuid: callUuidOf(w.tenant, req.callId),
        at: w.clock.now(),
      },
    });
  });

  it('a device that re-registered with a fresh token while its old one was found dead is kept', async () => {
    const devices = new FakeDeviceStore();
    const w = worldOn((clock) => ({ calls: new FakeCallStore(clock), devices }))();
    const [dead, fresh] = [newToken(), newToken()];
    await registerDevice(w.deps, signed(w), 'alice', 'phone', registration(dead));
    w.pusher.reject(dead, 'Unregistered', 200);
    const created = ring(w, ringRequest({ to: { userId: 'alice' } }));
    await w.clock.sleep(100);
    await registerDevice(w.deps, signed(w), 'alice', 'phone', registration(fresh));
    expect((await created).answer.deliveries).toEqual([
      { deviceId: 'phone', pushType: 'voip', result: 'failed', reason: 'Unregistered' },
    ]);
    expect(await listDevices(w.deps, w.tenant, 'alice')).toEqual([
      expect.objectContaining({ deviceId: 'phone', tokenSuffix: fresh.slice(-8) }),
    ]);
    expect(devices.prunedOf(w.tenant, 'alice')).toEqual({});
  });
});
