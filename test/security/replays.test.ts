import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deviceBody, expectProblem, newToken, writesNothing } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Finding 1 (medium): a captured signed registry, settings or webhook change, replayed inside the
 * signature's 300 s window, rolled a later change back. Each test replays a capture (the same
 * signed timestamp, so the signature is still valid) after a later change, and asserts 409
 * `stale_request` and that nothing changed.
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => t.stop());

const now = () => Math.floor(t.clock.now() / 1000);
let n = 0;
const newUser = () => `replay-user-${++n}-${Date.now()}`;
const devicePath = (user: string, id: string) => `/v1/pbx/users/${user}/devices/${id}`;

describe('replays of registry changes', () => {
  it('a captured PUT replayed after a later PUT does not restore the old token', async () => {
    const user = newUser();
    const [oldToken, newTokenValue] = [newToken(), newToken()];
    const captured = { timestamp: now() - 60 };
    expect((await t.pbx.send('PUT', devicePath(user, 'phone'), deviceBody(oldToken), captured)).status).toBe(201);
    expect((await t.pbx.putDevice(user, 'phone', deviceBody(newTokenValue))).status).toBe(200);
    const replay = await writesNothing(t, () =>
      t.pbx.send('PUT', devicePath(user, 'phone'), deviceBody(oldToken), captured),
    );
    expectProblem(replay, 409, 'stale_request');
    expect((await t.pbx.listDevices(user)).body.devices[0].tokenSuffix).toBe(newTokenValue.slice(-8));
  });

  it('a captured DELETE replayed after the phone registered again does not remove it', async () => {
    const user = newUser();
    const captured = { timestamp: now() - 30 };
    await t.pbx.send('PUT', devicePath(user, 'phone'), deviceBody(newToken()), { timestamp: now() - 60 });
    expect((await t.pbx.send('DELETE', devicePath(user, 'phone'), undefined, captured)).status).toBe(204);
    expect((await t.pbx.putDevice(user, 'phone', deviceBody(newToken()))).status).toBe(201);
    const replay = await writesNothing(t, () => t.pbx.send('DELETE', devicePath(user, 'phone'), undefined, captured));
    expectProblem(replay, 409, 'stale_request');
    expect((await t.pbx.listDevices(user)).body.devices).toHaveLength(1);
  });

  it('a captured PUT replayed after a DELETE does not bring the device back', async () => {
    const user = newUser();
    const captured = { timestamp: now() - 60 };
    await t.pbx.send('PUT', devicePath(user, 'phone'), deviceBody(newToken()), captured);
    expect((await t.pbx.deleteDevice(user, 'phone')).status).toBe(204);
    const body = deviceBody(newToken());
    const replay = await writesNothing(t, () => t.pbx.send('PUT', devicePath(user, 'phone'), body, captured));
    expectProblem(replay, 409, 'stale_request');
    expect((await t.pbx.listDevices(user)).body.devices).toEqual([]);
  });

  it('a capture signed up to 299 s ahead is still ordered by its signed time', async () => {
    const user = newUser();
    const ahead = { timestamp: now() + 250 };
    expect((await t.pbx.send('PUT', devicePath(user, 'phone'), deviceBody(newToken()), ahead)).status).toBe(201);
    // A genuine change signed now is older than the capture's claimed time: refused, as ordered.
    expectProblem(await t.pbx.putDevice(user, 'phone', deviceBody(newToken())), 409, 'stale_request');
  });

  it('a change signed in the same second as the last applies', async () => {
    const user = newUser();
    const second = { timestamp: now() };
    await t.pbx.send('PUT', devicePath(user, 'phone'), deviceBody(newToken()), second);
    const again = deviceBody(newToken());
    expect((await t.pbx.send('PUT', devicePath(user, 'phone'), again, second)).status).toBe(200);
    expect((await t.pbx.listDevices(user)).body.devices[0].tokenSuffix).toBe(again.pushToken.slice(-8));
  });
});

describe('replays of settings and webhook changes', () => {
  it('settings: a captured PUT replayed after a later one does not unblock a caller', async () => {
    const user = newUser();
    const captured = { timestamp: now() - 60 };
    const path = `/v1/pbx/users/${user}/settings`;
    await t.pbx.send('PUT', path, { blockedCallers: [] }, captured);
    await t.pbx.putSettings(user, { blockedCallers: ['+15550009999'] });
    const replay = await writesNothing(t, () => t.pbx.send('PUT', path, { blockedCallers: [] }, captured));
    expectProblem(replay, 409, 'stale_request');
    expect((await t.pbx.getSettings(user)).body.blockedCallers).toEqual(['+15550009999']);
  });

  it('webhook: a captured PUT replayed after a DELETE does not restore it; a captured DELETE after a PUT does not remove it', async () => {
    const captured = { timestamp: now() - 60 };
    const hook = { url: 'https://old.example.com/cw' };
    await t.pbx.send('PUT', '/v1/pbx/webhook', hook, captured);
    expect((await t.pbx.deleteWebhook()).status).toBe(204);
    expectProblem(
      await writesNothing(t, () => t.pbx.send('PUT', '/v1/pbx/webhook', hook, captured)),
      409,
      'stale_request',
    );
    expectProblem(await t.pbx.getWebhook(), 404, 'webhook_not_found');

    const deleteCapture = { timestamp: now() - 30 };
    await t.pbx.putWebhook({ url: 'https://new.example.com/cw' });
    expectProblem(
      await writesNothing(t, () => t.pbx.send('DELETE', '/v1/pbx/webhook', undefined, deleteCapture)),
      409,
      'stale_request',
    );
    expect((await t.pbx.getWebhook()).body.url).toBe('https://new.example.com/cw');
  });
});

describe('creates and cancels stay idempotent', () => {
  it('a replayed create is the same create (200), a replayed cancel the same cancel (200)', async () => {
    const captured = { timestamp: now() - 60 };
    const body = {
      callId: `replay-${Date.now()}@pbx`,
      from: { number: '+1555' },
      devices: [{ pnProvider: 'apns', pnPrid: newToken(), pnParam: 'LOCALTEAM1.com.example.phone.voip' }],
    };
    expect((await t.pbx.send('POST', '/v1/pbx/calls', body, captured)).status).toBe(201);
    expect((await t.pbx.send('POST', '/v1/pbx/calls', body, captured)).status).toBe(200);
    const path = `/v1/pbx/calls/${encodeURIComponent(body.callId)}/cancel`;
    expect((await t.pbx.send('POST', path, undefined, captured)).status).toBe(200);
    expect((await t.pbx.send('POST', path, undefined, captured)).body.status).toBe('cancelled');
  });
});
