import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  deviceBody,
  expectProblem,
  expectValidation,
  ISO_UTC,
  inline,
  newToken,
  uniqueCallId,
  writesNothing,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * User settings (Apple's advice 3: the block list lives on the server): what is stored, what is
 * refused, and what a create does for a blocked caller or under Do Not Disturb.
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ events: {} });
});
afterAll(async () => t.stop());

let users = 0;
const newUser = () => `settings-user-${++users}-${Date.now()}`;
const DEFAULTS = {
  blockedCallers: [],
  doNotDisturb: { enabled: false, until: null, allowedCallers: [] },
  missedCallPush: true,
};

async function userWithPhone() {
  const user = newUser();
  const token = newToken();
  expect((await t.pbx.putDevice(user, 'phone', deviceBody(token))).status).toBe(201);
  return { user, token };
}

const ring = (user: string, from: Record<string, string>, extra: Record<string, unknown> = {}) =>
  t.pbx.ring({ callId: uniqueCallId(), from, to: { userId: user }, ...extra });

describe('the settings resource', () => {
  it('GET gives the defaults when never set, for a user with or without devices', async () => {
    const r = await t.pbx.getSettings(newUser());
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ...DEFAULTS, updatedAt: null });
    const { user } = await userWithPhone();
    expect((await t.pbx.getSettings(user)).body).toEqual({ ...DEFAULTS, updatedAt: null });
  });

  it('PUT replaces the whole document (absent members take their defaults) and answers it as stored', async () => {
    const user = newUser();
    const first = await t.pbx.putSettings(user, {
      blockedCallers: ['+15550001111', 'sip:spam@example.com'],
      doNotDisturb: { enabled: true, until: '2030-01-02T03:04:05+02:00', allowedCallers: ['+15551230000'] },
      missedCallPush: false,
      unknownMember: 'ignored',
    });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      blockedCallers: ['+15550001111', 'sip:spam@example.com'],
      doNotDisturb: { enabled: true, until: '2030-01-02T01:04:05.000Z', allowedCallers: ['+15551230000'] },
      missedCallPush: false,
      updatedAt: expect.stringMatching(ISO_UTC),
    });
    expect((await t.pbx.getSettings(user)).body).toEqual(first.body);
    for (const until of ['2030-01-02T03:04Z', '2028-02-29T23:59:59.123456789+14:00', '2030-12-31T00:00:00-12:00']) {
      const r = await t.pbx.putSettings(user, { doNotDisturb: { until } });
      expect({ until, status: r.status, stored: r.body.doNotDisturb.until }).toEqual({
        until,
        status: 200,
        stored: new Date(Date.parse(until)).toISOString(),
      });
    }
    // An offset can take a valid time past the four-digit years: kept as the nearest end, answered
    // as ISO 8601 (a bare Date would answer `+010000-01-01T…` and `-000001-12-31T…`).
    for (const [until, stored] of [
      ['9999-12-31T23:59:59.999-23:59', '9999-12-31T23:59:59.999Z'],
      ['9999-12-31T23:59-01:00', '9999-12-31T23:59:59.999Z'],
      ['0000-01-01T00:00+01:00', '0000-01-01T00:00:00.000Z'],
    ]) {
      const r = await t.pbx.putSettings(user, { doNotDisturb: { until } });
      expect({ until, status: r.status, stored: r.body.doNotDisturb.until }).toEqual({ until, status: 200, stored });
    }
    const second = await t.pbx.putSettings(user, { blockedCallers: ['+1'], doNotDisturb: { until: null } });
    expect(second.body).toEqual({ ...DEFAULTS, blockedCallers: ['+1'], updatedAt: expect.stringMatching(ISO_UTC) });
    expect((await t.pbx.putSettings(user, {})).body).toEqual({ ...DEFAULTS, updatedAt: expect.any(String) });
  });

  it('settings and devices live side by side: changing one keeps the other', async () => {
    const { user, token } = await userWithPhone();
    await t.pbx.putSettings(user, { blockedCallers: ['+1999'] });
    expect((await t.pbx.putDevice(user, 'pad', deviceBody(newToken()))).status).toBe(201);
    expect((await t.pbx.getSettings(user)).body.blockedCallers).toEqual(['+1999']);
    await t.pbx.putSettings(user, { missedCallPush: false });
    const list = await t.pbx.listDevices(user);
    expect(list.body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['pad', 'phone']);
    expect(list.body.devices[1].tokenSuffix).toBe(token.slice(-8));
  });

  it.each([
    [
      'more than 1000 blocked callers',
      { blockedCallers: Array.from({ length: 1001 }, (_, i) => `+${i}`) },
      'blockedCallers',
    ],
    ['an entry over 512 characters', { blockedCallers: [`sip:${'a'.repeat(510)}`] }, 'blockedCallers.0'],
    ['an empty entry', { doNotDisturb: { allowedCallers: [''] } }, 'doNotDisturb.allowedCallers.0'],
    [
      'more than 1000 allowed callers',
      { doNotDisturb: { allowedCallers: Array.from({ length: 1001 }, () => '+1') } },
      'allowedCallers',
    ],
    ['until not a time', { doNotDisturb: { enabled: true, until: 'tomorrow' } }, 'doNotDisturb.until'],
    ['until a date only', { doNotDisturb: { enabled: true, until: '2030-01-02' } }, 'doNotDisturb.until'],
    [
      'until without its offset',
      { doNotDisturb: { enabled: true, until: '2030-01-02T03:04:05' } },
      'doNotDisturb.until',
    ],
    ['until a number', { doNotDisturb: { enabled: true, until: 1893456000000 } }, 'doNotDisturb.until'],
    ['until a day that does not exist', { doNotDisturb: { until: '2026-02-30T00:00:00Z' } }, 'doNotDisturb.until'],
    ['until an hour that does not exist', { doNotDisturb: { until: '2026-02-03T24:30:00Z' } }, 'doNotDisturb.until'],
    ['a list that is not a list', { blockedCallers: '+1555' }, 'blockedCallers'],
    ['enabled not a boolean', { doNotDisturb: { enabled: 'yes' } }, 'doNotDisturb.enabled'],
    ['missedCallPush not a boolean', { missedCallPush: 1 }, 'missedCallPush'],
  ])('refuses %s: 400 validation_failed, nothing stored', async (_what, body, path) => {
    const user = newUser();
    const r = await writesNothing(t, () => t.pbx.putSettings(user, body));
    expectValidation(r, path);
  });

  it('a body over 16 KiB (say 1000 long entries) is 413, nothing stored', async () => {
    const user = newUser();
    const r = await writesNothing(t, () =>
      t.pbx.putSettings(user, {
        blockedCallers: Array.from({ length: 1000 }, (_, i) => `sip:${i}@${'x'.repeat(400)}`),
      }),
    );
    expectProblem(r, 413, 'payload_too_large');
  });
});

