import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Reply } from '../../local/clients.js';
import {
  callTokenOf,
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

let users = 0;
const newUser = () => `race-${Date.now().toString(36)}-${users++}`;

async function userWith(n: number): Promise<{ user: string; pushTokens: string[] }> {
  const user = newUser();
  const pushTokens = Array.from({ length: n }, () => newToken());
  for (const [i, tk] of pushTokens.entries())
    expect((await t.pbx.putDevice(user, `d${i}`, deviceBody(tk))).status).toBe(201);
  return { user, pushTokens };
}

const statuses = (rs: Reply[]) => rs.map((r) => r.status).sort((a, b) => a - b);

describe('concurrent answers', () => {
  it('20 devices answering at once: exactly one 200, nineteen 409 answeredElsewhere (5 rounds)', async () => {
    const { user, pushTokens } = await userWith(20);
    for (let round = 0; round < 5; round++) {
      const callId = uniqueCallId();
      const r = await t.pbx.ring({ callId, from: { number: '+1' }, to: { userId: user } });
      expect(r.body.deliveries.filter((d: any) => d.result === 'sent')).toHaveLength(20);
      const tokens = pushTokens.map((tk) => callTokenOf(t, tk, callId));
      const answers = await Promise.all(tokens.map((tk) => t.app.answer(callId, tk)));
      const winners = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(statuses(answers)).toEqual([200, ...Array(19).fill(409)]);
      for (const a of answers) {
        if (a.status === 409) {
          expectProblem(a, 409, 'call_ended');
          expect(a.body.call).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
        } else expect(a.body.status).toBe('answered');
      }
      const view = (await t.pbx.view(callId)).body;
      expect(view).toMatchObject({ status: 'answered', answeredBy: `d${winners[0]}` });
      expect(view.devices.filter((d: any) => d.answeredAt !== null)).toHaveLength(1);
    }
  });

  it('the same device answering five times at once: all 200', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    await t.pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
    const tk = callTokenOf(t, token, callId);
    const rs = await Promise.all(Array.from({ length: 5 }, () => t.app.answer(callId, tk)));
    expect(statuses(rs)).toEqual([200, 200, 200, 200, 200]);
  });
});

describe('answers, a decline and a cancel interleaved', () => {
  it('one final state that the PBX view and every app view agree on (10 rounds)', async () => {
    const { user, pushTokens } = await userWith(4);
    const outcomes = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const callId = uniqueCallId();
      await t.pbx.ring({ callId, from: { number: '+1' }, to: { userId: user } });
      const tokens = pushTokens.map((tk) => callTokenOf(t, tk, callId));
      const jitter = () => new Promise((r) => setTimeout(r, Math.random() * 15));
      const [a0, a1, d2, cancel, c3] = await Promise.all([
        jitter().then(() => t.app.answer(callId, tokens[0]!)),
        jitter().then(() => t.app.answer(callId, tokens[1]!)),
        jitter().then(() => t.app.decline(callId, tokens[2]!)),
        jitter().then(() => t.pbx.cancel(callId)),
        jitter().then(() => t.app.confirm(callId, tokens[3]!)),
      ]);
      expect(cancel.status).toBe(200);
      expect(c3.status).toBe(200);
      for (const r of [a0!, a1!, d2!]) {
        expect([200, 409]).toContain(r.status);
        if (r.status === 409) expect(r.body.call.status).toBe('ended');
      }
      const wins = [a0!, a1!, d2!].filter((r) => r.status === 200);
      expect(wins.length).toBeLessThanOrEqual(1);
      const final = (await t.pbx.view(callId)).body;
      const apps = await Promise.all(tokens.map((tk) => t.app.view(callId, tk)));
      const appStates = apps.map((a) => `${a.body.status}/${a.body.endReason}`);

      if (a0!.status === 200 || a1!.status === 200) {
        const winner = a0!.status === 200 ? 'd0' : 'd1';
        // the cancel came after the answer (never the other way round): cancelled, answeredBy stays
        expect(final).toMatchObject({
          status: 'cancelled',
          endReason: 'remoteEnded',
          answeredBy: winner,
          declinedBy: null,
        });
        expect(cancel.body).toMatchObject({ status: 'cancelled', answeredBy: winner });
        expect(appStates).toEqual(Array(4).fill('ended/remoteEnded'));
        outcomes.add('answered-then-cancelled');
      } else if (d2!.status === 200) {
        expect(final).toMatchObject({ status: 'declined', endReason: null, declinedBy: 'd2', answeredBy: null });
        expect(cancel.body).toMatchObject({ status: 'declined', declinedBy: 'd2' });
        expect(appStates).toEqual([
          'ended/declinedElsewhere',
          'ended/declinedElsewhere',
          'declined/null',
          'ended/declinedElsewhere',
        ]);
        outcomes.add('declined');
      } else {
        expect(final).toMatchObject({
          status: 'cancelled',
          endReason: 'remoteEnded',
          answeredBy: null,
          declinedBy: null,
        });
        expect(cancel.body).toMatchObject({ status: 'cancelled', answeredBy: null });
        expect(appStates).toEqual(Array(4).fill('ended/remoteEnded'));
        outcomes.add('cancelled');
      }
      // once more, later: nothing moved
      expect((await t.pbx.view(callId)).body).toEqual(final);
    }
    expect(outcomes.size).toBeGreaterThanOrEqual(1);
  });

  it('a cancel racing an answer: an answer is never won after the cancel (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      const token = newToken();
      const callId = uniqueCallId();
      await t.pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
      const tk = callTokenOf(t, token, callId);
      const [cancel, answer] = await Promise.all([
        t.pbx.cancel(callId, 'answered_elsewhere'),
        t.app.answer(callId, tk),
      ]);
      const final = (await t.pbx.view(callId)).body;
      expect(final).toMatchObject({ status: 'cancelled', endReason: 'answeredElsewhere' });
      if (answer.status === 200) {
        expect(final.answeredBy).not.toBeNull();
        expect(cancel.body.answeredBy).toBe(final.answeredBy);
      } else {
        expectProblem(answer, 409, 'call_ended');
        expect(answer.body.call).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
        expect(final.answeredBy).toBeNull();
      }
      expect((await t.app.view(callId, tk)).body).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
    }
  });
});

