import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createAppApi } from '../../functions/app-api/api.js';
import type { TokenKeyRing } from '../../functions/core/call-token.js';
import { createPbxApi } from '../../functions/pbx-api/api.js';
import { AppClient, PbxClient } from '../../local/clients.js';
import { createLocalServer } from '../../local/server.js';
import { newToken, uniqueCallId, VOIP_PARAM } from '../support/contract-helpers.js';
import { pushFor, startTestStack, type TestStack } from '../support/stack.js';

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
  const token = newToken();
  const callId = uniqueCallId();
  const r = await t.pbx.ring({
    callId,
    from: { number: '+15550001111' },
    devices: [{ pnProvider: 'apns', pnPrid: token, pnParam: VOIP_PARAM }],
  });
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

describe('a rotation that reaches pbx-api before app-api', () => {
  it('app-api re-reads its key ring when shown a token signed with a key it has not loaded, instead of answering 401', async () => {
    // Two containers' views of the secret: pbx-api already signs with k2, app-api still holds k1 only.
    const rotated: TokenKeyRing = { current: k2, all: [k2, k1] };
    let appRing: TokenKeyRing = { current: k1, all: [k1] };
    let rereads = 0;
    const pbxDeps = { ...t.stack.deps, tokenKeys: () => rotated };
    const appDeps = {
      ...t.stack.deps,
      tokenKeys: () => appRing,
      refreshTokenKeys: async () => {
        rereads++;
        appRing = rotated;
        return true;
      },
    };
    const server = createLocalServer({
      pbx: createPbxApi(async () => pbxDeps),
      app: createAppApi(async () => appDeps),
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const token = newToken();
      const callId = uniqueCallId();
      const ringReply = await new PbxClient(url, 'acme', t.secrets.acme[0]).ring({
        callId,
        from: { number: '+15550001111' },
        devices: [{ pnProvider: 'apns', pnPrid: token, pnParam: VOIP_PARAM }],
      });
      expect(ringReply.status).toBe(201);
      const callToken = (await pushFor(t.sim, token)).token as string;
      const confirm = await new AppClient(url).confirm(callId, callToken);
      expect(confirm.status).toBe(200);
      expect(rereads).toBe(1);
      // A forged token costs no re-read once the ring is current (the re-read is rate-limited in production).
      appDeps.refreshTokenKeys = async () => {
        rereads++;
        return false;
      };
      expect((await new AppClient(url).confirm(callId, `${callToken.slice(0, -2)}AA`)).status).toBe(401);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
