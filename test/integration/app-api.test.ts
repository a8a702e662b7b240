import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Reply } from '../../local/clients.js';
import {
  ClockedPbx,
  callTokenOf,
  callUuidOf,
  deviceBody,
  expectProblem,
  ISO_UTC,
  inline,
  newToken,
  send,
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
  t.clock.offsetMs = 0;
});

let users = 0;
const newUser = () => `app-${Date.now().toString(36)}-${users++}`;

interface Rung {
  callId: string;
  tokens: Record<string, string>; // deviceId -> call token
}

/** Rings `n` registered devices (ids d0..dn-1) of a fresh user; returns each device's call token. */
async function ringDevices(n: number, extra: Record<string, unknown> = {}): Promise<Rung> {
  const user = newUser();
  const pushTokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const tk = newToken();
    pushTokens.push(tk);
    await pbx.putDevice(user, `d${i}`, deviceBody(tk));
  }
  const callId = uniqueCallId();
  const r = await pbx.ring({
    callId,
    from: { number: '+15551230000', displayName: 'Bob', uri: 'sip:bob@example.com' },
    to: { userId: user },
    metadata: { registrar: 'sip:pbx' },
    ...extra,
  });
  expect(r.status).toBe(201);
  const tokens: Record<string, string> = {};
  pushTokens.forEach((tk, i) => {
    tokens[`d${i}`] = callTokenOf(t, tk, callId);
  });
  return { callId, tokens };
}

const endedProblem = (r: Reply, status: 409 | 410, view: Record<string, unknown>) => {
  const body = expectProblem(r, status, 'call_ended');
  expect(body.call).toMatchObject(view);
  return body;
};

