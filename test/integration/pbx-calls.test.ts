import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ALERT_PARAM,
  BUNDLE,
  ClockedPbx,
  callTokenOf,
  callUuidOf,
  codePoints,
  deviceBody,
  expectProblem,
  ISO_UTC,
  inline,
  newToken,
  pushesForCall,
  uniqueCallId,
  writesNothing,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let t: TestStack;
let pbx: ClockedPbx;
beforeAll(async () => {
  t = await startTestStack();
  pbx = new ClockedPbx(t.pbx, t.clock);
});
afterAll(async () => {
  await t?.stop();
});
afterEach(() => {
  // Tests that move the clock put it back; the APNs simulator follows real time.
  t.clock.offsetMs = 0;
  t.sim.clearFaults();
});

let users = 0;
const newUser = () => `user-${Date.now().toString(36)}-${users++}`;

const ringInline = (token: string, extra: Record<string, unknown> = {}) =>
  pbx.ring({
    callId: uniqueCallId(),
    from: { number: '+15551230000', displayName: 'Bob Smith' },
    devices: [inline(token)],
    ...extra,
  });

describe('POST /v1/pbx/calls: the first time', () => {
  it('201 with the contract’s answer: callUuid v5, ISO times, expiresAt = createdAt + ring timeout, one delivery per device', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const before = Date.now();
    const r = await pbx.ring({
      callId,
      from: { number: '+15551230000' },
      devices: [inline(token)],
      ringTimeoutSeconds: 17,
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(r.body).sort()).toEqual([
      'callId',
      'callUuid',
      'createdAt',
      'deliveries',
      'expiresAt',
      'status',
    ]);
    expect(r.body.callId).toBe(callId);
    expect(r.body.callUuid).toBe(callUuidOf('acme', callId));
    expect(r.body.callUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.body.status).toBe('ringing');
    expect(r.body.createdAt).toMatch(ISO_UTC);
    expect(r.body.expiresAt).toMatch(ISO_UTC);
    const created = Date.parse(r.body.createdAt);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now() + 1000);
    expect(Date.parse(r.body.expiresAt) - created).toBe(17_000);
    const push = await t.sim.waitForPush(token);
    expect(r.body.deliveries).toEqual([
      { deviceId: expect.any(String), pushType: 'voip', result: 'sent', apnsId: push.apnsId },
    ]);
  });

  it('the VoIP push: headers and payload as the contract says', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const r = await pbx.ring({
      callId,
      from: { number: '+15551230000', displayName: 'Bob Smith', uri: 'sip:bob@example.com' },
      devices: [inline(token)],
      ringTimeoutSeconds: 42,
      hasVideo: true,
    });
    expect(r.status).toBe(201);
    const push = await t.sim.waitForPush(token);
    expect(push.headers['apns-push-type']).toBe('voip');
    expect(push.headers['apns-topic']).toBe(`${BUNDLE}.voip`);
    expect([undefined, '10']).toContain(push.headers['apns-priority']);
    expect(push.headers['apns-expiration']).toBe('0');
    expect(push.headers.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/i);
    expect(Buffer.byteLength(push.body)).toBeLessThanOrEqual(5120);
    const p = push.payload as any;
    expect(Object.keys(p).sort()).toEqual(['aps', 'callwake']);
    expect(p.aps).toEqual({});
    expect(p.callwake).toEqual({
      v: 1,
      type: 'call',
      callId,
      callUuid: callUuidOf('acme', callId),
      caller: { number: '+15551230000', displayName: 'Bob Smith' },
      hasVideo: true,
      token: expect.any(String),
      api: `${t.url}/v1/app`,
      sentAt: expect.any(Number),
      expiresAt: Date.parse(r.body.expiresAt),
    });
    expect(p.callwake.token.length).toBeLessThanOrEqual(200);
    expect(Number.isInteger(p.callwake.sentAt)).toBe(true);
    expect(p.callwake.sentAt).toBeGreaterThanOrEqual(Date.parse(r.body.createdAt));
    expect(p.callwake.sentAt).toBeLessThanOrEqual(Date.now());
    expect(p.callwake.expiresAt - Date.parse(r.body.createdAt)).toBe(42_000);
  });

  it('caller in the push: uri only when there is no number', async () => {
    const a = newToken();
    await ringInline(a, { from: { uri: 'sip:carol@example.com', displayName: 'Carol' } });
    expect(((await t.sim.waitForPush(a)).payload as any).callwake.caller).toEqual({
      uri: 'sip:carol@example.com',
      displayName: 'Carol',
    });
    const b = newToken();
    await ringInline(b, { from: { uri: 'sip:dan@example.com' } });
    expect(((await t.sim.waitForPush(b)).payload as any).callwake.caller).toEqual({ uri: 'sip:dan@example.com' });
    const c = newToken();
    await ringInline(c, { from: { number: '+4930123', uri: 'sip:erin@example.com' } });
    expect(((await t.sim.waitForPush(c)).payload as any).callwake.caller).toEqual({ number: '+4930123' });
  });

  it('metadata is in the app view and never in the push', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const metadata = { registrar: 'sip:pbx.example.com;transport=tls', marker: 'META-MARKER-7f3a' };
    await pbx.ring({ callId, from: { number: '+1555' }, devices: [inline(token)], metadata });
    const push = await t.sim.waitForPush(token);
    expect(push.body).not.toContain('META-MARKER-7f3a');
    expect(push.body).not.toContain('metadata');
    expect(push.body).not.toContain('pbx.example.com;transport');
    const view = await t.app.view(callId, (push.payload as any).callwake.token);
    expect(view.status).toBe(200);
    expect(view.body.metadata).toEqual(metadata);
  });

  it('an oversized display name (multi-byte emoji) is stored and pushed shortened to at most 256 code points', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const name = `Zoë ${'😀👩‍👩‍👧'.repeat(540)}`; // ~4,300 code points, ~15 KB of UTF-8
    const body = { callId, from: { number: '+1555', displayName: name }, devices: [inline(token)] };
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(16 * 1024);
    const r = await pbx.ring(body);
    expect(r.status).toBe(201);
    const push = await t.sim.waitForPush(token);
    expect(Buffer.byteLength(push.body)).toBeLessThanOrEqual(5120);
    const pushed: string = (push.payload as any).callwake.caller.displayName;
    expect(codePoints(pushed)).toBeGreaterThan(0);
    expect(codePoints(pushed)).toBeLessThanOrEqual(256);
    expect(name.startsWith(pushed)).toBe(true);
    expect(pushed.isWellFormed()).toBe(true);
    const view = await t.app.view(callId, (push.payload as any).callwake.token);
    const stored: string = view.body.caller.displayName;
    expect(codePoints(stored)).toBeLessThanOrEqual(256);
    expect(codePoints(stored)).toBeGreaterThanOrEqual(codePoints(pushed));
    expect(name.startsWith(stored)).toBe(true);
    expect(stored.isWellFormed()).toBe(true);
    // and the retry of that same body is recognised as the same body
    const again = await pbx.ring(body);
    expect(again.status).toBe(200);
  });

  it('a display name as long as the body allows (16,000 ASCII characters) is never refused', async () => {
    const token = newToken();
    const name = 'N'.repeat(16_000);
    const r = await ringInline(token, { from: { number: '+1555', displayName: name } });
    expect(r.status).toBe(201);
    const push = await t.sim.waitForPush(token);
    expect((push.payload as any).callwake.caller.displayName).toBe('N'.repeat(256));
  });

  it('display names of 256 code points are kept whole; 257 lose the last one', async () => {
    const a = newToken();
    const n256 = '😀'.repeat(256);
    await ringInline(a, { from: { number: '+1', displayName: n256 } });
    expect(((await t.sim.waitForPush(a)).payload as any).callwake.caller.displayName).toBe(n256);
    const b = newToken();
    await ringInline(b, { from: { number: '+1', displayName: `${n256}x` } });
    expect(((await t.sim.waitForPush(b)).payload as any).callwake.caller.displayName).toBe(n256);
  });

  it('an inline device gets a stable deviceId derived from its token, which does not reveal it', async () => {
    const token = newToken();
    const r1 = await ringInline(token);
    const r2 = await ringInline(token.toUpperCase());
    const id = r1.body.deliveries[0].deviceId;
    expect(r2.body.deliveries[0].deviceId).toBe(id);
    expect(id.toLowerCase()).not.toContain(token.slice(-8));
    expect(id.toLowerCase()).not.toContain(token.slice(0, 16));
    const other = await ringInline(newToken());
    expect(other.body.deliveries[0].deviceId).not.toBe(id);
  });

  it('a user with no registered devices and no inline ones: 201 unreachable with no deliveries', async () => {
    const r = await pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: newUser() } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'unreachable', deliveries: [] });
  });
});

