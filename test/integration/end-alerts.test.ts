import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReceivedPush } from '../../local/apns-simulator/types.js';
import { ALERT_PARAM, BUNDLE, deviceBody, inline, newToken, uniqueCallId } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Apple's advice 4: a missed call is told with a normal notification, through the events path
 * (DynamoDB Local's stream, the events handler, the same pusher, the APNs simulator). And an
 * alert-mode device's stale "Incoming call" alert is replaced when the call ends.
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ events: {} });
});
afterAll(async () => t.stop());

let n = 0;
const newUser = () => `alerts-user-${++n}-${Date.now()}`;

/** A user with one VoIP device that has an alert token; the call rings it. */
async function ringUser(
  o: { ringTimeoutSeconds?: number; settings?: object; from?: object; callerInPush?: boolean } = {},
) {
  const user = newUser();
  const voip = newToken();
  const alert = newToken();
  await t.pbx.putDevice(user, 'phone', deviceBody(voip, { alertPushToken: alert }));
  if (o.settings) await t.pbx.putSettings(user, o.settings);
  const callId = uniqueCallId();
  const r = await t.pbx.ring({
    callId,
    from: o.from ?? { number: '+15551230000', displayName: 'Bob Smith' },
    to: { userId: user },
    ...(o.ringTimeoutSeconds ? { ringTimeoutSeconds: o.ringTimeoutSeconds } : {}),
    ...(o.callerInPush === undefined ? {} : { callerInPush: o.callerInPush }),
  });
  expect(r.status).toBe(201);
  const push = await t.sim.waitForPush(voip);
  const token = (push.payload as { callwake: { token: string } }).callwake.token;
  return { user, voip, alert, callId, callUuid: r.body.callUuid as string, token, answer: r.body };
}

const alertPushes = (token: string): ReceivedPush[] => t.sim.pushesFor(token).filter((p) => p.status === 200);

/** Waits until the events path has run for these changes: nothing more may come after. */
async function quiet() {
  await t.stack.events!.settled();
  await new Promise((r) => setTimeout(r, 200));
}

const missedPayload = (callId: string, callUuid: string, caller: object, label: string[]) => ({
  aps: {
    alert: { 'title-loc-key': 'CALLWAKE_MISSED_CALL_TITLE', 'loc-key': 'CALLWAKE_MISSED_CALL_BODY', 'loc-args': label },
    sound: 'default',
    'thread-id': 'callwake.missed',
    'mutable-content': 1,
  },
  callwake: {
    v: 1,
    type: 'missed',
    callId,
    callUuid,
    caller,
    createdAt: expect.any(Number),
    endedAt: expect.any(Number),
  },
});

