import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ALERT_PARAM,
  deviceBody,
  expectValidation,
  inline,
  newToken,
  TEAM_ID,
  uniqueCallId,
  VOIP_PARAM,
  writesNothing,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * RFC 8599 contacts as real phones send them, and tokens in the wrong APNs environment, against
 * two APNs simulators: one plays the sandbox, the other production, and each answers
 * `BadDeviceToken` for a token that belongs to the other (as Apple does).
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ twoEnvironments: true, defaultEnvironment: 'production', events: {} });
});
afterAll(async () => t.stop());

const sandbox = () => t.sim;
const production = () => t.simProduction!;
let n = 0;
const newUser = () => `env-user-${++n}-${Date.now()}`;
const MULTI_PARAM = `${TEAM_ID}.com.example.phone`;

describe('RFC 8599 parameters as real phones send them', () => {
  it('pnProvider apns.dev: the sandbox; apns: the deployment default (production here)', async () => {
    const [dev, prod] = [newToken(), newToken()];
    const r = await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1555' },
      devices: [{ ...inline(dev), pnProvider: 'apns.dev' }, inline(prod)],
    });
    expect(r.body.deliveries.map((d: { result: string }) => d.result)).toEqual(['sent', 'sent']);
    expect(sandbox().pushesFor(dev)).toHaveLength(1);
    expect(production().pushesFor(dev)).toHaveLength(0);
    expect(production().pushesFor(prod)).toHaveLength(1);
    expect(sandbox().pushesFor(prod)).toHaveLength(0);
  });

  it.each([
    ['remote&voip', (v: string, r: string) => `${r}:remote&${v}:voip`],
    ['voip&remote', (v: string, r: string) => `${v}:voip&${r}:remote`],
  ])(
    'the multi-token form (%s): the voip token rings, the remote token gets the missed-call alert',
    async (types, prid) => {
      const [voip, remote] = [newToken(), newToken()];
      const callId = uniqueCallId();
      const r = await t.pbx.ring({
        callId,
        from: { number: '+1555' },
        devices: [{ pnProvider: 'apns.dev', pnPrid: prid(voip, remote), pnParam: `${MULTI_PARAM}.${types}` }],
      });
      expect(r.body.deliveries).toEqual([expect.objectContaining({ pushType: 'voip', result: 'sent' })]);
      const ring = await sandbox().waitForPush(voip);
      expect(ring.headers['apns-topic']).toBe('com.example.phone.voip');
      expect(sandbox().pushesFor(remote)).toEqual([]);
      // A device id derived from its VoIP token, whichever order the parts came in.
      expect(r.body.deliveries[0].deviceId).toMatch(/^inline-[0-9a-f]{24}$/);
    },
  );

  it('a multi-token contact with only a remote token is an alert-mode device', async () => {
    const remote = newToken();
    await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1555' },
      devices: [{ pnProvider: 'apns.dev', pnPrid: `${remote}:remote`, pnParam: `${MULTI_PARAM}.remote` }],
    });
    const push = await sandbox().waitForPush(remote);
    expect(push.headers).toMatchObject({ 'apns-push-type': 'alert', 'apns-topic': 'com.example.phone' });
  });

  it.each([
    [
      'parts that do not match pnParam’s types',
      (v: string, r: string) => `${r}:remote&${v}:voip`,
      `${MULTI_PARAM}.voip`,
      'pnParam',
    ],
    ['a type pnPrid does not have', (v: string) => `${v}:voip`, `${MULTI_PARAM}.remote&voip`, 'pnParam'],
    ['the same type twice', (v: string, r: string) => `${v}:voip&${r}:voip`, `${MULTI_PARAM}.voip&voip`, 'pnPrid'],
    ['a part that is not hex', (v: string) => `zz${v.slice(2)}:voip`, `${MULTI_PARAM}.voip`, 'pnPrid'],
    ['an unknown type', (v: string) => `${v}:video`, `${MULTI_PARAM}.video`, 'pnPrid'],
    [
      'pnParam listing a type twice',
      (v: string, r: string) => `${r}:remote&${v}:voip`,
      `${MULTI_PARAM}.voip&voip`,
      'pnParam',
    ],
  ])('refuses %s: 400 naming the bad member, nothing written or pushed', async (_what, prid, param, member) => {
    const r = await writesNothing(t, () =>
      t.pbx.ring({
        callId: uniqueCallId(),
        from: { number: '+1555' },
        devices: [{ pnProvider: 'apns', pnPrid: prid(newToken(), newToken()), pnParam: param }],
      }),
    );
    expectValidation(r, `devices.0.${member}`);
  });

  it('refuses a provider other than apns and apns.dev', async () => {
    const r = await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1555' },
      devices: [{ pnProvider: 'fcm', pnPrid: newToken(), pnParam: VOIP_PARAM }],
    });
    expectValidation(r, 'devices.0.pnProvider');
  });
});