describe('targets: registry and inline', () => {
  it('a device reached both inline and through the registry (same token) is pushed once', async () => {
    const user = newUser();
    const token = newToken();
    expect((await pbx.putDevice(user, 'phone', deviceBody(token))).status).toBe(201);
    const callId = uniqueCallId();
    const r = await pbx.ring({
      callId,
      from: { number: '+1' },
      to: { userId: user },
      devices: [inline(token.toUpperCase())],
    });
    expect(r.status).toBe(201);
    expect(r.body.deliveries).toHaveLength(1);
    await t.sim.waitForPush(token);
    expect(pushesForCall(t, token, callId)).toHaveLength(1);
  });

  it('registry and inline devices together each get their push', async () => {
    const user = newUser();
    const [a, b, c] = [newToken(), newToken(), newToken()];
    await pbx.putDevice(user, 'a', deviceBody(a));
    await pbx.putDevice(user, 'b', deviceBody(b));
    const callId = uniqueCallId();
    const r = await pbx.ring({ callId, from: { number: '+1' }, to: { userId: user }, devices: [inline(c)] });
    expect(r.body.deliveries.map((d: any) => d.result)).toEqual(['sent', 'sent', 'sent']);
    expect(r.body.deliveries.map((d: any) => d.deviceId)).toEqual(expect.arrayContaining(['a', 'b']));
    for (const tk of [a, b, c]) expect(pushesForCall(t, tk, callId)).toHaveLength(1);
  });

  it('an inline device whose team is not configured is a failed delivery UnknownTeam, and nothing is sent to it', async () => {
    const token = newToken();
    const good = newToken();
    const r = await pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1' },
      devices: [inline(token, 'OTHERTEAM9.com.example.phone.voip'), inline(good)],
    });
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('ringing');
    expect(r.body.deliveries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ result: 'failed', reason: 'UnknownTeam' }),
        expect.objectContaining({ result: 'sent' }),
      ]),
    );
    expect(r.body.deliveries.find((d: any) => d.reason === 'UnknownTeam').apnsId).toBeUndefined();
    expect(t.sim.pushesFor(token)).toHaveLength(0);
    const only = await ringInline(token, { devices: [inline(token, 'OTHERTEAM9.com.example.phone.voip')] });
    expect(only.body.status).toBe('unreachable');
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });
});