describe('app authentication', () => {
  let rung: Rung;
  beforeAll(async () => {
    rung = await ringDevices(1);
  });

  it('a genuine token works, and the Bearer scheme is case-insensitive', async () => {
    expect((await t.app.view(rung.callId, rung.tokens.d0!)).status).toBe(200);
    const r = await t.app.send('GET', `/v1/app/calls/${encodeURIComponent(rung.callId)}`, undefined, {
      headers: { authorization: `bearer ${rung.tokens.d0}` },
    });
    expect(r.status).toBe(200);
  });

  it('missing, malformed or forged tokens are 401 invalid_token, all the same answer, for every endpoint', async () => {
    const genuine = rung.tokens.d0!;
    const mid = Math.floor(genuine.length / 2);
    const at = genuine[mid] === '.' ? mid + 1 : mid;
    const flipped = genuine.slice(0, at) + (genuine[at] === 'A' ? 'B' : 'A') + genuine.slice(at + 1);
    const path = `/v1/app/calls/${encodeURIComponent(rung.callId)}`;
    const headerSets: Record<string, string>[] = [
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${genuine}` },
      { authorization: genuine },
      { authorization: `Bearer ${flipped}` },
      { authorization: `Bearer ${genuine.slice(0, -1)}` },
      { authorization: `Bearer ${genuine}x` },
      { authorization: `Bearer ${genuine} ${genuine}` },
      { authorization: `Bearer ${'a'.repeat(201)}` },
      { authorization: `Bearer ${genuine}${'A'.repeat(201 - genuine.length)}` },
      { authorization: 'Bearer not-a-token' },
      { authorization: `Bearer ${Buffer.from(genuine).toString('base64url')}` },
    ];
    const bodies: unknown[] = [];
    for (const headers of headerSets) {
      for (const [method, suffix] of [
        ['GET', ''],
        ['POST', '/confirm'],
        ['POST', '/answer'],
        ['POST', '/decline'],
      ] as const) {
        const r = await send(t, method, `${path}${suffix}`, headers);
        expectProblem(r, 401, 'invalid_token');
        bodies.push(r.body);
      }
    }
    for (const b of bodies) expect(b).toEqual(bodies[0]);
    // none of that changed the call
    expect((await t.app.view(rung.callId, genuine)).body.status).toBe('ringing');
  });

  it('a genuine token for another callId than the path is 403 token_scope', async () => {
    const other = await ringDevices(1);
    for (const action of ['view', 'confirm', 'answer', 'decline'] as const) {
      const r = await writesNothing(t, () => t.app[action](other.callId, rung.tokens.d0!));
      expectProblem(r, 403, 'token_scope');
    }
    expectProblem(await t.app.view(uniqueCallId(), rung.tokens.d0!), 403, 'token_scope');
    expect((await t.app.view(other.callId, other.tokens.d0!)).body.status).toBe('ringing');
  });
});

describe('the app view', () => {
  it('has the contract’s shape', async () => {
    const { callId, tokens } = await ringDevices(1, { hasVideo: true, ringTimeoutSeconds: 30 });
    const r = await t.app.view(callId, tokens.d0!);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      callId,
      callUuid: callUuidOf('acme', callId),
      status: 'ringing',
      endReason: null,
      caller: { number: '+15551230000', displayName: 'Bob', uri: 'sip:bob@example.com' },
      hasVideo: true,
      expiresAt: expect.stringMatching(ISO_UTC),
      metadata: { registrar: 'sip:pbx' },
      serverTime: expect.stringMatching(ISO_UTC),
    });
    // serverTime is the server's clock when it answered: the app measures its push's age with it.
    expect(Math.abs(Date.parse(r.body.serverTime) - t.clock.now())).toBeLessThan(5_000);
    const pbxView = await pbx.view(callId);
    expect(r.body.expiresAt).toBe(pbxView.body.expiresAt);
  });

  it('GET changes nothing', async () => {
    const { callId, tokens } = await ringDevices(1);
    await writesNothing(t, () => t.app.view(callId, tokens.d0!));
    expect((await pbx.view(callId)).body.devices[0].confirmedAt).toBeNull();
  });

  it('confirm records confirmedAt once: a second confirm keeps the first time', async () => {
    const { callId, tokens } = await ringDevices(2);
    const c1 = await t.app.confirm(callId, tokens.d0!);
    expect(c1.status).toBe(200);
    expect(c1.body).toMatchObject({ callId, status: 'ringing', endReason: null });
    const first = (await pbx.view(callId)).body.devices.find((d: any) => d.deviceId === 'd0').confirmedAt;
    expect(first).toMatch(ISO_UTC);
    t.clock.advance(3_000);
    expect((await t.app.confirm(callId, tokens.d0!)).status).toBe(200);
    const view = (await pbx.view(callId)).body;
    expect(view.devices.find((d: any) => d.deviceId === 'd0').confirmedAt).toBe(first);
    expect(view.devices.find((d: any) => d.deviceId === 'd1').confirmedAt).toBeNull();
  });

  it('confirm past the ring timeout says ended/unanswered', async () => {
    const { callId, tokens } = await ringDevices(1, { ringTimeoutSeconds: 5 });
    t.clock.advance(5_001);
    const r = await t.app.confirm(callId, tokens.d0!);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ended', endReason: 'unanswered' });
  });
});

describe('answer and decline', () => {
  it('answer: 200 answered, again 200 for the same device; another device 409 with ended/answeredElsewhere', async () => {
    const { callId, tokens } = await ringDevices(3);
    const a = await t.app.answer(callId, tokens.d1!);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ callId, status: 'answered', endReason: null });
    const answeredAt = (await pbx.view(callId)).body.devices.find((d: any) => d.deviceId === 'd1').answeredAt;
    t.clock.advance(2_000);
    const again = await t.app.answer(callId, tokens.d1!);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('answered');
    const lost = await t.app.answer(callId, tokens.d0!);
    endedProblem(lost, 409, { callId, status: 'ended', endReason: 'answeredElsewhere' });
    expect((await t.app.view(callId, tokens.d2!)).body).toMatchObject({
      status: 'ended',
      endReason: 'answeredElsewhere',
    });
    expect((await t.app.confirm(callId, tokens.d2!)).body).toMatchObject({
      status: 'ended',
      endReason: 'answeredElsewhere',
    });
    const v = (await pbx.view(callId)).body;
    expect(v).toMatchObject({ status: 'answered', endReason: null, answeredBy: 'd1', declinedBy: null });
    expect(v.devices.find((d: any) => d.deviceId === 'd1').answeredAt).toBe(answeredAt);
    expect(v.devices.find((d: any) => d.deviceId === 'd0').answeredAt).toBeNull();
  });

  it('decline: 200 declined, again 200; the call is declined for every device (declinedElsewhere)', async () => {
    const { callId, tokens } = await ringDevices(3);
    const d = await t.app.decline(callId, tokens.d0!);
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ status: 'declined', endReason: null });
    expect((await t.app.decline(callId, tokens.d0!)).status).toBe(200);
    for (const dev of ['d1', 'd2']) {
      expect((await t.app.view(callId, tokens[dev]!)).body).toMatchObject({
        status: 'ended',
        endReason: 'declinedElsewhere',
      });
    }
    expect((await pbx.view(callId)).body).toMatchObject({
      status: 'declined',
      endReason: null,
      declinedBy: 'd0',
      answeredBy: null,
    });
    // another device declining too is a 409 with the view
    endedProblem(await t.app.decline(callId, tokens.d1!), 409, { status: 'ended', endReason: 'declinedElsewhere' });
  });

  it('answer after a decline is 409 (for the decliner too)', async () => {
    const { callId, tokens } = await ringDevices(2);
    await t.app.decline(callId, tokens.d0!);
    endedProblem(await t.app.answer(callId, tokens.d1!), 409, { status: 'ended', endReason: 'declinedElsewhere' });
    const own = await t.app.answer(callId, tokens.d0!);
    expectProblem(own, 409, 'call_ended');
    expect(own.body.call).toMatchObject({ callId, status: 'declined' });
    expect((await pbx.view(callId)).body).toMatchObject({ status: 'declined', answeredBy: null });
  });

  it('decline after an answer is 409 (for the answerer too), and the call stays answered', async () => {
    const { callId, tokens } = await ringDevices(2);
    await t.app.answer(callId, tokens.d0!);
    endedProblem(await t.app.decline(callId, tokens.d1!), 409, { status: 'ended', endReason: 'answeredElsewhere' });
    const own = await t.app.decline(callId, tokens.d0!);
    expectProblem(own, 409, 'call_ended');
    expect(own.body.call).toMatchObject({ status: 'answered' });
    expect((await pbx.view(callId)).body).toMatchObject({ status: 'answered', answeredBy: 'd0', declinedBy: null });
  });

  it('answer or decline after a cancel is 409 with ended/remoteEnded', async () => {
    const { callId, tokens } = await ringDevices(2);
    await pbx.cancel(callId);
    endedProblem(await t.app.answer(callId, tokens.d0!), 409, { status: 'ended', endReason: 'remoteEnded' });
    endedProblem(await t.app.decline(callId, tokens.d1!), 409, { status: 'ended', endReason: 'remoteEnded' });
    expect((await pbx.view(callId)).body).toMatchObject({
      status: 'cancelled',
      endReason: 'remoteEnded',
      answeredBy: null,
      declinedBy: null,
    });
  });

  it('answer or decline past the ring timeout is 409 with ended/unanswered', async () => {
    const { callId, tokens } = await ringDevices(2, { ringTimeoutSeconds: 8 });
    t.clock.advance(8_500);
    endedProblem(await t.app.answer(callId, tokens.d0!), 409, { status: 'ended', endReason: 'unanswered' });
    endedProblem(await t.app.decline(callId, tokens.d1!), 409, { status: 'ended', endReason: 'unanswered' });
    expect((await pbx.view(callId)).body).toMatchObject({
      status: 'expired',
      endReason: 'unanswered',
      answeredBy: null,
    });
  });

  it('a device whose push failed can still use its token and sees the truth', async () => {
    const [ok, dead] = [newToken(), newToken()];
    t.sim.injectFault({ token: dead, status: 400, reason: 'BadCollapseId' });
    const callId = uniqueCallId();
    const r = await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(ok), inline(dead)] });
    expect(r.body.status).toBe('ringing');
    const deadToken = callTokenOf(t, dead, callId);
    expect((await t.app.view(callId, deadToken)).body).toMatchObject({ status: 'ringing' });
    await t.app.answer(callId, callTokenOf(t, ok, callId));
    endedProblem(await t.app.answer(callId, deadToken), 409, { status: 'ended', endReason: 'answeredElsewhere' });
  });
});

describe('a vanished call', () => {
  it('past the lifetime every endpoint is 410 call_ended with call = ended/unanswered, the callUuid, and nulls', async () => {
    const { callId, tokens } = await ringDevices(1, { ringTimeoutSeconds: 5 });
    t.clock.advance(5_000 + 3600_000 + 1_000);
    const expected = {
      callId,
      callUuid: callUuidOf('acme', callId),
      status: 'ended',
      endReason: 'unanswered',
      caller: null,
      hasVideo: null,
      expiresAt: null,
      metadata: null,
      serverTime: expect.stringMatching(ISO_UTC),
    };
    for (const action of ['view', 'confirm', 'answer', 'decline'] as const) {
      const r = await writesNothing(t, () => t.app[action](callId, tokens.d0!));
      const body = expectProblem(r, 410, 'call_ended');
      expect(body.call).toEqual(expected);
    }
  });

  it('an answered call that vanished is 410 too', async () => {
    const { callId, tokens } = await ringDevices(1, { ringTimeoutSeconds: 5 });
    await t.app.answer(callId, tokens.d0!);
    t.clock.advance(5_000 + 3600_000 + 1_000);
    endedProblem(await t.app.answer(callId, tokens.d0!), 410, {
      status: 'ended',
      endReason: 'unanswered',
      callUuid: callUuidOf('acme', callId),
    });
  });

  it('an old token stays 410 after the callId was used again for a new call', async () => {
    const { callId, tokens } = await ringDevices(1, { ringTimeoutSeconds: 5 });
    t.clock.advance(5_000 + 3600_000 + 1_000);
    const fresh = newToken();
    const again = await pbx.ring({ callId, from: { number: '+1' }, devices: [inline(fresh)] });
    expect(again.status).toBe(201);
    endedProblem(await t.app.answer(callId, tokens.d0!), 410, { status: 'ended', endReason: 'unanswered' });
    endedProblem(await t.app.view(callId, tokens.d0!), 410, { status: 'ended', endReason: 'unanswered' });
  });
});