describe('a create refused by the settings', () => {
  it('a blocked caller (by number or by uri): 201 rejected/blocked, no push to any device, inline ones included', async () => {
    const { user, token } = await userWithPhone();
    await t.pbx.putSettings(user, { blockedCallers: ['+15550001111', 'sip:spam@example.com'] });
    const inlineToken = newToken();
    for (const from of [{ number: '+15550001111' }, { number: '+1999', uri: 'sip:spam@example.com' }] as Record<
      string,
      string
    >[]) {
      const pushesBefore = t.sim.received.length;
      const r = await ring(user, from, { devices: [inline(inlineToken)] });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        callId: expect.any(String),
        callUuid: expect.any(String),
        status: 'rejected',
        rejectReason: 'blocked',
        createdAt: expect.stringMatching(ISO_UTC),
        expiresAt: expect.stringMatching(ISO_UTC),
        deliveries: [],
      });
      await new Promise((r) => setTimeout(r, 150));
      expect(t.sim.received.length).toBe(pushesBefore);
      const view = await t.pbx.view(r.body.callId);
      expect(view.body).toMatchObject({ status: 'rejected', rejectReason: 'blocked', endReason: null, devices: [] });
    }
    expect(t.sim.pushesFor(token)).toEqual([]);
    expect(t.sim.pushesFor(inlineToken)).toEqual([]);
  });

  it('a retry of the same body answers 200 with the same answer; another body is 409; a cancel changes nothing', async () => {
    const { user } = await userWithPhone();
    await t.pbx.putSettings(user, { blockedCallers: ['+15550001111'] });
    const body = { callId: uniqueCallId(), from: { number: '+15550001111' }, to: { userId: user } };
    const first = await t.pbx.ring(body);
    const again = await t.pbx.ring(body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expectProblem(await t.pbx.ring({ ...body, hasVideo: true }), 409, 'call_id_conflict');
    const cancelled = await t.pbx.cancel(body.callId);
    expect(cancelled.body.status).toBe('rejected');
  });

  it('Do Not Disturb: on with no end or a future end rejects; a past end, off, or an allowed caller rings', async () => {
    const { user } = await userWithPhone();
    const dnd = (doNotDisturb: Record<string, unknown>) => t.pbx.putSettings(user, { doNotDisturb });
    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 1000).toISOString();
    const cases: [Record<string, unknown>, Record<string, string>, string][] = [
      [{ enabled: true }, { number: '+1555' }, 'rejected'],
      [{ enabled: true, until: null }, { number: '+1555' }, 'rejected'],
      [{ enabled: true, until: future }, { number: '+1555' }, 'rejected'],
      [{ enabled: true, until: past }, { number: '+1555' }, 'ringing'],
      [{ enabled: false, until: future }, { number: '+1555' }, 'ringing'],
      [{ enabled: true, allowedCallers: ['+1555'] }, { number: '+1555' }, 'ringing'],
      [
        { enabled: true, allowedCallers: ['sip:boss@example.com'] },
        { number: '+1', uri: 'sip:boss@example.com' },
        'ringing',
      ],
    ];
    for (const [setting, from, status] of cases) {
      await dnd(setting);
      const r = await ring(user, from);
      expect({ setting, status: r.body.status, reason: r.body.rejectReason }).toEqual({
        setting,
        status,
        reason: status === 'rejected' ? 'doNotDisturb' : undefined,
      });
    }
  });

  it('blocked wins over Do Not Disturb’s allowed callers', async () => {
    const { user } = await userWithPhone();
    await t.pbx.putSettings(user, {
      blockedCallers: ['+1555'],
      doNotDisturb: { enabled: true, allowedCallers: ['+1555'] },
    });
    expect((await ring(user, { number: '+1555' })).body.rejectReason).toBe('blocked');
  });

  it('settings never apply to a create without to.userId', async () => {
    const { user } = await userWithPhone();
    await t.pbx.putSettings(user, { blockedCallers: ['+1555'], doNotDisturb: { enabled: true } });
    const token = newToken();
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1555' }, devices: [inline(token)] });
    expect(r.body.status).toBe('ringing');
    await t.sim.waitForPush(token);
  });

  it('a rejected call is the event call.rejected #1 with its reason', async () => {
    const { user } = await userWithPhone();
    await t.pbx.putSettings(user, { doNotDisturb: { enabled: true } });
    const r = await ring(user, { number: '+1555' });
    const deadline = Date.now() + 5000;
    const events = () => t.stack.events!.publisher.events.filter((e) => e.callUuid === r.body.callUuid);
    while (events().length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
    expect(events()).toEqual([
      expect.objectContaining({
        type: 'call.rejected',
        sequence: 1,
        reason: 'doNotDisturb',
        call: expect.objectContaining({ status: 'rejected' }),
      }),
    ]);
  });
});