describe('failed deliveries and the registry', () => {
  it('no push accepted: unreachable; the PBX view is unreachable/failed and the app ended/failed', async () => {
    const token = newToken();
    t.sim.markUnregistered(token);
    const callId = uniqueCallId();
    const r = await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('unreachable');
    expect(r.body.deliveries).toEqual([
      expect.objectContaining({ pushType: 'voip', result: 'failed', reason: 'Unregistered' }),
    ]);
    const v = await pbx.view(callId);
    expect(v.body).toMatchObject({ status: 'unreachable', endReason: 'failed' });
    expect(v.body.devices[0].delivery).toBe('failed');
    const app = await t.app.view(callId, callTokenOf(t, token, callId));
    expect(app.status).toBe(200);
    expect(app.body).toMatchObject({ status: 'ended', endReason: 'failed' });
    // the same body again: 200 with the stored (unreachable) answer, nothing pushed again
    const again = await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(r.body);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it.each([
    ['410 Unregistered', (tk: string) => t.sim.markUnregistered(tk), 'Unregistered'],
    [
      '400 BadDeviceToken',
      // Bad in both environments: a registered token is tried in the other one before it is pruned.
      (tk: string) => t.sim.injectFault({ token: tk, status: 400, reason: 'BadDeviceToken', times: 2 }),
      'BadDeviceToken',
    ],
    [
      '400 DeviceTokenNotForTopic',
      (tk: string) => t.sim.bindTopic(tk, 'com.someone.else.voip'),
      'DeviceTokenNotForTopic',
    ],
  ])(
    'a registry device answered %s is removed from the registry in the same request',
    async (_name, breakIt, reason) => {
      const user = newUser();
      const [dead, alive] = [newToken(), newToken()];
      await pbx.putDevice(user, 'dead', deviceBody(dead));
      await pbx.putDevice(user, 'alive', deviceBody(alive));
      breakIt(dead);
      const r = await pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: user } });
      expect(r.status).toBe(201);
      expect(r.body.status).toBe('ringing');
      expect(r.body.deliveries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ deviceId: 'dead', result: 'failed', reason }),
          expect.objectContaining({ deviceId: 'alive', result: 'sent' }),
        ]),
      );
      const list = await pbx.listDevices(user);
      expect(list.body.devices.map((d: any) => d.deviceId)).toEqual(['alive']);
    },
  );

  it('a registry device with a passing failure is kept', async () => {
    const user = newUser();
    const token = newToken();
    await pbx.putDevice(user, 'flaky', deviceBody(token));
    t.sim.injectFault({ token, status: 400, reason: 'BadCollapseId' });
    const r = await pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: user } });
    expect(r.body.deliveries).toEqual([expect.objectContaining({ result: 'failed', reason: 'BadCollapseId' })]);
    expect((await pbx.listDevices(user)).body.devices.map((d: any) => d.deviceId)).toEqual(['flaky']);
  });

  it('an inline device with the same failure is not in any registry: nothing is added or removed', async () => {
    const user = newUser();
    const registered = newToken();
    await pbx.putDevice(user, 'mine', deviceBody(registered));
    const before = (await pbx.listDevices(user)).body;
    const token = newToken();
    t.sim.markUnregistered(token);
    const r = await pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1' },
      to: { userId: user },
      devices: [inline(token)],
    });
    expect(r.body.deliveries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ result: 'failed', reason: 'Unregistered' }),
        expect.objectContaining({ deviceId: 'mine', result: 'sent' }),
      ]),
    );
    expect((await pbx.listDevices(user)).body).toEqual(before);
  });

  it('a re-registered device is not evicted by a dead push of its old token', async () => {
    // prune only removes the device if it still holds the dead token
    const user = newUser();
    const old = newToken();
    await pbx.putDevice(user, 'phone', deviceBody(old));
    t.sim.markUnregistered(old);
    t.sim.injectFault({ token: old, delayMs: 1500 });
    const ring = pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: user } });
    await new Promise((r) => setTimeout(r, 100));
    const fresh = newToken();
    expect((await pbx.putDevice(user, 'phone', deviceBody(fresh))).status).toBe(200);
    const r = await ring;
    expect(r.body.deliveries).toEqual([
      expect.objectContaining({ deviceId: 'phone', result: 'failed', reason: 'Unregistered' }),
    ]);
    const list = await pbx.listDevices(user);
    expect(list.body.devices).toEqual([expect.objectContaining({ deviceId: 'phone', tokenSuffix: fresh.slice(-8) })]);
  });
});

