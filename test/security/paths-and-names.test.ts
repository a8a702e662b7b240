import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deviceBody, newToken, signedRaw } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Finding 4 (low): the path-spelling tolerance admitted another resource: a cancel signed for
 * `…abc%40pbx…` (callId `abc@pbx`) was accepted on `…abc%2540pbx…` and cancelled (or tombstoned)
 * the callId `abc%40pbx`. Finding 5 (low): ids that are prototype names answered 500.
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => t.stop());

describe('a signature admits exactly the one path it was made for', () => {
  it('a cancel signed for …abc%40pbx… sent as …abc%2540pbx…: 401, and no call or tombstone anywhere', async () => {
    const ts = String(Math.floor(t.clock.now() / 1000));
    const signedPath = '/v1/pbx/calls/abc%40pbx/cancel';
    const before = await t.scanTable();
    const r = await signedRaw(t, 'POST', '/v1/pbx/calls/abc%2540pbx/cancel', undefined, {
      timestamp: Number(ts),
      signPath: signedPath,
    });
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('bad_signature');
    expect(await t.scanTable()).toEqual(before);
    // The same signature on the path it was made for works.
    const ok = await signedRaw(t, 'POST', signedPath, undefined, { timestamp: Number(ts), signPath: signedPath });
    expect(ok.status).toBe(200);
    expect(ok.body.callId).toBe('abc@pbx');
  });

  it('each common encoding of one id still verifies (signed as sent)', async () => {
    for (const sent of [
      '/v1/pbx/calls/a%2Bb%40pbx/cancel',
      '/v1/pbx/calls/a+b@pbx/cancel',
      '/v1/pbx/calls/a%2bb%40pbx/cancel',
    ]) {
      const r = await signedRaw(t, 'POST', sent, undefined, { signPath: sent });
      expect({ sent, status: r.status, callId: r.body.callId }).toEqual({ sent, status: 200, callId: 'a+b@pbx' });
    }
  });
});

describe('ids that are prototype names are plain ids', () => {
  const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

  it.each(names)('device %s: PUT 201, listed, DELETE 204, never a 5xx', async (name) => {
    const user = `proto-user-${name}`;
    const put = await t.pbx.putDevice(user, name, deviceBody(newToken()));
    expect(put.status).toBe(201);
    expect(put.body.deviceId).toBe(name);
    expect((await t.pbx.listDevices(user)).body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([name]);
    expect((await t.pbx.deleteDevice(user, name)).status).toBe(204);
    expect((await t.pbx.deleteDevice(user, 'toString')).status).toBe(204);
    expect((await t.pbx.listDevices(user)).body.devices).toEqual([]);
  });

  it.each(names)('user %s: devices and settings are plain data', async (name) => {
    expect((await t.pbx.listDevices(name)).body.devices).toEqual([]);
    expect((await t.pbx.getSettings(name)).status).toBe(200);
    expect((await t.pbx.putDevice(name, 'phone', deviceBody(newToken()))).status).toBe(201);
    expect((await t.pbx.putSettings(name, { blockedCallers: [name] })).body.blockedCallers).toEqual([name]);
  });

  it('many prototype-named devices of one user live side by side', async () => {
    for (const name of names) expect((await t.pbx.putDevice('crowd', name, deviceBody(newToken()))).status).toBe(201);
    const listed = (await t.pbx.listDevices('crowd')).body.devices.map((d: { deviceId: string }) => d.deviceId);
    expect([...listed].sort()).toEqual([...names].sort());
  });
});
