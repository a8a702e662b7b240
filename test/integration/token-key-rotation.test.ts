import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TokenKeyRing } from '../../functions/core/call-token.js';
import { newPushToken, pushFor, startTestStack, type TestStack, uniqueCallId } from '../support/stack.js';

/** The call-token signing key is rotated (as the Secrets Manager secret would be) while a call rings. */
const k1 = { kid: 'k1', secret: 'first-token-key-0123456789abcdef' };
const k2 = { kid: 'k2', secret: 'second-token-key-0123456789abcdef' };
let ring: TokenKeyRing = { current: k1, all: [k1] };
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({ tokenKeys: () => ring });
});
afterAll(async () => {
  await t?.stop();
});

const ringInline = async () => {
  const token = newPushToken();
  const callId = uniqueCallId();
  const r = await t.pbx.ring({ callId, from: { number: '+15550001111' }, devices: [{ pnProvider: 'apns', pnPrid: token, pnParam: 'LOCALTEAM1.com.example.phone.voip' }] });
  expect(r.status).toBe(201);
  return { callId, callToken: (await pushFor(t.sim, token)).token as string };
};

describe('rotating the call-token key', () => {
  it('keeps a ringing call working, signs new calls with the new key, and retires the old key when told', async () => {
    const before = await ringInline();
    ring = { current: k2, all: [k2, k1] }; // step 1: new current key, old one still verifies
    expect((await t.app.confirm(before.callId, before.callToken)).status).toBe(200);
    const after = await ringInline();
    expect(after.callToken).not.toBe(before.callToken);
    expect((await t.app.answer(after.callId, after.callToken)).status).toBe(200);

    ring = { current: k2, all: [k2] }; // step 2, once every call signed with k1 is past its lifetime
    const old = await t.app.view(before.callId, before.callToken);
    expect(old.status).toBe(401);
    expect(old.body.code).toBe('invalid_token');
    expect((await t.app.view(after.callId, after.callToken)).status).toBe(200);
  });
});