describe('missed-call alerts', () => {
  it('after the caller hangs up: one alert to the alert token, within 2 s, with the exact headers and payload', async () => {
    const c = await ringUser();
    expect((await t.pbx.cancel(c.callId, 'caller_hangup')).status).toBe(200);
    const cancelledAt = Date.now();
    const push = await t.sim.waitForPush(c.alert, 3000);
    expect(push.at - cancelledAt).toBeLessThan(2000);
    expect(push.headers).toMatchObject({
      'apns-push-type': 'alert',
      'apns-topic': BUNDLE,
      'apns-priority': '10',
      'apns-collapse-id': c.callUuid,
    });
    expect(Number(push.headers['apns-expiration'])).toBeGreaterThan(Date.now() / 1000 + 3600);
    expect(push.payload).toEqual(
      missedPayload(c.callId, c.callUuid, { number: '+15551230000', displayName: 'Bob Smith' }, ['Bob Smith']),
    );
    const cw = (push.payload as { callwake: { createdAt: number; endedAt: number } }).callwake;
    expect(cw.endedAt).toBeGreaterThanOrEqual(cw.createdAt);
    await quiet();
    expect(alertPushes(c.alert)).toHaveLength(1);
    // The VoIP token got the ring only: a VoIP push never tells of an end.
    expect(t.sim.pushesFor(c.voip)).toHaveLength(1);
  });

  it('after the ring timeout, within 2 s of expiresAt', async () => {
    const c = await ringUser({ ringTimeoutSeconds: 5 });
    const push = await t.sim.waitForPush(c.alert, 9000);
    const late = push.at - Date.parse(c.answer.expiresAt);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(2000);
    expect((push.payload as { callwake: { type: string } }).callwake.type).toBe('missed');
  }, 15_000);

  it.each([
    ['answered', async (c: Awaited<ReturnType<typeof ringUser>>) => t.app.answer(c.callId, c.token)],
    ['declined', async (c: Awaited<ReturnType<typeof ringUser>>) => t.app.decline(c.callId, c.token)],
    [
      'answered, then cancelled',
      async (c: Awaited<ReturnType<typeof ringUser>>) => {
        await t.app.answer(c.callId, c.token);
        return t.pbx.cancel(c.callId, 'caller_hangup');
      },
    ],
    [
      'answered elsewhere',
      async (c: Awaited<ReturnType<typeof ringUser>>) => t.pbx.cancel(c.callId, 'answered_elsewhere'),
    ],
    [
      'declined elsewhere',
      async (c: Awaited<ReturnType<typeof ringUser>>) => t.pbx.cancel(c.callId, 'declined_elsewhere'),
    ],
    ['cancelled with an error', async (c: Awaited<ReturnType<typeof ringUser>>) => t.pbx.cancel(c.callId, 'error')],
  ])('none when the call was %s', async (_what, end) => {
    const c = await ringUser();
    expect((await end(c)).status).toBe(200);
    await quiet();
    expect(alertPushes(c.alert)).toEqual([]);
  });

  it('none for a blocked caller, and none at all when missedCallPush is off', async () => {
    const blocked = await (async () => {
      const user = newUser();
      const alert = newToken();
      await t.pbx.putDevice(user, 'phone', deviceBody(newToken(), { alertPushToken: alert }));
      await t.pbx.putSettings(user, { blockedCallers: ['+1666'] });
      const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1666' }, to: { userId: user } });
      expect(r.body.status).toBe('rejected');
      return alert;
    })();
    const off = await ringUser({ settings: { missedCallPush: false } });
    await t.pbx.cancel(off.callId);
    await quiet();
    expect(alertPushes(blocked)).toEqual([]);
    expect(alertPushes(off.alert)).toEqual([]);
  });

  it('Do Not Disturb: at once, passive and silent, to every registered device of the user with an alert token', async () => {
    const user = newUser();
    const [a, b] = [newToken(), newToken()];
    const alertMode = newToken();
    await t.pbx.putDevice(user, 'phone', deviceBody(newToken(), { alertPushToken: a }));
    await t.pbx.putDevice(user, 'pad', deviceBody(newToken(), { alertPushToken: b }));
    await t.pbx.putDevice(user, 'no-alert-token', deviceBody(newToken()));
    await t.pbx.putDevice(user, 'alert-mode', deviceBody(alertMode, { pushType: 'alert' }));
    await t.pbx.putSettings(user, { doNotDisturb: { enabled: true } });
    const callId = uniqueCallId();
    const r = await t.pbx.ring({ callId, from: { number: '+1555', displayName: 'Ann' }, to: { userId: user } });
    expect(r.body).toMatchObject({ status: 'rejected', rejectReason: 'doNotDisturb', deliveries: [] });
    const started = Date.now();
    for (const token of [a, b, alertMode]) {
      const push = await t.sim.waitForPush(token, 3000);
      expect(push.at - started).toBeLessThan(2000);
      expect(push.headers).toMatchObject({ 'apns-push-type': 'alert', 'apns-collapse-id': r.body.callUuid });
      const aps = (push.payload as { aps: Record<string, unknown> }).aps;
      expect(aps['interruption-level']).toBe('passive');
      expect(aps.sound).toBeUndefined();
      expect(aps.alert).toEqual({
        'title-loc-key': 'CALLWAKE_MISSED_CALL_TITLE',
        'loc-key': 'CALLWAKE_MISSED_CALL_BODY',
        'loc-args': ['Ann'],
      });
    }
    await quiet();
    expect(t.sim.received.filter((p) => p.payload && JSON.stringify(p.payload).includes(r.body.callUuid))).toHaveLength(
      3,
    );

    const off = newUser();
    const silent = newToken();
    await t.pbx.putDevice(off, 'phone', deviceBody(newToken(), { alertPushToken: silent }));
    await t.pbx.putSettings(off, { doNotDisturb: { enabled: true }, missedCallPush: false });
    await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: off } });
    await quiet();
    expect(t.sim.pushesFor(silent)).toEqual([]);
  });

  it('a call without to.userId: its inline devices with an alert token get one, as if missedCallPush were on', async () => {
    const [voip, remote] = [newToken(), newToken()];
    const callId = uniqueCallId();
    const r = await t.pbx.ring({
      callId,
      from: { uri: 'sip:bob@example.com' },
      devices: [{ pnProvider: 'apns', pnPrid: `${remote}:remote&${voip}:voip`, pnParam: `${ALERT_PARAM}.remote&voip` }],
    });
    await t.sim.waitForPush(voip);
    await t.pbx.cancel(callId);
    const push = await t.sim.waitForPush(remote, 3000);
    expect(push.payload).toEqual(
      missedPayload(callId, r.body.callUuid, { uri: 'sip:bob@example.com' }, ['sip:bob@example.com']),
    );
  });

  it('an alert token APNs calls dead is cleared; the device and its VoIP token stay', async () => {
    const c = await ringUser();
    t.sim.markUnregistered(c.alert);
    await t.pbx.cancel(c.callId);
    await t.sim.waitForPush(c.alert, 3000, (p) => p.status === 410);
    const deadline = Date.now() + 3000;
    let device: { deviceId: string; alertTokenSuffix?: string; tokenSuffix: string } | undefined;
    do {
      device = (await t.pbx.listDevices(c.user)).body.devices[0];
      if (device?.alertTokenSuffix === undefined) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    expect(device).toMatchObject({ deviceId: 'phone', tokenSuffix: c.voip.slice(-8) });
    expect(device?.alertTokenSuffix).toBeUndefined();
  });

  it('GET devices shows the alert token’s suffix, never the token', async () => {
    const user = newUser();
    const alert = newToken();
    const put = await t.pbx.putDevice(user, 'phone', deviceBody(newToken(), { alertPushToken: alert }));
    expect(put.body.alertTokenSuffix).toBe(alert.slice(-8));
    const list = await t.pbx.listDevices(user);
    expect(list.body.devices[0].alertTokenSuffix).toBe(alert.slice(-8));
    expect(JSON.stringify(list.body)).not.toContain(alert);
  });
});