describe('alert-mode devices', () => {
  const expectAlert = async (token: string, callId: string, answer: any, body: string) => {
    const push = await t.sim.waitForPush(token);
    expect(push.headers['apns-push-type']).toBe('alert');
    expect(push.headers['apns-topic']).toBe(BUNDLE);
    expect(push.headers['apns-priority']).toBe('10');
    const ringEnd = Date.parse(answer.expiresAt) / 1000;
    expect(Math.abs(Number(push.headers['apns-expiration']) - ringEnd)).toBeLessThan(1);
    expect(push.headers['apns-collapse-id']).toBe(callUuidOf('acme', callId));
    expect(Buffer.byteLength(push.body)).toBeLessThanOrEqual(4096);
    const p = push.payload as any;
    expect(p.aps).toEqual({
      alert: { title: 'Incoming call', body },
      sound: 'default',
      'interruption-level': 'time-sensitive',
      category: 'INCOMING_CALL',
    });
    expect(p.callwake).toMatchObject({
      v: 1,
      type: 'call',
      callId,
      callUuid: callUuidOf('acme', callId),
      token: expect.any(String),
      api: `${t.url}/v1/app`,
    });
    expect(p.callwake.expiresAt).toBe(Date.parse(answer.expiresAt));
    return p;
  };

  it('a registry device with pushType alert gets an alert push with the contract’s headers and payload', async () => {
    const user = newUser();
    const token = newToken();
    const put = await pbx.putDevice(user, 'ipad', deviceBody(token, { pushType: 'alert' }));
    expect(put.body.pushType).toBe('alert');
    const callId = uniqueCallId();
    const r = await pbx.ring({
      callId,
      from: { number: '+15551230000', displayName: 'Bob Smith' },
      to: { userId: user },
      ringTimeoutSeconds: 33,
    });
    expect(r.body.deliveries).toEqual([
      expect.objectContaining({ deviceId: 'ipad', pushType: 'alert', result: 'sent' }),
    ]);
    const p = await expectAlert(token, callId, r.body, 'Bob Smith');
    // it uses the app API exactly as a VoIP device does
    const answer = await t.app.answer(callId, p.callwake.token);
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('answered');
  });

  it('an inline pnParam without .voip is an alert-mode device on the bundle topic; the body falls back to number, then uri', async () => {
    const a = newToken();
    const callA = uniqueCallId();
    const ra = await pbx.ring({ callId: callA, from: { number: '+15550001' }, devices: [inline(a, ALERT_PARAM)] });
    expect(ra.body.deliveries).toEqual([expect.objectContaining({ pushType: 'alert', result: 'sent' })]);
    await expectAlert(a, callA, ra.body, '+15550001');
    const b = newToken();
    const callB = uniqueCallId();
    const rb = await pbx.ring({
      callId: callB,
      from: { uri: 'sip:zed@example.com' },
      devices: [inline(b, ALERT_PARAM)],
    });
    await expectAlert(b, callB, rb.body, 'sip:zed@example.com');
  });

  it('an alert push with a huge display name stays within 4096 bytes', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const r = await pbx.ring({
      callId,
      from: { number: '+1', displayName: '\u0001'.repeat(2000), uri: `sip:${'u'.repeat(500)}` },
      devices: [inline(token, ALERT_PARAM)],
    });
    expect(r.status).toBe(201);
    const push = await t.sim.waitForPush(token);
    expect(Buffer.byteLength(push.body)).toBeLessThanOrEqual(4096);
  });
});

