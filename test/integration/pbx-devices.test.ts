import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  deviceBody,
  expectProblem,
  ISO_UTC,
  newToken,
  pushesForCall,
  TEAM_ID,
  uniqueCallId,
  writesNothing,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

let users = 0;
const newUser = () => `u${Date.now().toString(36)}-${users++}`;
const ids = async (user: string) =>
  ((await t.pbx.listDevices(user)).body.devices as any[]).map((d) => d.deviceId).sort();

describe('PUT /v1/pbx/users/{userId}/devices/{deviceId}', () => {
  it('201 created, then 200 replaced; the body of both is the device as GET lists it', async () => {
    const user = newUser();
    const token = newToken();
    const created = await t.pbx.putDevice(
      user,
      'iphone',
      deviceBody(token, { teamId: TEAM_ID, environment: 'production' }),
    );
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      deviceId: 'iphone',
      platform: 'ios',
      bundleId: 'com.example.phone',
      environment: 'production',
      pushType: 'voip',
      tokenSuffix: token.slice(-8),
      updatedAt: expect.stringMatching(ISO_UTC),
    });
    let list = await t.pbx.listDevices(user);
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ devices: [created.body] });

    const replaced = await t.pbx.putDevice(
      user,
      'iphone',
      deviceBody(token, { environment: 'sandbox', pushType: 'alert', bundleId: 'com.example.other' }),
    );
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      deviceId: 'iphone',
      environment: 'sandbox',
      pushType: 'alert',
      bundleId: 'com.example.other',
    });
    list = await t.pbx.listDevices(user);
    expect(list.body).toEqual({ devices: [replaced.body] });
    expect(Date.parse(replaced.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.body.updatedAt));
  });

  it('teamId is optional with one team configured; the configured team is accepted', async () => {
    const user = newUser();
    expect((await t.pbx.putDevice(user, 'a', deviceBody(newToken()))).status).toBe(201);
    expect((await t.pbx.putDevice(user, 'b', deviceBody(newToken(), { teamId: TEAM_ID }))).status).toBe(201);
    expect(await ids(user)).toEqual(['a', 'b']);
  });

  it('an unconfigured team is 400 unknown_team and writes nothing', async () => {
    const user = newUser();
    const r = await writesNothing(t, () =>
      t.pbx.putDevice(user, 'a', deviceBody(newToken(), { teamId: 'ZZZZZ99999' })),
    );
    expectProblem(r, 400, 'unknown_team');
    expect(await ids(user)).toEqual([]);
  });

  it('an unknown team on an existing device leaves it as it was', async () => {
    const user = newUser();
    const token = newToken();
    const first = await t.pbx.putDevice(user, 'a', deviceBody(token));
    const r = await writesNothing(t, () =>
      t.pbx.putDevice(user, 'a', deviceBody(newToken(), { teamId: 'ZZZZZ99999' })),
    );
    expectProblem(r, 400, 'unknown_team');
    expect((await t.pbx.listDevices(user)).body.devices).toEqual([first.body]);
  });

  it('at most 20 devices a user: the 21st is 409 too_many_devices and writes nothing; replacing one of 20 is fine', async () => {
    const user = newUser();
    for (let i = 0; i < 20; i++) {
      expect((await t.pbx.putDevice(user, `d${String(i).padStart(2, '0')}`, deviceBody(newToken()))).status).toBe(201);
    }
    const r = await writesNothing(t, () => t.pbx.putDevice(user, 'd20', deviceBody(newToken())));
    expectProblem(r, 409, 'too_many_devices');
    expect(await ids(user)).toHaveLength(20);
    expect((await t.pbx.putDevice(user, 'd05', deviceBody(newToken()))).status).toBe(200);
    // a token moving from one of the user's own devices to a new deviceId keeps the count at 20
    const moving = newToken();
    expect((await t.pbx.putDevice(user, 'd06', deviceBody(moving))).status).toBe(200);
    const moved = await t.pbx.putDevice(user, 'reinstalled', deviceBody(moving));
    expect(moved.status).toBe(201);
    const after = await ids(user);
    expect(after).toHaveLength(20);
    expect(after).toContain('reinstalled');
    expect(after).not.toContain('d06');
    // after a delete there is room again
    expect((await t.pbx.deleteDevice(user, 'd00')).status).toBe(204);
    expect((await t.pbx.putDevice(user, 'd21', deviceBody(newToken()))).status).toBe(201);
  });

  it('a push token registered under another deviceId moves to the new one: no twin', async () => {
    const user = newUser();
    const token = newToken();
    await t.pbx.putDevice(user, 'old-install', deviceBody(token));
    await t.pbx.putDevice(user, 'keeper', deviceBody(newToken()));
    const r = await t.pbx.putDevice(user, 'new-install', deviceBody(token.toUpperCase()));
    expect(r.status).toBe(201);
    expect(await ids(user)).toEqual(['keeper', 'new-install']);
    // a ring reaches the token once, as the new device
    const callId = uniqueCallId();
    const ring = await t.pbx.ring({ callId, from: { number: '+1' }, to: { userId: user } });
    expect(ring.body.deliveries.map((d: any) => d.deviceId).sort()).toEqual(['keeper', 'new-install']);
    await t.sim.waitForPush(token);
    expect(pushesForCall(t, token, callId)).toHaveLength(1);
  });

  it('the token moves across users of the tenant too', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const token = newToken();
    await t.pbx.putDevice(alice, 'phone', deviceBody(token));
    await t.pbx.putDevice(alice, 'tablet', deviceBody(newToken()));
    expect((await t.pbx.putDevice(bob, 'phone', deviceBody(token))).status).toBe(201);
    expect(await ids(alice)).toEqual(['tablet']);
    expect(await ids(bob)).toEqual(['phone']);
    const callId = uniqueCallId();
    const r = await t.pbx.ring({ callId, from: { number: '+1' }, to: { userId: alice } });
    expect(r.body.deliveries.map((d: any) => d.deviceId)).toEqual(['tablet']);
    expect(pushesForCall(t, token, callId)).toHaveLength(0);
  });

  it('a device that changed its token releases the old one: registering the old token elsewhere leaves it alone', async () => {
    const user = newUser();
    const [t1, t2] = [newToken(), newToken()];
    await t.pbx.putDevice(user, 'phone', deviceBody(t1));
    await t.pbx.putDevice(user, 'phone', deviceBody(t2));
    const other = newUser();
    expect((await t.pbx.putDevice(other, 'x', deviceBody(t1))).status).toBe(201);
    const list = (await t.pbx.listDevices(user)).body.devices;
    expect(list).toEqual([expect.objectContaining({ deviceId: 'phone', tokenSuffix: t2.slice(-8) })]);
    expect(await ids(other)).toEqual(['x']);
  });

  it('moving a token back and forth several times never leaves a twin', async () => {
    const [a, b] = [newUser(), newUser()];
    const token = newToken();
    for (const [user, dev] of [
      [a, '1'],
      [b, '2'],
      [a, '3'],
      [a, '1'],
      [b, '2'],
    ] as const) {
      await t.pbx.putDevice(user, dev, deviceBody(token));
    }
    expect(await ids(a)).toEqual([]);
    expect(await ids(b)).toEqual(['2']);
  });
});