describe('caller-ID out of the push', () => {
  it('callerInPush false: the VoIP push carries caller {}, the missed-call alert no caller; confirm tells the caller', async () => {
    const c = await ringUser({ callerInPush: false });
    const ring = t.sim.pushesFor(c.voip)[0]!;
    expect((ring.payload as { callwake: { caller: object } }).callwake.caller).toEqual({});
    expect(JSON.stringify(ring.payload)).not.toContain('Bob');
    const confirm = await t.app.confirm(c.callId, c.token);
    expect(confirm.body.caller).toEqual({ number: '+15551230000', displayName: 'Bob Smith', uri: null });
    await t.pbx.cancel(c.callId);
    const push = await t.sim.waitForPush(c.alert, 3000);
    expect(push.payload).toEqual(missedPayload(c.callId, c.callUuid, {}, []));
  });

  it('callerInPush false: an alert-mode incoming call shows no caller ("Incoming call")', async () => {
    const token = newToken();
    await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1555', displayName: 'Secret' },
      devices: [inline(token, ALERT_PARAM)],
      callerInPush: false,
    });
    const push = await t.sim.waitForPush(token);
    expect((push.payload as { aps: { alert: object } }).aps.alert).toEqual({
      title: 'Incoming call',
      body: 'Incoming call',
    });
    expect(JSON.stringify(push.payload)).not.toContain('Secret');
  });
});

describe('alert-mode devices: the incoming-call alert is replaced at the end', () => {
  async function ringAlertMode(devices = 2) {
    const tokens = Array.from({ length: devices }, () => newToken());
    const callId = uniqueCallId();
    const r = await t.pbx.ring({
      callId,
      from: { number: '+15551230000', displayName: 'Bob' },
      devices: tokens.map((tk) => inline(tk, ALERT_PARAM)),
    });
    const callTokens = await Promise.all(
      tokens.map(
        async (tk) => ((await t.sim.waitForPush(tk)).payload as { callwake: { token: string } }).callwake.token,
      ),
    );
    return { callId, callUuid: r.body.callUuid as string, tokens, callTokens };
  }
  const second = async (token: string) => {
    const deadline = Date.now() + 3000;
    while (alertPushes(token).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const push = alertPushes(token)[1];
    if (!push) throw new Error('no second alert within 3 s');
    return push;
  };

  it('ended unanswered: replaced by the missed-call alert, on the same collapse id', async () => {
    const c = await ringAlertMode(1);
    await t.pbx.cancel(c.callId);
    const push = await second(c.tokens[0]!);
    expect(push.headers['apns-collapse-id']).toBe(c.callUuid);
    expect((push.payload as { callwake: { type: string } }).callwake.type).toBe('missed');
  });

  it('answered on one device: the other gets the passive "call ended" alert, the answering one none', async () => {
    const c = await ringAlertMode(2);
    await t.app.answer(c.callId, c.callTokens[0]!);
    const push = await second(c.tokens[1]!);
    expect(push.headers['apns-collapse-id']).toBe(c.callUuid);
    expect(push.payload).toEqual({
      aps: { alert: { 'title-loc-key': 'CALLWAKE_CALL_ENDED_TITLE' }, 'interruption-level': 'passive' },
      callwake: { v: 1, type: 'ended', callId: c.callId, callUuid: c.callUuid, endedAt: expect.any(Number) },
    });
    await t.pbx.cancel(c.callId); // the answered call ending later replaces nothing again
    await quiet();
    expect(alertPushes(c.tokens[0]!)).toHaveLength(1);
    expect(alertPushes(c.tokens[1]!)).toHaveLength(2);
  });

  it.each([
    ['answered elsewhere', 'answered_elsewhere'],
    ['an error', 'error'],
  ])('cancelled as %s: the passive "call ended" alert', async (_what, reason) => {
    const c = await ringAlertMode(1);
    await t.pbx.cancel(c.callId, reason);
    const push = await second(c.tokens[0]!);
    expect((push.payload as { callwake: { type: string; endReason: string } }).callwake).toMatchObject({
      type: 'ended',
    });
  });

  it('declined on the device: that device gets none, the other the passive alert', async () => {
    const c = await ringAlertMode(2);
    await t.app.decline(c.callId, c.callTokens[1]!);
    const push = await second(c.tokens[0]!);
    expect((push.payload as { callwake: { type: string } }).callwake.type).toBe('ended');
    await quiet();
    expect(alertPushes(c.tokens[1]!)).toHaveLength(1);
  });
});