describe('a known callId', () => {
  it('the same body (defaults applied, members reordered, unknown members added) is 200 with the stored answer and nothing is pushed again', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = {
      callId,
      from: { number: '+1555', displayName: 'Bob' },
      devices: [inline(token)],
      metadata: { a: '1', b: '2' },
    };
    const first = await pbx.ring(body);
    expect(first.status).toBe(201);
    await t.sim.waitForPush(token);
    const retry = await pbx.ring({
      metadata: { b: '2', a: '1' },
      hasVideo: false,
      ringTimeoutSeconds: 60,
      devices: [{ pnParam: body.devices[0]!.pnParam, pnPrid: token, pnProvider: 'apns' }],
      from: { displayName: 'Bob', number: '+1555', extra: 1 },
      callId,
      foo: 'bar',
    });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('the same body after the call was answered is still 200 with the stored answer', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+1555' }, devices: [inline(token)] };
    const first = await pbx.ring(body);
    await t.app.answer(callId, callTokenOf(t, token, callId));
    const retry = await pbx.ring(body);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('the same body past the ring timeout (expired) is still 200 with the stored answer', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+1555' }, devices: [inline(token)], ringTimeoutSeconds: 5 };
    const first = await pbx.ring(body);
    t.clock.advance(10_000);
    const retry = await pbx.ring(body);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('another body is 409 call_id_conflict, pushes nothing and changes nothing', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    await pbx.ring({ callId, from: { number: '+1555' }, devices: [inline(token)] });
    for (const other of [
      { callId, from: { number: '+1556' }, devices: [inline(token)] },
      { callId, from: { number: '+1555' }, devices: [inline(token)], ringTimeoutSeconds: 61 },
      { callId, from: { number: '+1555' }, devices: [inline(token)], hasVideo: true },
      { callId, from: { number: '+1555' }, devices: [inline(token)], metadata: { a: 'b' } },
      { callId, from: { number: '+1555', displayName: 'x' }, devices: [inline(token)] },
    ]) {
      const r = await writesNothing(t, () => pbx.ring(other));
      expectProblem(r, 409, 'call_id_conflict');
    }
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('a cancel before the create leaves a tombstone: the late create is 410 call_ended and pushes nothing', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const c = await pbx.cancel(callId);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({
      callId,
      callUuid: callUuidOf('acme', callId),
      status: 'cancelled',
      endReason: 'remoteEnded',
    });
    const r = await writesNothing(t, () => pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] }));
    expectProblem(r, 410, 'call_ended');
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });

  it('a cancelled call re-created, with the same body or another, is 410 (cancelled comes before 409)', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+1' }, devices: [inline(token)] };
    await pbx.ring(body);
    await pbx.cancel(callId);
    expectProblem(await pbx.ring(body), 410, 'call_ended');
    expectProblem(await pbx.ring({ ...body, ringTimeoutSeconds: 9 }), 410, 'call_ended');
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('a tombstone lives one hour: after it the callId is unknown again and a create is 201', async () => {
    const callId = uniqueCallId();
    await pbx.cancel(callId);
    t.clock.advance(59 * 60_000);
    expectProblem(await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(newToken())] }), 410, 'call_ended');
    t.clock.advance(2 * 60_000);
    const r = await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(newToken())] });
    expect(r.status).toBe(201);
    expect(r.body.callUuid).toBe(callUuidOf('acme', callId));
  });
});