describe('a push token in the wrong environment', () => {
  it('a registered device’s token from the other environment: tried there, sent, and the registry corrected', async () => {
    const user = newUser();
    const token = newToken();
    sandbox().assignEnvironment(token, 'sandbox'); // a debug build's token …
    await t.pbx.putDevice(user, 'phone', deviceBody(token, { environment: 'production' })); // … registered as production
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    expect(r.body.status).toBe('ringing');
    expect(r.body.deliveries).toEqual([expect.objectContaining({ deviceId: 'phone', result: 'sent' })]);
    expect(
      production()
        .pushesFor(token)
        .map((p) => [p.status, p.reason]),
    ).toEqual([[400, 'BadDeviceToken']]);
    expect(
      sandbox()
        .pushesFor(token)
        .map((p) => p.status),
    ).toEqual([200]);
    const list = await t.pbx.listDevices(user);
    expect(list.body.devices).toEqual([expect.objectContaining({ deviceId: 'phone', environment: 'sandbox' })]);
    expect(t.log.lines.some((l) => l.includes('device environment corrected') && !l.includes('"phone"'))).toBe(true);
    // The next ring goes straight to the right environment.
    await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    expect(production().pushesFor(token)).toHaveLength(1);
    expect(
      sandbox()
        .pushesFor(token)
        .map((p) => p.status),
    ).toEqual([200, 200]);
  });

  it('the call’s end-of-call alerts follow the token to the environment it was found in', async () => {
    const user = newUser();
    const [token, alert] = [newToken(), newToken()];
    sandbox().assignEnvironment(token, 'sandbox');
    sandbox().assignEnvironment(alert, 'sandbox');
    await t.pbx.putDevice(user, 'phone', deviceBody(token, { environment: 'production', alertPushToken: alert }));
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    expect(r.body.deliveries[0].result).toBe('sent');
    await t.pbx.cancel(r.body.callId);
    const missed = await sandbox().waitForPush(alert, 3000);
    expect((missed.payload as { callwake: { type: string } }).callwake.type).toBe('missed');
    expect(production().pushesFor(alert)).toEqual([]);
    expect((await t.pbx.listDevices(user)).body.devices[0].alertTokenSuffix).toBe(alert.slice(-8));
  });

  it('the reverse: a production token registered as sandbox', async () => {
    const user = newUser();
    const token = newToken();
    production().assignEnvironment(token, 'production');
    await t.pbx.putDevice(user, 'phone', deviceBody(token, { environment: 'sandbox' }));
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    expect(r.body.deliveries[0].result).toBe('sent');
    expect((await t.pbx.listDevices(user)).body.devices[0].environment).toBe('production');
  });

  it('a token both environments refuse: failed BadDeviceToken, and only then pruned', async () => {
    const user = newUser();
    const token = newToken();
    await t.pbx.putDevice(user, 'phone', deviceBody(token, { environment: 'production' }));
    await t.pbx.putDevice(user, 'other', deviceBody(newToken(), { environment: 'production' }));
    production().injectFault({ token, status: 400, reason: 'BadDeviceToken' });
    sandbox().injectFault({ token, status: 400, reason: 'BadDeviceToken' });
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    expect(r.body.deliveries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ deviceId: 'phone', result: 'failed', reason: 'BadDeviceToken' }),
      ]),
    );
    expect((await t.pbx.listDevices(user)).body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([
      'other',
    ]);
  });

  it('an inline device is not retried (it is the PBX’s, and carries its environment in pn-provider)', async () => {
    const token = newToken();
    sandbox().assignEnvironment(token, 'sandbox');
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, devices: [inline(token)] });
    expect(r.body).toMatchObject({
      status: 'unreachable',
      deliveries: [expect.objectContaining({ reason: 'BadDeviceToken' })],
    });
    expect(sandbox().pushesFor(token)).toEqual([]);
  });

  it('the retry stays inside the push deadline', async () => {
    const user = newUser();
    const token = newToken();
    sandbox().assignEnvironment(token, 'sandbox');
    await t.pbx.putDevice(user, 'phone', deviceBody(token, { environment: 'production' }));
    sandbox().injectFault({ token, delayMs: 10_000, times: 10 });
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    // The test stack's push deadline is 3 s; the webhook answers within it plus one second.
    expect(r.ms).toBeLessThan(4000);
    expect(r.body.deliveries[0]).toMatchObject({ result: 'failed', reason: 'Timeout' });
    expect((await t.pbx.listDevices(user)).body.devices[0].environment).toBe('production');
  });

  it('an alert-mode alert for a registered device goes to its own environment too', async () => {
    const user = newUser();
    const token = newToken();
    await t.pbx.putDevice(
      user,
      'pad',
      deviceBody(token, { environment: 'sandbox', pushType: 'alert', bundleId: 'com.example.phone' }),
    );
    await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, to: { userId: user } });
    const push = await sandbox().waitForPush(token);
    expect(push.headers['apns-topic']).toBe(ALERT_PARAM.slice(TEAM_ID.length + 1));
  });
});
