/**
 * ringCall, the contract's `POST /v1/pbx/calls` rules that live in the core, checked on any World:
 * the fakes (test/unit/use-cases) and the DynamoDB adapters (test/integration/use-cases-dynamo).
 */
import { describe, expect, it } from '@jest/globals';
import { actOnCall } from '../../../functions/core/app-calls.js';
import { callIdHashOf } from '../../../functions/core/call-token.js';
import { cancelCall, viewCall } from '../../../functions/core/cancel-call.js';
import { iso } from '../../../functions/core/clock.js';
import { registerDevice } from '../../../functions/core/devices.js';
import { CallAlreadyEndedError, CallIdConflictError, CallNotFoundError } from '../../../functions/core/errors.js';
import { inlineDeviceIdOf } from '../../../functions/core/ids.js';
import { ALERT_PARAM, BUNDLE, callUuidOf, newToken, TEAM_ID } from '../contract-helpers.js';
import type { MakeWorld } from '../fakes/world.js';
import {
  API_URL,
  claimsOf,
  HOUR,
  inlineDevice,
  pushed,
  registration,
  replacing,
  ring,
  ringRequest,
  signed,
} from './kit.js';

export function describeRingCall(name: string, make: MakeWorld): void {
  describe(`ringCall (${name})`, () => {
    describe('a new call', () => {
      it('is created and rings: the callUuid of tenant/callId, times from the clock, a VoIP push for each device', async () => {
        const w = make();
        const [a, b] = [newToken(), newToken().toUpperCase()];
        const req = ringRequest({ devices: [inlineDevice(a), inlineDevice(b)], ringTimeoutSeconds: 30 });
        const now = w.clock.now();
        const r = await ring(w, req);

        const callUuid = callUuidOf(w.tenant, req.callId);
        expect(r).toEqual({
          created: true,
          answer: {
            callId: req.callId,
            callUuid,
            status: 'ringing',
            createdAt: iso(now),
            expiresAt: iso(now + 30_000),
            deliveries: [a, b].map((t) => ({
              deviceId: inlineDeviceIdOf(t),
              pushType: 'voip',
              result: 'sent',
              apnsId: expect.any(String),
            })),
          },
        });
        expect(w.pusher.sent.map((p) => ({ ...p.request, payload: undefined }))).toEqual(
          [a, b].map((t) => ({
            pushToken: t.toLowerCase(),
            teamId: TEAM_ID,
            environment: 'production',
            pushType: 'voip',
            topic: `${BUNDLE}.voip`,
            expiration: 0,
            payload: undefined,
          })),
        );
        // each push carries its own device's token, for this call, until the call's lifetime ends
        [a, b].forEach((t, slot) => {
          expect(pushed(w, t)).toEqual({
            v: 1,
            type: 'call',
            callId: req.callId,
            callUuid,
            caller: { number: '+15550001111', displayName: 'Bob Smith' },
            hasVideo: false,
            token: expect.any(String),
            api: API_URL,
            sentAt: now,
            expiresAt: now + 30_000,
          });
          expect(claimsOf(w, t)).toEqual({
            callUuid,
            callIdHash: callIdHashOf(req.callId),
            slot,
            lifetimeEnd: now + 30_000 + HOUR,
          });
        });
        // the webhook gives APNs the push deadline, no more
        expect(w.pusher.sent.map((p) => p.deadline)).toEqual([now + 5000, now + 5000]);
      });

      it('the push deadline is the ring end when the ring is shorter', async () => {
        const w = make({ pushDeadlineMs: 10_000 });
        await ring(w, ringRequest({ devices: [inlineDevice(newToken())], ringTimeoutSeconds: 5 }));
        expect(w.pusher.sent[0]!.deadline).toBe(w.clock.now() + 5000);
      });

      it('an alert-mode device (pnParam without .voip) gets an alert push on the bundle topic until the ring ends', async () => {
        const w = make();
        const t = newToken();
        const req = ringRequest({ devices: [inlineDevice(t, ALERT_PARAM)] });
        const r = await ring(w, req);
        const expiresAt = w.clock.now() + 60_000;
        expect(r.answer.deliveries).toEqual([expect.objectContaining({ pushType: 'alert', result: 'sent' })]);
        expect(w.pusher.sent[0]!.request).toMatchObject({
          pushType: 'alert',
          topic: BUNDLE,
          expiration: Math.floor(expiresAt / 1000),
          collapseId: callUuidOf(w.tenant, req.callId),
        });
        expect(JSON.parse(w.pusher.sent[0]!.request.payload).aps.alert).toEqual({
          title: 'Incoming call',
          body: 'Bob Smith',
        });
      });

      it('registered devices are pushed with their own team, bundle, environment and type; inline ones with the default environment', async () => {
        const w = make({ teams: [TEAM_ID, 'OTHERTEAM9'], defaultEnvironment: 'sandbox' });
        const [phone, pad, inline] = [newToken(), newToken(), newToken()];
        await registerDevice(
          w.deps,
          signed(w),
          'alice',
          'phone',
          registration(phone, { teamId: TEAM_ID, environment: 'production' }),
        );
        await registerDevice(
          w.deps,
          signed(w),
          'alice',
          'pad',
          registration(pad, {
            teamId: 'OTHERTEAM9',
            bundleId: 'com.example.pad',
            pushType: 'alert',
            environment: 'sandbox',
          }),
        );
        const r = await ring(w, ringRequest({ to: { userId: 'alice' }, devices: [inlineDevice(inline)] }));
        expect(r.answer.status).toBe('ringing');
        // registry devices first (by deviceId), then the inline ones
        expect(r.answer.deliveries.map((d) => [d.deviceId, d.pushType, d.result])).toEqual([
          ['pad', 'alert', 'sent'],
          ['phone', 'voip', 'sent'],
          [inlineDeviceIdOf(inline), 'voip', 'sent'],
        ]);
        expect(w.pusher.sent.map((p) => [p.request.teamId, p.request.topic, p.request.environment])).toEqual([
          ['OTHERTEAM9', 'com.example.pad', 'sandbox'],
          [TEAM_ID, `${BUNDLE}.voip`, 'production'],
          [TEAM_ID, `${BUNDLE}.voip`, 'sandbox'],
        ]);
      });

      it('stores and pushes the display name shortened to 256 code points; metadata is never pushed', async () => {
        const w = make();
        const t = newToken();
        const displayName = '😀'.repeat(300);
        const req = ringRequest({
          devices: [inlineDevice(t)],
          from: { number: '+15550001111', displayName },
          metadata: { registrar: 'sip:secret-registrar.example.com' },
        });
        await ring(w, req);
        const shortened = '😀'.repeat(256);
        expect(pushed(w, t).caller.displayName).toBe(shortened);
        expect(w.pusher.sent[0]!.request.payload).not.toContain('secret-registrar');
        const view = await actOnCall(w.deps, claimsOf(w, t), req.callId, 'view');
        expect(view.caller).toEqual({ number: '+15550001111', displayName: shortened, uri: null });
        expect(view.metadata).toEqual({ registrar: 'sip:secret-registrar.example.com' });
      });
    });

    describe('a callId the tenant already used', () => {
      it('the same body: not created, the stored answer, and nothing pushed again', async () => {
        const w = make();
        const req = ringRequest({ devices: [inlineDevice(newToken())], metadata: { a: '1', b: '2' } });
        const first = await ring(w, req);
        w.clock.advance(1000);
        expect(await ring(w, req)).toEqual({ created: false, answer: first.answer });
        // equal as JSON: another order of members is the same body
        const reordered = {
          ...req,
          metadata: { b: '2', a: '1' },
          from: { displayName: 'Bob Smith', number: '+15550001111' },
        };
        expect(await ring(w, reordered)).toEqual({ created: false, answer: first.answer });
        expect(w.pusher.sent).toHaveLength(1);
      });

      it('the same body, whatever became of the call (answered, declined, past its ring end, unreachable): its first answer', async () => {
        const w = make();
        const settle = {
          answered: async (t: string, callId: string) => actOnCall(w.deps, claimsOf(w, t), callId, 'answer'),
          declined: async (t: string, callId: string) => actOnCall(w.deps, claimsOf(w, t), callId, 'decline'),
          expired: async () => w.clock.advance(60_000),
          unreachable: async () => undefined,
        };
        for (const [state, after] of Object.entries(settle)) {
          const t = newToken();
          if (state === 'unreachable') w.pusher.reject(t, 'BadTopic');
          const req = ringRequest({ devices: [inlineDevice(t)] });
          const first = await ring(w, req);
          await after(t, req.callId);
          const pushes = w.pusher.sent.length;
          expect({ state, again: await ring(w, req) }).toEqual({
            state,
            again: { created: false, answer: first.answer },
          });
          expect(w.pusher.sent).toHaveLength(pushes);
        }
      });

      it('another body: CallIdConflictError (409), nothing pushed', async () => {
        const w = make();
        const req = ringRequest({ devices: [inlineDevice(newToken())] });
        await ring(w, req);
        for (const other of [
          { ...req, hasVideo: true },
          { ...req, ringTimeoutSeconds: 61 },
          { ...req, devices: [inlineDevice(newToken())] },
          { ...req, metadata: { x: '' } },
          { ...req, from: { number: '+15550001112' } },
        ]) {
          await expect(ring(w, other)).rejects.toBeInstanceOf(CallIdConflictError);
        }
        expect(w.pusher.sent).toHaveLength(1);
      });

      it('a cancelled call: CallAlreadyEndedError (410) for the same body and for another (410 comes before 409)', async () => {
        const w = make();
        const req = ringRequest({ devices: [inlineDevice(newToken())] });
        await ring(w, req);
        await cancelCall(w.deps, w.tenant, req.callId, 'caller_hangup');
        await expect(ring(w, req)).rejects.toBeInstanceOf(CallAlreadyEndedError);
        await expect(ring(w, { ...req, hasVideo: true })).rejects.toBeInstanceOf(CallAlreadyEndedError);
        expect(w.pusher.sent).toHaveLength(1);
      });

      it('a callId cancelled before its create (a tombstone): 410, nothing pushed; an hour later it is unknown again', async () => {
        const w = make();
        const req = ringRequest({ devices: [inlineDevice(newToken())] });
        await cancelCall(w.deps, w.tenant, req.callId, 'caller_hangup');
        await expect(ring(w, req)).rejects.toBeInstanceOf(CallAlreadyEndedError);
        expect(w.pusher.sent).toHaveLength(0);
        w.clock.advance(HOUR - 1);
        await expect(ring(w, req)).rejects.toBeInstanceOf(CallAlreadyEndedError);
        w.clock.advance(1);
        expect((await ring(w, req)).created).toBe(true);
        expect(w.pusher.sent).toHaveLength(1);
      });

      it('a call lives for its ring timeout plus an hour; then its callId is unknown and rings again', async () => {
        const w = make();
        const req = ringRequest({ devices: [inlineDevice(newToken())], ringTimeoutSeconds: 20 });
        await ring(w, req);
        w.clock.advance(20_000 + HOUR - 1);
        expect((await ring(w, req)).created).toBe(false);
        w.clock.advance(1);
        await expect(viewCall(w.deps, w.tenant, req.callId)).rejects.toBeInstanceOf(CallNotFoundError);
        const again = await ring(w, { ...req, hasVideo: true });
        expect(again.created).toBe(true);
        expect(again.answer.createdAt).toBe(iso(w.clock.now()));
        expect(w.pusher.sent).toHaveLength(2);
      });

      it('another tenant’s same callId is another call', async () => {
        const w = make();
        const req = ringRequest({ devices: [inlineDevice(newToken())] });
        const ours = await ring(w, req);
        const theirs = await ringCall2(w, `${w.tenant}-other`, req);
        expect(theirs.created).toBe(true);
        expect(theirs.answer.callUuid).toBe(callUuidOf(`${w.tenant}-other`, req.callId));
        expect(theirs.answer.callUuid).not.toBe(ours.answer.callUuid);
      });
    });

    describe('deliveries', () => {
      it('nothing sent: unreachable, each device failed with Apple’s reason; the PBX sees unreachable/failed, the app ended/failed', async () => {
        const w = make();
        const [a, b] = [newToken(), newToken()];
        w.pusher.reject(a, 'BadTopic').silence(b);
        const req = ringRequest({ devices: [inlineDevice(a), inlineDevice(b)] });
        const r = await ring(w, req);
        expect(r.answer.status).toBe('unreachable');
        expect(r.answer.deliveries).toEqual([
          { deviceId: inlineDeviceIdOf(a), pushType: 'voip', result: 'failed', reason: 'BadTopic' },
          { deviceId: inlineDeviceIdOf(b), pushType: 'voip', result: 'failed', reason: 'Timeout' },
        ]);
        expect(await viewCall(w.deps, w.tenant, req.callId)).toMatchObject({
          status: 'unreachable',
          endReason: 'failed',
          devices: [{ delivery: 'failed' }, { delivery: 'failed' }],
        });
        expect(await actOnCall(w.deps, claimsOf(w, a), req.callId, 'view')).toMatchObject({
          status: 'ended',
          endReason: 'failed',
        });
      });

      it('one push accepted is enough to ring', async () => {
        const w = make();
        const [a, b] = [newToken(), newToken()];
        w.pusher.reject(a, 'Unregistered');
        const r = await ring(w, ringRequest({ devices: [inlineDevice(a), inlineDevice(b)] }));
        expect(r.answer.status).toBe('ringing');
        expect(r.answer.deliveries.map((d) => d.result)).toEqual(['failed', 'sent']);
      });

      it('a user with no devices and nothing inline: unreachable at once, no deliveries', async () => {
        const w = make();
        const req = ringRequest({ to: { userId: 'nobody' } });
        const r = await ring(w, req);
        expect(r.answer).toMatchObject({ status: 'unreachable', deliveries: [] });
        expect(await viewCall(w.deps, w.tenant, req.callId)).toMatchObject({ status: 'unreachable', devices: [] });
      });

      it('an APNs that never answers: failed Timeout after the push deadline, and no later', async () => {
        const w = make({ pushDeadlineMs: 2500 });
        const t = newToken();
        w.pusher.silence(t);
        const start = w.clock.now();
        const r = await ring(w, ringRequest({ devices: [inlineDevice(t)] }));
        expect(r.answer.deliveries).toEqual([expect.objectContaining({ result: 'failed', reason: 'Timeout' })]);
        expect(w.clock.now()).toBe(start + 2500);
      });

      it('an inline device of a team not configured: failed UnknownTeam and never pushed', async () => {
        const w = make();
        const [foreign, ours] = [newToken(), newToken()];
        const withOurs = await ring(
          w,
          ringRequest({ devices: [inlineDevice(foreign, 'OTHERTEAM9.com.example.phone.voip'), inlineDevice(ours)] }),
        );
        expect(withOurs.answer).toMatchObject({
          status: 'ringing',
          deliveries: [
            { deviceId: inlineDeviceIdOf(foreign), result: 'failed', reason: 'UnknownTeam' },
            { deviceId: inlineDeviceIdOf(ours), result: 'sent' },
          ],
        });
        const alone = await ring(
          w,
          ringRequest({ devices: [inlineDevice(foreign, 'OTHERTEAM9.com.example.phone.voip')] }),
        );
        expect(alone.answer).toMatchObject({ status: 'unreachable', deliveries: [{ reason: 'UnknownTeam' }] });
        expect(w.pusher.sentTo(foreign)).toHaveLength(0);
      });

      it('a device reached inline and through the registry, or inline twice in any case, is pushed once (as the registry device)', async () => {
        const w = make();
        const [t, u] = [newToken(), newToken()];
        await registerDevice(w.deps, signed(w), 'alice', 'phone', registration(t));
        const r = await ring(
          w,
          ringRequest({
            to: { userId: 'alice' },
            devices: [inlineDevice(t.toUpperCase()), inlineDevice(u), inlineDevice(u.toUpperCase()), inlineDevice(t)],
          }),
        );
        expect(r.answer.deliveries.map((d) => d.deviceId)).toEqual(['phone', inlineDeviceIdOf(u)]);
        expect(w.pusher.sentTo(t)).toHaveLength(1);
        expect(w.pusher.sentTo(u)).toHaveLength(1);
      });
    });

    describe('dead registry tokens', () => {
      it.each(['Unregistered', 'BadDeviceToken', 'DeviceTokenNotForTopic'])(
        'a registered device whose push was refused %s is removed from the registry',
        async (reason) => {
          const w = make();
          const [dead, alive] = [newToken(), newToken()];
          await registerDevice(w.deps, signed(w), 'alice', 'dead', registration(dead));
          await registerDevice(w.deps, signed(w), 'alice', 'alive', registration(alive));
          w.pusher.reject(dead, reason);
          const r = await ring(w, ringRequest({ to: { userId: 'alice' } }));
          expect(r.answer.deliveries).toEqual([
            { deviceId: 'alive', pushType: 'voip', result: 'sent', apnsId: expect.any(String) },
            { deviceId: 'dead', pushType: 'voip', result: 'failed', reason },
          ]);
          expect((await w.deps.devices.list(w.tenant, 'alice')).map((d) => d.deviceId)).toEqual(['alive']);
        },
      );

      it('a passing failure (Apple busy, no answer, a bad topic) keeps the device', async () => {
        const w = make();
        const [busy, silent, topic] = [newToken(), newToken(), newToken()];
        for (const [id, t] of Object.entries({ busy, silent, topic }))
          await registerDevice(w.deps, signed(w), 'alice', id, registration(t));
        w.pusher.reject(busy, 'InternalServerError').silence(silent).reject(topic, 'BadTopic');
        expect((await ring(w, ringRequest({ to: { userId: 'alice' } }))).answer.status).toBe('unreachable');
        expect((await w.deps.devices.list(w.tenant, 'alice')).map((d) => d.deviceId)).toEqual([
          'busy',
          'silent',
          'topic',
        ]);
      });

      it('an inline device is never pruned: not even a registered device with the same token, of another user', async () => {
        const w = make();
        const t = newToken();
        await registerDevice(w.deps, signed(w), 'bob', 'bobs-phone', registration(t));
        w.pusher.reject(t, 'Unregistered');
        const r = await ring(w, ringRequest({ to: { userId: 'alice' }, devices: [inlineDevice(t)] }));
        expect(r.answer.deliveries).toEqual([
          { deviceId: inlineDeviceIdOf(t), pushType: 'voip', result: 'failed', reason: 'Unregistered' },
        ]);
        expect((await w.deps.devices.list(w.tenant, 'bob')).map((d) => d.deviceId)).toEqual(['bobs-phone']);
      });

      it('a prune that fails does not fail the webhook: the answer stands, the failure is logged', async () => {
        const w = make();
        const t = newToken();
        await registerDevice(w.deps, signed(w), 'alice', 'phone', registration(t));
        w.pusher.reject(t, 'Unregistered');
        w.deps.devices = replacing(w.deps.devices, 'prune', async () => {
          throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
        });
        const r = await ring(w, ringRequest({ to: { userId: 'alice' } }));
        expect(r.answer).toMatchObject({ status: 'unreachable', deliveries: [{ reason: 'Unregistered' }] });
        expect(w.log.lines.filter((l) => JSON.parse(l).level === 'warn')).toEqual([
          expect.stringContaining('ProvisionedThroughputExceededException'),
        ]);
      });
    });

    describe('a create that died between storing the call and recording its pushes', () => {
      it('is settled by its retry after the push deadline: unreachable, pending devices failed Timeout', async () => {
        const w = make({ pushDeadlineMs: 1000 });
        const t = newToken();
        const calls = w.deps.calls;
        w.deps.calls = replacing(calls, 'recordDeliveries', async () => {
          throw new Error('the Lambda was stopped here');
        });
        const req = ringRequest({ devices: [inlineDevice(t)] });
        await expect(ring(w, req)).rejects.toThrow('the Lambda was stopped here');
        w.deps.calls = calls;

        const start = w.clock.now();
        const retry = await ring(w, req);
        expect(retry).toEqual({
          created: false,
          answer: expect.objectContaining({
            status: 'unreachable',
            deliveries: [{ deviceId: inlineDeviceIdOf(t), pushType: 'voip', result: 'failed', reason: 'Timeout' }],
          }),
        });
        // it waited for a first attempt still pushing (the deadline and a margin), no longer
        expect(w.clock.now() - start).toBeGreaterThanOrEqual(1000);
        expect(w.clock.now() - start).toBeLessThanOrEqual(1000 + 500 + 50);
        expect(await viewCall(w.deps, w.tenant, req.callId)).toMatchObject({
          status: 'unreachable',
          endReason: 'failed',
        });
        expect(await actOnCall(w.deps, claimsOf(w, t), req.callId, 'view')).toMatchObject({
          status: 'ended',
          endReason: 'failed',
        });
        expect(await ring(w, req)).toEqual(retry);
        expect(w.pusher.sent).toHaveLength(1);
      });
    });

    it('logs nothing a PBX or phone gave it: no number, name, token, callId or device id', async () => {
      const w = make();
      const [t, dead] = [newToken(), newToken()];
      await registerDevice(w.deps, signed(w), 'alice', '+15557654321', registration(dead));
      w.pusher.reject(dead, 'Unregistered');
      const req = ringRequest({ to: { userId: 'alice' }, devices: [inlineDevice(t)] });
      await ring(w, req);
      await cancelCall(w.deps, w.tenant, req.callId, 'caller_hangup');
      const text = w.log.lines.join('\n');
      expect(w.log.lines.length).toBeGreaterThanOrEqual(3);
      for (const secret of ['+15550001111', 'Bob Smith', t, dead, req.callId, '+15557654321', '5557654321']) {
        expect(text).not.toContain(secret);
      }
    });
  });
}

/** The same request for another tenant of the world. */
const ringCall2 = (w: ReturnType<MakeWorld>, tenant: string, req: Parameters<typeof ring>[1]) =>
  ring({ ...w, tenant }, req);