describe('DELETE and GET', () => {
  it('DELETE is 204 with no body, also when absent; the device is gone from GET', async () => {
    const user = newUser();
    await t.pbx.putDevice(user, 'a', deviceBody(newToken()));
    await t.pbx.putDevice(user, 'b', deviceBody(newToken()));
    const r = await t.pbx.deleteDevice(user, 'a');
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    expect(await ids(user)).toEqual(['b']);
    expect((await t.pbx.deleteDevice(user, 'a')).status).toBe(204);
    expect((await t.pbx.deleteDevice(newUser(), 'never')).status).toBe(204);
  });

  it('a deleted device’s token can be registered again elsewhere, and the deleted one gets no push', async () => {
    const user = newUser();
    const token = newToken();
    await t.pbx.putDevice(user, 'a', deviceBody(token));
    await t.pbx.deleteDevice(user, 'a');
    const callId = uniqueCallId();
    const r = await t.pbx.ring({ callId, from: { number: '+1' }, to: { userId: user } });
    expect(r.body).toMatchObject({ status: 'unreachable', deliveries: [] });
    expect(t.sim.pushesFor(token)).toHaveLength(0);
    expect((await t.pbx.putDevice(user, 'b', deviceBody(token))).status).toBe(201);
    expect(await ids(user)).toEqual(['b']);
  });

  it('GET lists an unknown user as no devices', async () => {
    const r = await t.pbx.listDevices(newUser());
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ devices: [] });
  });

  it('GET lists tokenSuffix (the last 8 characters) and never the whole token; nor does PUT', async () => {
    const user = newUser();
    const tokens = [newToken(32), newToken(100), newToken(40)];
    const puts = [];
    for (const [i, tk] of tokens.entries()) puts.push(await t.pbx.putDevice(user, `d${i}`, deviceBody(tk)));
    const r = await t.pbx.listDevices(user);
    const text = JSON.stringify(r.body);
    for (const [i, tk] of tokens.entries()) {
      expect(r.body.devices.find((d: any) => d.deviceId === `d${i}`).tokenSuffix).toBe(tk.slice(-8));
      expect(text.toLowerCase()).not.toContain(tk.slice(0, 24));
      expect(JSON.stringify(puts[i]!.body).toLowerCase()).not.toContain(tk.slice(0, 24));
    }
    for (const d of r.body.devices) {
      expect(Object.keys(d).sort()).toEqual([
        'bundleId',
        'deviceId',
        'environment',
        'platform',
        'pushType',
        'tokenSuffix',
        'updatedAt',
      ]);
    }
  });
});