describe('a slow or broken APNs', () => {
  it('the webhook answers within the push deadline + 1 s with reason Timeout when APNs never answers', async () => {
    const [slow, fast] = [newToken(), newToken()];
    t.sim.injectFault({ token: slow, delayMs: 10_000, times: 50 }); // every retry stalls too
    const r = await pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(slow), inline(fast)] });
    expect(r.ms).toBeLessThan(3000 + 1000);
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('ringing');
    expect(r.body.deliveries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ result: 'failed', reason: 'Timeout' }),
        expect.objectContaining({ result: 'sent' }),
      ]),
    );
  });

  it('a connection that keeps dying: ConnectionError (or Timeout) within the deadline + 1 s, unreachable', async () => {
    const token = newToken();
    t.sim.injectFault({ token, dropConnection: true, times: 1000 });
    const r = await pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(token)] });
    expect(r.ms).toBeLessThan(3000 + 1000);
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('unreachable');
    expect(['ConnectionError', 'Timeout']).toContain(r.body.deliveries[0].reason);
  });

  it('a retried create while the first is still pushing waits for its answer and pushes nothing itself', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+1' }, devices: [inline(token)] };
    t.sim.injectFault({ token, delayMs: 1000 });
    const first = pbx.ring(body);
    await new Promise((r) => setTimeout(r, 200));
    const second = await pbx.ring(body);
    const firstR = await first;
    expect([firstR.status, second.status].sort()).toEqual([200, 201]);
    expect(second.body).toEqual(firstR.body);
    expect(second.body.deliveries).toEqual([expect.objectContaining({ result: 'sent' })]);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });
});