describe('concurrent creates', () => {
  it('50 identical creates at once: one 201, forty-nine 200 with the same answer, one push per device (5 rounds)', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b] = [newToken(), newToken()];
      const callId = uniqueCallId();
      const body = { callId, from: { number: '+15551230000' }, devices: [inline(a), inline(b)] };
      const rs = await Promise.all(Array.from({ length: 50 }, () => t.pbx.ring(body)));
      expect(statuses(rs)).toEqual([...Array(49).fill(200), 201]);
      const first = rs.find((r) => r.status === 201)!;
      expect(first.body.status).toBe('ringing');
      for (const r of rs) expect(r.body).toEqual(first.body);
      expect(pushesForCall(t, a, callId)).toHaveLength(1);
      expect(pushesForCall(t, b, callId)).toHaveLength(1);
    }
  });

  it('10 creates of one callId with different bodies at once: one 201, nine 409', async () => {
    const callId = uniqueCallId();
    const tokens = Array.from({ length: 10 }, () => newToken());
    const rs = await Promise.all(
      tokens.map((tk, i) => t.pbx.ring({ callId, from: { number: `+1555000${i}` }, devices: [inline(tk)] })),
    );
    expect(statuses(rs)).toEqual([201, ...Array(9).fill(409)]);
    for (const r of rs) if (r.status === 409) expectProblem(r, 409, 'call_id_conflict');
    expect(tokens.filter((tk) => t.sim.pushesFor(tk).length > 0)).toHaveLength(1);
  });

  it('a create racing a cancel of the same callId ends cancelled either way (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      const token = newToken();
      const callId = uniqueCallId();
      const [create, cancel] = await Promise.all([
        t.pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] }),
        new Promise((r) => setTimeout(r, Math.random() * 10)).then(() => t.pbx.cancel(callId)),
      ]);
      expect(cancel.status).toBe(200);
      expect(cancel.body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
      if (create.status === 201) {
        expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
        const pushes = pushesForCall(t, token, callId);
        if (pushes.length > 0) {
          const tk = (pushes[0]!.payload as any).callwake.token;
          expect((await t.app.view(callId, tk)).body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
          expectProblem(await t.app.answer(callId, tk), 409, 'call_ended');
        }
      } else {
        expectProblem(create, 410, 'call_ended');
        expect(t.sim.pushesFor(token)).toHaveLength(0);
      }
      // a later create of the same body is 410 in both cases
      expectProblem(await t.pbx.ring({ callId, from: { number: '+1' }, devices: [inline(token)] }), 410, 'call_ended');
    }
  });
});

describe('concurrent device registrations', () => {
  it('20 different devices registered at once for one user (exactly the limit): all 201, no 5xx (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const user = newUser();
      const rs = await Promise.all(
        Array.from({ length: 20 }, (_, i) => t.pbx.putDevice(user, `c${i}`, deviceBody(newToken()))),
      );
      expect({
        round,
        statuses: statuses(rs),
        codes: rs.filter((r) => r.status >= 500).map((r) => r.body?.code),
      }).toEqual({
        round,
        statuses: Array(20).fill(201),
        codes: [],
      });
      expect((await t.pbx.listDevices(user)).body.devices).toHaveLength(20);
    }
  });

  it('25 different devices registered at once for one user: 20 get 201, 5 get 409 too_many_devices, no 5xx (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const user = newUser();
      const rs = await Promise.all(
        Array.from({ length: 25 }, (_, i) => t.pbx.putDevice(user, `c${i}`, deviceBody(newToken()))),
      );
      expect({
        round,
        statuses: statuses(rs),
        codes: rs.filter((r) => r.status >= 500).map((r) => r.body?.code),
      }).toEqual({
        round,
        statuses: [...Array(20).fill(201), ...Array(5).fill(409)],
        codes: [],
      });
      for (const r of rs) if (r.status === 409) expectProblem(r, 409, 'too_many_devices');
      expect((await t.pbx.listDevices(user)).body.devices).toHaveLength(20);
    }
  });

  it('one push token registered under 6 deviceIds at once: exactly one device holds it afterwards', async () => {
    const [u1, u2] = [newUser(), newUser()];
    const token = newToken();
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => t.pbx.putDevice(i % 2 ? u1 : u2, `r${i}`, deviceBody(token))),
    );
    for (const r of rs) expect(r.status).toBe(201);
    const all = [...(await t.pbx.listDevices(u1)).body.devices, ...(await t.pbx.listDevices(u2)).body.devices];
    expect(all).toHaveLength(1);
    expect(all[0].tokenSuffix).toBe(token.slice(-8));
  });
});
