import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { newToken, uniqueCallId, VOIP_PARAM } from '../support/contract-helpers.js';
import { pushFor, startTestStack, type TestStack } from '../support/stack.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

const device = (pushToken: string, extra: Record<string, unknown> = {}) => ({
  platform: 'ios',
  pushToken,
  bundleId: 'com.example.phone',
  environment: 'sandbox',
  ...extra,
});

describe('a call rings end to end', () => {
  it('registers a device, rings it with a VoIP push, and the app confirms, sees the caller, then learns remoteEnded', async () => {
    const token = newToken();
    const put = await t.pbx.putDevice('alice', 'iphone-1', device(token));
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({
      deviceId: 'iphone-1',
      platform: 'ios',
      pushType: 'voip',
      tokenSuffix: token.slice(-8),
    });

    const callId = uniqueCallId();
    const ring = await t.pbx.ring({
      callId,
      from: { number: '+15551230000', displayName: 'Bob Smith' },
      to: { userId: 'alice' },
    });
    expect(ring.status).toBe(201);
    expect(ring.body.status).toBe('ringing');
    expect(ring.body.deliveries).toEqual([
      expect.objectContaining({ deviceId: 'iphone-1', pushType: 'voip', result: 'sent', apnsId: expect.any(String) }),
    ]);

    const push = await t.sim.waitForPush(token);
    expect(push.headers['apns-push-type']).toBe('voip');
    expect(push.headers['apns-topic']).toBe('com.example.phone.voip');
    expect(push.headers['apns-expiration']).toBe('0');
    const cw = (push.payload as { callwake: Record<string, unknown> }).callwake;
    expect(cw).toMatchObject({
      v: 1,
      type: 'call',
      callId,
      callUuid: ring.body.callUuid,
      caller: { number: '+15551230000', displayName: 'Bob Smith' },
      hasVideo: false,
    });
    expect(cw.api).toBe(`${t.url}/v1/app`);

    const confirm = await t.app.confirm(callId, cw.token as string);
    expect(confirm.status).toBe(200);
    expect(confirm.body).toMatchObject({
      status: 'ringing',
      endReason: null,
      caller: { number: '+15551230000', displayName: 'Bob Smith', uri: null },
    });

    const cancel = await t.pbx.cancel(callId);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });

    const after = await t.app.confirm(callId, cw.token as string);
    expect(after.body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
    const view = await t.pbx.view(callId);
    expect(view.body.devices[0]).toMatchObject({
      deviceId: 'iphone-1',
      delivery: 'sent',
      confirmedAt: expect.any(String),
    });
  });

  it('a retried create pushes nothing and answers the stored answer', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = {
      callId,
      from: { number: '+15550001111' },
      devices: [{ pnProvider: 'apns', pnPrid: token, pnParam: VOIP_PARAM }],
    };
    const first = await t.pbx.ring(body);
    expect(first.status).toBe(201);
    await pushFor(t.sim, token);
    const again = await t.pbx.ring({ ...body, ringTimeoutSeconds: 60, hasVideo: false, unknownMember: 'ignored' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });
});
