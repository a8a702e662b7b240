import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deviceBody, inline, newToken, signedRaw, uniqueCallId } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

describe('logs', () => {
  it('after whole flows (good and bad), no log line holds a phone number, SIP URI, push token, call token or tenant secret', async () => {
    const number = '+15559876543';
    const uri = 'sip:secret.caller@private.example.org';
    const user = 'logged-user';
    const [registered, pruned, inlineOk, inlineDead] = [newToken(), newToken(), newToken(), newToken()];
    await t.pbx.putDevice(user, 'phone', deviceBody(registered));
    await t.pbx.putDevice(user, 'doomed', deviceBody(pruned));
    // Bad in both environments (a registered token is tried in the other one before it is pruned).
    t.sim.injectFault({ token: pruned, status: 400, reason: 'BadDeviceToken', times: 2 });
    t.sim.markUnregistered(inlineDead);

    const callId = uniqueCallId();
    const body = {
      callId,
      from: { number, uri, displayName: 'Secret Caller' },
      to: { userId: user },
      devices: [inline(inlineOk), inline(inlineDead)],
    };
    expect((await t.pbx.ring(body)).status).toBe(201);
    expect((await t.pbx.ring(body)).status).toBe(200);
    expect((await t.pbx.ring({ ...body, hasVideo: true })).status).toBe(409);
    const callTokens = [registered, inlineOk, inlineDead].map(
      (tk) => (t.sim.pushesFor(tk)[0]!.payload as any).callwake.token as string,
    );
    expect(callTokens.every((ct) => typeof ct === 'string' && ct.length > 0)).toBe(true);

    await t.app.confirm(callId, callTokens[0]!);
    await t.app.answer(callId, callTokens[0]!);
    await t.app.answer(callId, callTokens[1]!);
    await t.app.decline(callId, callTokens[1]!);
    await t.app.view(uniqueCallId(), callTokens[0]!); // 403
    await t.app.view(callId, `${callTokens[0]!}x`); // 401
    await t.pbx.view(callId);
    await t.pbx.cancel(callId);

    // an unreachable call (only the uri), and bad requests that carry the secrets in their bodies
    const c2 = uniqueCallId();
    await t.pbx.ring({ callId: c2, from: { uri }, devices: [inline(inlineDead)] });
    await t.pbx.ring({ callId: c2, from: { number: `${number}${'9'.repeat(60)}` }, devices: [inline(inlineOk)] });
    await signedRaw(t, 'POST', '/v1/pbx/calls', `{"from":{"number":"${number}"`);
    await signedRaw(t, 'POST', '/v1/pbx/calls', JSON.stringify(body), { secret: 'wrong' });
    await t.pbx.putDevice(user, 'bad', deviceBody(`${registered}z`));
    await t.pbx.putDevice(user, 'phone2', deviceBody(registered)); // moves the token
    await t.pbx.listDevices(user);
    // contention on one user's registry (may end in server errors: those are logged too)
    const crowd = Array.from({ length: 20 }, () => newToken());
    await Promise.all(crowd.map((tk, i) => t.pbx.putDevice('crowded', `c${i}`, deviceBody(tk))));
    await t.pbx.deleteDevice(user, 'phone2');
    t.clock.advance(2 * 3600_000);
    await t.app.answer(callId, callTokens[2]!); // 410
    t.clock.offsetMs = 0;

    const text = t.log.lines.join('\n');
    expect(t.log.lines.length).toBeGreaterThan(10);
    const forbidden: Record<string, string> = {
      number,
      numberDigits: number.slice(1),
      uri,
      uriUser: 'secret.caller',
      acmeSecret1: t.secrets.acme[0],
      acmeSecret2: t.secrets.acme[1],
      globexSecret: t.secrets.globex,
    };
    for (const [i, tk] of [registered, pruned, inlineOk, inlineDead].entries()) {
      forbidden[`pushToken${i}`] = tk;
      forbidden[`pushToken${i}Upper`] = tk.toUpperCase();
      forbidden[`pushToken${i}Head`] = tk.slice(0, 32);
    }
    crowd.forEach((tk, i) => {
      forbidden[`crowdToken${i}`] = tk;
    });
    callTokens.forEach((ct, i) => {
      forbidden[`callToken${i}`] = ct;
    });
    if (process.env.SHOW_LOGS) console.log(text);
    const leaks = Object.entries(forbidden)
      .filter(([, v]) => text.includes(v))
      .map(([k]) => k);
    expect(leaks).toEqual([]);
  });
});