describe('POST /v1/pbx/calls/{callId}/cancel', () => {
  it.each([
    ['caller_hangup', 'remoteEnded'],
    ['answered_elsewhere', 'answeredElsewhere'],
    ['declined_elsewhere', 'declinedElsewhere'],
    ['timeout', 'unanswered'],
    ['error', 'failed'],
  ])('reason %s ends a ringing call as cancelled/%s, for the PBX and the app', async (reason, endReason) => {
    const token = newToken();
    const callId = uniqueCallId();
    await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
    const c = await pbx.cancel(callId, reason);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ callId, status: 'cancelled', endReason, answeredBy: null });
    expect(Object.keys(c.body).sort()).toEqual([
      'answeredBy',
      'callId',
      'callUuid',
      'createdAt',
      'declinedBy',
      'devices',
      'endReason',
      'expiresAt',
      'status',
    ]);
    expect(c.body.devices).toEqual([expect.objectContaining({ deviceId: expect.any(String), delivery: 'sent' })]);
    expect((await pbx.view(callId)).body).toMatchObject({ status: 'cancelled', endReason });
    const tk = callTokenOf(t, token, callId);
    expect((await t.app.confirm(callId, tk)).body).toMatchObject({ status: 'ended', endReason });
    expect((await t.app.view(callId, tk)).body).toMatchObject({ status: 'ended', endReason });
    // no push of any kind for the cancel
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('no body is caller_hangup → remoteEnded', async () => {
    const callId = uniqueCallId();
    await ringInline(newToken(), { callId });
    const c = await pbx.cancel(callId);
    expect(c.body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
  });

  it('an answered call can be cancelled: answeredBy stays and the answering device’s view turns ended', async () => {
    const user = newUser();
    const [a, b] = [newToken(), newToken()];
    await pbx.putDevice(user, 'a', deviceBody(a));
    await pbx.putDevice(user, 'b', deviceBody(b));
    const callId = uniqueCallId();
    await pbx.ring({ callId, from: { number: '+1' }, to: { userId: user } });
    const ta = callTokenOf(t, a, callId);
    const tb = callTokenOf(t, b, callId);
    expect((await t.app.answer(callId, ta)).body.status).toBe('answered');
    const c = await pbx.cancel(callId, 'error');
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: 'cancelled', endReason: 'failed', answeredBy: 'a' });
    const va = await t.app.view(callId, ta);
    expect(va.body).toMatchObject({ status: 'ended', endReason: 'failed' });
    const vb = await t.app.view(callId, tb);
    expect(vb.body).toMatchObject({ status: 'ended' });
    const v = await pbx.view(callId);
    expect(v.body).toMatchObject({ status: 'cancelled', endReason: 'failed', answeredBy: 'a' });
    expect(v.body.devices.find((d: any) => d.deviceId === 'a').answeredAt).toMatch(ISO_UTC);
  });

  it('a call that already ended keeps its state: declined, cancelled, expired, unreachable', async () => {
    // declined
    const d = newToken();
    const declined = uniqueCallId();
    await pbx.ring({ callId: declined, from: { number: '+1' }, devices: [inline(d)] });
    await t.app.decline(declined, callTokenOf(t, d, declined));
    const c1 = await pbx.cancel(declined, 'timeout');
    expect(c1.status).toBe(200);
    expect(c1.body).toMatchObject({ status: 'declined', endReason: null });
    expect((await t.app.view(declined, callTokenOf(t, d, declined))).body.status).toBe('declined');
    // cancelled twice: the first reason stays
    const cancelled = uniqueCallId();
    await ringInline(newToken(), { callId: cancelled });
    await pbx.cancel(cancelled, 'answered_elsewhere');
    const c2 = await pbx.cancel(cancelled, 'error');
    expect(c2.body).toMatchObject({ status: 'cancelled', endReason: 'answeredElsewhere' });
    // unreachable
    const u = newToken();
    t.sim.markUnregistered(u);
    const unreachable = uniqueCallId();
    await pbx.ring({ callId: unreachable, from: { number: '+1' }, devices: [inline(u)] });
    const c3 = await pbx.cancel(unreachable);
    expect(c3.body).toMatchObject({ status: 'unreachable', endReason: 'failed' });
    // expired
    const e = newToken();
    const expired = uniqueCallId();
    await pbx.ring({ callId: expired, from: { number: '+1' }, devices: [inline(e)], ringTimeoutSeconds: 5 });
    t.clock.advance(6_000);
    const c4 = await pbx.cancel(expired);
    expect(c4.body).toMatchObject({ status: 'expired', endReason: 'unanswered' });
    expect((await t.app.view(expired, callTokenOf(t, e, expired))).body).toMatchObject({
      status: 'ended',
      endReason: 'unanswered',
    });
  });

  it('a tombstone’s PBX view and a second cancel of it', async () => {
    const callId = uniqueCallId();
    const c1 = await pbx.cancel(callId, 'timeout');
    expect(c1.body).toMatchObject({
      callId,
      status: 'cancelled',
      endReason: 'unanswered',
      answeredBy: null,
      declinedBy: null,
      devices: [],
    });
    const c2 = await pbx.cancel(callId, 'error');
    expect(c2.status).toBe(200);
    expect(c2.body).toMatchObject({ status: 'cancelled', endReason: 'unanswered' });
  });
});

