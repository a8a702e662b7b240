import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  callTokenOf,
  callUuidOf,
  deviceBody,
  expectProblem,
  inline,
  newToken,
  pushesForCall,
  uniqueCallId,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

describe('tenant isolation: calls', () => {
  it('another tenant can neither see nor cancel our call; its cancel makes its own tombstone', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+1555' }, devices: [inline(token)] };
    const ours = await t.pbx.ring(body);
    expect(ours.status).toBe(201);
    expectProblem(await t.other.view(callId), 404, 'call_not_found');

    const theirCancel = await t.other.cancel(callId);
    expect(theirCancel.status).toBe(200);
    expect(theirCancel.body).toMatchObject({ callId, callUuid: callUuidOf('globex', callId), status: 'cancelled' });
    expect(theirCancel.body.callUuid).not.toBe(ours.body.callUuid);

    const view = await t.pbx.view(callId);
    expect(view.body).toMatchObject({ status: 'ringing', endReason: null, callUuid: callUuidOf('acme', callId) });
    expect((await t.app.view(callId, callTokenOf(t, token, callId))).body).toMatchObject({ status: 'ringing' });
    // our retry is still recognised as ours, and their create hits their own tombstone
    expect((await t.pbx.ring(body)).status).toBe(200);
    expectProblem(await t.other.ring(body), 410, 'call_ended');
    expect(pushesForCall(t, token, callId)).toHaveLength(1);
  });

  it('the same callId in another tenant is another call with another callUuid; each side’s actions stay on its side', async () => {
    const [a, g] = [newToken(), newToken()];
    const callId = uniqueCallId();
    const ra = await t.pbx.ring({ callId, from: { number: '+1' }, devices: [inline(a)] });
    const rg = await t.other.ring({ callId, from: { number: '+2' }, devices: [inline(g)] });
    expect(ra.status).toBe(201);
    expect(rg.status).toBe(201);
    expect(rg.body.callUuid).toBe(callUuidOf('globex', callId));
    expect(rg.body.callUuid).not.toBe(ra.body.callUuid);
    const pa = (await t.sim.waitForPush(a)).payload as any;
    const pg = (await t.sim.waitForPush(g)).payload as any;
    expect(pa.callwake.callUuid).toBe(ra.body.callUuid);
    expect(pg.callwake.callUuid).toBe(rg.body.callUuid);

    // their app answers their call: ours keeps ringing
    expect((await t.app.answer(callId, pg.callwake.token)).status).toBe(200);
    expect((await t.pbx.view(callId)).body.status).toBe('ringing');
    expect((await t.app.view(callId, pa.callwake.token)).body.status).toBe('ringing');
    // we cancel ours: theirs stays answered
    await t.pbx.cancel(callId);
    expect((await t.other.view(callId)).body).toMatchObject({ status: 'answered', endReason: null });
    expect((await t.app.view(callId, pg.callwake.token)).body.status).toBe('answered');
    expect((await t.app.view(callId, pa.callwake.token)).body).toMatchObject({
      status: 'ended',
      endReason: 'remoteEnded',
    });
  });
});

describe('tenant isolation: devices', () => {
  it('another tenant can neither see nor delete our devices, nor take our token by registering it', async () => {
    const user = `iso-${Date.now().toString(36)}`;
    const token = newToken();
    const put = await t.pbx.putDevice(user, 'phone', deviceBody(token));
    expect(put.status).toBe(201);

    const theirs = await t.other.listDevices(user);
    expect(theirs.status).toBe(200);
    expect(theirs.body).toEqual({ devices: [] });

    expect((await t.other.deleteDevice(user, 'phone')).status).toBe(204);
    expect((await t.pbx.listDevices(user)).body.devices).toEqual([put.body]);

    // their registration of the same token is theirs; ours stays
    expect((await t.other.putDevice(user, 'other-phone', deviceBody(token))).status).toBe(201);
    expect((await t.pbx.listDevices(user)).body.devices).toEqual([put.body]);
    expect((await t.other.listDevices(user)).body.devices.map((d: any) => d.deviceId)).toEqual(['other-phone']);
  });

  it('another tenant ringing a user of the same name reaches none of our devices', async () => {
    const user = `iso2-${Date.now().toString(36)}`;
    const token = newToken();
    await t.pbx.putDevice(user, 'phone', deviceBody(token));
    const callId = uniqueCallId();
    const r = await t.other.ring({ callId, from: { number: '+1' }, to: { userId: user } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'unreachable', deliveries: [] });
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });
});