describe('GET /v1/pbx/calls/{callId}', () => {
  it('the PBX view has the contract’s shape', async () => {
    const user = newUser();
    const token = newToken();
    await pbx.putDevice(user, 'p1', deviceBody(token));
    const callId = uniqueCallId();
    const r = await pbx.ring({ callId, from: { number: '+1' }, to: { userId: user } });
    const v = await pbx.view(callId);
    expect(v.status).toBe(200);
    expect(v.body).toEqual({
      callId,
      callUuid: callUuidOf('acme', callId),
      status: 'ringing',
      endReason: null,
      createdAt: r.body.createdAt,
      expiresAt: r.body.expiresAt,
      answeredBy: null,
      declinedBy: null,
      devices: [{ deviceId: 'p1', delivery: 'sent', confirmedAt: null, answeredAt: null, declinedAt: null }],
    });
    const tk = callTokenOf(t, token, callId);
    await t.app.confirm(callId, tk);
    await t.app.decline(callId, tk);
    const after = await pbx.view(callId);
    expect(after.body).toMatchObject({ status: 'declined', endReason: null, declinedBy: 'p1', answeredBy: null });
    expect(after.body.devices[0].confirmedAt).toMatch(ISO_UTC);
    expect(after.body.devices[0].declinedAt).toMatch(ISO_UTC);
  });

  it('404 call_not_found for an unknown callId', async () => {
    expectProblem(await pbx.view(uniqueCallId()), 404, 'call_not_found');
  });

  it('past its ring timeout a ringing call is expired/unanswered (app: ended/unanswered), without DynamoDB deleting anything', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)], ringTimeoutSeconds: 20 });
    t.clock.advance(19_000);
    expect((await pbx.view(callId)).body.status).toBe('ringing');
    t.clock.advance(2_000);
    expect((await pbx.view(callId)).body).toMatchObject({ status: 'expired', endReason: 'unanswered' });
    const tk = callTokenOf(t, token, callId);
    expect((await t.app.view(callId, tk)).body).toMatchObject({ status: 'ended', endReason: 'unanswered' });
    const ans = await t.app.answer(callId, tk);
    expectProblem(ans, 409, 'call_ended');
    expect(ans.body.call).toMatchObject({ status: 'ended', endReason: 'unanswered' });
  });

  it('past its lifetime (ring timeout + 1 h) the call is 404, and a create with the same callId is 201 again', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+1' }, devices: [inline(token)], ringTimeoutSeconds: 10 };
    await pbx.ring(body);
    const tk = callTokenOf(t, token, callId);
    t.clock.advance(10_000 + 3600_000 - 5_000);
    expect((await pbx.view(callId)).body.status).toBe('expired');
    expect((await t.app.view(callId, tk)).status).toBe(200);
    t.clock.advance(10_000);
    expectProblem(await pbx.view(callId), 404, 'call_not_found');
    const gone = await t.app.view(callId, tk);
    expectProblem(gone, 410, 'call_ended');
    const again = await pbx.ring(body);
    expect(again.status).toBe(201);
    expect(again.body.callUuid).toBe(callUuidOf('acme', callId));
  });

  it('an answered call stays answered past its ring timeout', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)], ringTimeoutSeconds: 5 });
    await t.app.answer(callId, callTokenOf(t, token, callId));
    t.clock.advance(60_000);
    expect((await pbx.view(callId)).body).toMatchObject({ status: 'answered', endReason: null });
    expect((await t.app.view(callId, callTokenOf(t, token, callId))).body).toMatchObject({
      status: 'answered',
      endReason: null,
    });
  });
});
