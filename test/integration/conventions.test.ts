import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  deviceBody,
  expectProblem,
  expectValidation,
  inline,
  newToken,
  send,
  signedRaw,
  uniqueCallId,
  writesNothing,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

const KIB16 = 16 * 1024;
const ringBody = (extra: Record<string, unknown> = {}) => ({
  callId: uniqueCallId(),
  from: { number: '+15551230000', displayName: 'Bob' },
  devices: [inline(newToken())],
  ...extra,
});
const ring = (body: unknown) => t.pbx.send('POST', '/v1/pbx/calls', body);

/** A JSON body padded with spaces to exactly `size` bytes. */
const padded = (value: unknown, size: number): Buffer => {
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json);
  if (bytes > size) throw new Error('too big already');
  return Buffer.from(json + ' '.repeat(size - bytes), 'utf8');
};

describe('413 payload_too_large comes first', () => {
  it('a body of exactly 16 KiB is accepted; one byte more is 413', async () => {
    const at = await signedRaw(t, 'POST', '/v1/pbx/calls', padded(ringBody(), KIB16));
    expect(at.status).toBe(201);
    const token = newToken();
    const over = await writesNothing(t, () =>
      signedRaw(t, 'POST', '/v1/pbx/calls', padded(ringBody({ devices: [inline(token)] }), KIB16 + 1)),
    );
    expectProblem(over, 413, 'payload_too_large');
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });

  it('413 even unsigned, with the wrong content type and invalid JSON', async () => {
    const body = Buffer.alloc(KIB16 + 100, 'x');
    expectProblem(
      await send(t, 'POST', '/v1/pbx/calls', { 'content-type': 'text/plain' }, body),
      413,
      'payload_too_large',
    );
    expectProblem(await send(t, 'POST', '/v1/pbx/nowhere', {}, body), 413, 'payload_too_large');
  });

  it('413 on the app API as well, before the token is looked at', async () => {
    const body = Buffer.alloc(20_000, '{');
    expectProblem(
      await send(t, 'POST', '/v1/app/calls/abc/confirm', { 'content-type': 'application/json' }, body),
      413,
      'payload_too_large',
    );
  });
});

describe('401 before 415, 415 before 400', () => {
  it('an unsigned request with a wrong content type and bad JSON is 401', async () => {
    const r = await signedRaw(t, 'POST', '/v1/pbx/calls', '{', { contentType: 'text/plain', secret: 'wrong' });
    expectProblem(r, 401, 'bad_signature');
  });

  it('an app request without a token and a wrong content type is 401 invalid_token', async () => {
    const r = await send(t, 'POST', '/v1/app/calls/abc/confirm', { 'content-type': 'text/plain' }, '{');
    expectProblem(r, 401, 'invalid_token');
  });

  it.each([
    ['text/plain'],
    ['application/json; charset=iso-8859-1'],
    ['application/json; charset=utf-16'],
    ['application/x-www-form-urlencoded'],
    ['application/jsonx'],
    [undefined],
  ])('content type %s is 415 unsupported_media_type and writes nothing', async (contentType) => {
    const token = newToken();
    const r = await writesNothing(t, () =>
      signedRaw(t, 'POST', '/v1/pbx/calls', JSON.stringify(ringBody({ devices: [inline(token)] })), { contentType }),
    );
    expectProblem(r, 415, 'unsupported_media_type');
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });

  it('415 comes before malformed JSON and before 404', async () => {
    expectProblem(
      await signedRaw(t, 'POST', '/v1/pbx/calls', '{not json', { contentType: 'text/plain' }),
      415,
      'unsupported_media_type',
    );
    expectProblem(
      await signedRaw(t, 'POST', '/v1/pbx/nowhere', '{}', { contentType: 'text/plain' }),
      415,
      'unsupported_media_type',
    );
  });

  it.each([
    ['application/json;charset=UTF-8'],
    ['application/json; charset="utf-8"'],
    ['Application/JSON'],
    ['application/json ; charset=utf-8'],
  ])('content type %s is accepted', async (contentType) => {
    const r = await signedRaw(t, 'POST', '/v1/pbx/calls', JSON.stringify(ringBody()), { contentType });
    expect(r.status).toBe(201);
  });

  it('the app API refuses a body of another media type with 415 (after the token is checked)', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    expect((await ring({ callId, from: { number: '+1' }, devices: [inline(token)] })).status).toBe(201);
    const callToken = (t.sim.pushesFor(token)[0]!.payload as any).callwake.token;
    const r = await send(
      t,
      'POST',
      `/v1/app/calls/${encodeURIComponent(callId)}/confirm`,
      { authorization: `Bearer ${callToken}`, 'content-type': 'text/plain' },
      'hello',
    );
    expectProblem(r, 415, 'unsupported_media_type');
  });
});

describe('400 malformed_json', () => {
  const invalidUtf8 = [
    Buffer.from([0x7b, 0xff, 0x7d]),
    Buffer.concat([Buffer.from('{"callId":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    Buffer.concat([Buffer.from('{"callId":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), // a UTF-16 surrogate
    Buffer.concat([Buffer.from('{"callId":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), // overlong "/"
  ];
  it.each(invalidUtf8.map((b) => [b.toString('hex'), b]))('invalid UTF-8 %s', async (_hex, body) => {
    expectProblem(
      await writesNothing(t, () => signedRaw(t, 'POST', '/v1/pbx/calls', body as Buffer)),
      400,
      'malformed_json',
    );
  });

  it.each([['{'], ['{"a":1,}'], ["{'a':1}"], ['nul'], ['{"callId": "x" "from": 1}'], ['[1,2'], ['\u0000']])(
    'bad JSON %j',
    async (text) => {
      expectProblem(await writesNothing(t, () => signedRaw(t, 'POST', '/v1/pbx/calls', text)), 400, 'malformed_json');
    },
  );

  it('an empty body where one is required (create, device PUT), with or without a content type', async () => {
    expectProblem(await signedRaw(t, 'POST', '/v1/pbx/calls', undefined), 400, 'malformed_json');
    expectProblem(
      await signedRaw(t, 'POST', '/v1/pbx/calls', undefined, { override: { 'content-type': 'application/json' } }),
      400,
      'malformed_json',
    );
    expectProblem(
      await writesNothing(t, () => signedRaw(t, 'PUT', '/v1/pbx/users/alice/devices/d1', undefined)),
      400,
      'malformed_json',
    );
  });

  it('malformed JSON comes before 404, 405 and validation', async () => {
    expectProblem(await signedRaw(t, 'POST', '/v1/pbx/nowhere', '{'), 400, 'malformed_json');
    expectProblem(await signedRaw(t, 'PUT', '/v1/pbx/calls', '{'), 400, 'malformed_json');
    expectProblem(
      await writesNothing(t, () => signedRaw(t, 'POST', '/v1/pbx/calls/a%2Fb/cancel', '{')),
      400,
      'malformed_json',
    );
  });
});

describe('404 not_found and 405 method_not_allowed', () => {
  it.each([
    ['GET', '/v1/pbx/nowhere'],
    ['POST', '/v1/pbx/nowhere'],
    ['GET', '/v1/pbx/calls/x/y/z'],
    ['GET', '/v1/pbx/users'],
    ['GET', '/v1/pbx/'],
    ['DELETE', '/v1/pbx/users/alice'],
  ])('signed %s %s is 404 not_found', async (method, path) => {
    expectProblem(await signedRaw(t, method, path, undefined), 404, 'not_found');
  });

  it('a path outside /v1/pbx and /v1/app is 404 not_found', async () => {
    expectProblem(await send(t, 'GET', '/v2/calls', {}), 404, 'not_found');
    expectProblem(await send(t, 'GET', '/', {}), 404, 'not_found');
  });

  it('an app path that is no route is 404 for a genuine token', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    await ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
    const callToken = (t.sim.pushesFor(token)[0]!.payload as any).callwake.token;
    const r = await t.app.send('GET', `/v1/app/calls/${encodeURIComponent(callId)}/nothing`, callToken);
    expectProblem(r, 404, 'not_found');
    const r405 = await t.app.send('PUT', `/v1/app/calls/${encodeURIComponent(callId)}/answer`, callToken);
    expectProblem(r405, 405, 'method_not_allowed');
    const r405b = await t.app.send('GET', `/v1/app/calls/${encodeURIComponent(callId)}/answer`, callToken);
    expectProblem(r405b, 405, 'method_not_allowed');
  });

  it.each([
    ['GET', '/v1/pbx/calls'],
    ['DELETE', '/v1/pbx/calls/abc'],
    ['PUT', '/v1/pbx/calls/abc'],
    ['GET', '/v1/pbx/calls/abc/cancel'],
    ['POST', '/v1/pbx/users/alice/devices'],
    ['GET', '/v1/pbx/users/alice/devices/d1'],
    ['PATCH', '/v1/pbx/users/alice/devices/d1'],
  ])('signed %s %s is 405 method_not_allowed', async (method, path) => {
    expectProblem(await writesNothing(t, () => signedRaw(t, method, path, undefined)), 405, 'method_not_allowed');
  });

  it('405 comes before validation of the path parameters', async () => {
    expectProblem(await signedRaw(t, 'DELETE', '/v1/pbx/calls/a%2Fb', undefined), 405, 'method_not_allowed');
    expectProblem(await signedRaw(t, 'POST', '/v1/pbx/users/bad%20user/devices', undefined), 405, 'method_not_allowed');
  });
});

describe('400 validation_failed: path parameters', () => {
  // (`%2E` spellings of `.` are in pbx-auth.test.ts: they are signed as sent)
  const badCallIdPaths = [
    'a%2Fb',
    '%2F',
    '.',
    '..',
    'a%20b',
    'a%3Fb',
    'a%23b',
    '%C3%A9',
    'a%01b',
    'a%7Fb',
    'x'.repeat(257),
  ];

  it.each(badCallIdPaths)('GET /v1/pbx/calls/%s is validation_failed', async (segment) => {
    expectValidation(await signedRaw(t, 'GET', `/v1/pbx/calls/${segment}`, undefined), 'callId');
  });

  it.each(badCallIdPaths)('a cancel of callId %s is validation_failed and leaves no tombstone', async (segment) => {
    const r = await writesNothing(t, () => signedRaw(t, 'POST', `/v1/pbx/calls/${segment}/cancel`, undefined));
    expectValidation(r, 'callId');
  });

  const badSimpleIds = ['.', '..', 'al%20ice', 'a%2Fb', '%C3%A9', 'a%23b', 'a!b', 'a%2Cb', 'x'.repeat(129)];
  it.each(badSimpleIds)('userId %s is validation_failed (PUT, GET, DELETE) and writes nothing', async (segment) => {
    const body = JSON.stringify(deviceBody(newToken()));
    expectValidation(
      await writesNothing(t, () => signedRaw(t, 'PUT', `/v1/pbx/users/${segment}/devices/d1`, body)),
      'userId',
    );
    expectValidation(await signedRaw(t, 'GET', `/v1/pbx/users/${segment}/devices`, undefined), 'userId');
    expectValidation(
      await writesNothing(t, () => signedRaw(t, 'DELETE', `/v1/pbx/users/${segment}/devices/d1`, undefined)),
      'userId',
    );
  });

  it.each(badSimpleIds)('deviceId %s is validation_failed and writes nothing', async (segment) => {
    const body = JSON.stringify(deviceBody(newToken()));
    expectValidation(
      await writesNothing(t, () => signedRaw(t, 'PUT', `/v1/pbx/users/alice/devices/${segment}`, body)),
      'deviceId',
    );
  });

  it('ids of the whole allowed alphabet and of the maximum length are accepted', async () => {
    const userId = 'Az09._:@+-';
    const deviceId = 'd'.repeat(128);
    const r = await t.pbx.putDevice(userId, deviceId, deviceBody(newToken()));
    expect(r.status).toBe(201);
    expect(r.body.deviceId).toBe(deviceId);
    const list = await t.pbx.listDevices(userId);
    expect(list.body.devices.map((d: any) => d.deviceId)).toEqual([deviceId]);
  });

  it('the app API validates the path callId before the token scope', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    await ring({ callId, from: { number: '+1' }, devices: [inline(token)] });
    const callToken = (t.sim.pushesFor(token)[0]!.payload as any).callwake.token;
    const r = await send(t, 'GET', '/v1/app/calls/a%2Fb', { authorization: `Bearer ${callToken}` });
    expectValidation(r, 'callId');
  });
});

describe('400 validation_failed: bodies (and nothing is written or pushed)', () => {
  const badCreate = async (mutate: (b: any) => void, ...paths: string[]) => {
    const token = newToken();
    const body: any = ringBody({ devices: [inline(token)] });
    mutate(body);
    const r = await writesNothing(t, () => ring(body));
    expectValidation(r, paths);
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  };

  it.each([
    ['a b'],
    ['a/b'],
    ['a?b'],
    ['a#b'],
    ['.'],
    ['..'],
    ['x'.repeat(257)],
    ['é'],
    ['a\tb'],
    [''],
    ['a\u007fb'],
    ['a\u0000b'],
  ])('callId %j', async (callId) => {
    await badCreate((b) => (b.callId = callId), 'callId');
  });

  it('callId that is not a string, or missing', async () => {
    await badCreate((b) => (b.callId = 123), 'callId');
    await badCreate((b) => delete b.callId, 'callId');
  });

  it.each([[4], [301], [5.5], ['60'], [0], [-1], [true]])('ringTimeoutSeconds %j', async (v) => {
    await badCreate((b) => (b.ringTimeoutSeconds = v), 'ringTimeoutSeconds');
  });

  it('hasVideo that is not a boolean', async () => {
    await badCreate((b) => (b.hasVideo = 'yes'), 'hasVideo');
  });

  it('pnProvider other than apns, or missing', async () => {
    await badCreate((b) => (b.devices[0].pnProvider = 'fcm'), 'devices');
    await badCreate((b) => delete b.devices[0].pnProvider, 'devices');
  });

  it('pnPrid that is not an APNs token', async () => {
    await badCreate((b) => (b.devices[0].pnPrid = 'zz'.repeat(32)), 'devices');
    await badCreate((b) => (b.devices[0].pnPrid = 'ab'.repeat(31)), 'devices');
    await badCreate((b) => (b.devices[0].pnPrid = `${'ab'.repeat(32)}a`), 'devices');
  });

  it('more than 10 inline devices', async () => {
    await badCreate((b) => (b.devices = Array.from({ length: 11 }, () => inline(newToken()))), 'devices');
  });

  it('metadata over 1 KiB serialized, or not string to string', async () => {
    await badCreate((b) => (b.metadata = { k: 'v'.repeat(1100) }), 'metadata');
    await badCreate((b) => (b.metadata = { k: '€'.repeat(400) }), 'metadata'); // 410 characters, 1210 bytes
    await badCreate((b) => (b.metadata = { k: 1 }), 'metadata');
    await badCreate((b) => (b.metadata = { k: { nested: 'x' } }), 'metadata');
    await badCreate((b) => (b.metadata = ['a']), 'metadata');
    await badCreate((b) => (b.metadata = 'registrar'), 'metadata');
  });

  it('from without number and uri, or with them too long', async () => {
    await badCreate((b) => (b.from = { displayName: 'Only a name' }), 'from');
    await badCreate((b) => (b.from = {}), 'from');
    await badCreate((b) => delete b.from, 'from');
    await badCreate((b) => (b.from = { number: '1'.repeat(65) }), 'from');
    await badCreate((b) => (b.from = { uri: `sip:${'a'.repeat(509)}` }), 'from');
    await badCreate((b) => (b.from = { number: 15551230000 }), 'from');
  });

  it('no targets: neither to.userId nor inline devices', async () => {
    await badCreate((b) => delete b.devices);
    await badCreate((b) => (b.devices = []));
    await badCreate((b) => {
      b.devices = [];
      b.to = {};
    });
  });

  it('to.userId with bad characters', async () => {
    await badCreate((b) => (b.to = { userId: 'al ice' }), 'to');
    await badCreate((b) => (b.to = { userId: '..' }), 'to');
  });

  it('a body that is JSON but not an object', async () => {
    for (const v of [[], 'call', 42, true]) {
      const r = await writesNothing(t, () => signedRaw(t, 'POST', '/v1/pbx/calls', JSON.stringify(v)));
      expectProblem(r, 400, 'validation_failed');
    }
  });

  it('the limits themselves are accepted: 256-character callId, 5 and 300 s, 10 inline devices, 1 KiB metadata, 64/512 number/uri', async () => {
    const at = async (body: any) => {
      const r = await ring(body);
      expect({ status: r.status, body: r.body }).toEqual({ status: 201, body: expect.anything() });
      return r;
    };
    await at(
      ringBody({
        callId: `${'x'.repeat(240)}${Math.random().toString(36).slice(2, 18)}`.slice(0, 256).padEnd(256, 'y'),
      }),
    );
    for (const s of [5, 300]) {
      const r = await at(ringBody({ ringTimeoutSeconds: s }));
      expect(Date.parse(r.body.expiresAt) - Date.parse(r.body.createdAt)).toBe(s * 1000);
    }
    const ten = Array.from({ length: 10 }, () => newToken());
    const r10 = await at(ringBody({ devices: ten.map((tk) => inline(tk)) }));
    expect(r10.body.deliveries).toHaveLength(10);
    const meta = { k: '' };
    meta.k = 'v'.repeat(1024 - JSON.stringify(meta).length);
    expect(Buffer.byteLength(JSON.stringify(meta))).toBe(1024);
    await at(ringBody({ metadata: meta }));
    await at(ringBody({ from: { number: '1'.repeat(64), uri: `sip:${'a'.repeat(508)}` } }));
  });

  it('a SIP Call-ID with every allowed punctuation character works through create, GET and cancel', async () => {
    const callId = `!"$%&'()*+,-.:;<=>@[\\]^_\`{|}~${Math.random().toString(36).slice(2)}`;
    const r = await ring(ringBody({ callId }));
    expect(r.status).toBe(201);
    expect(r.body.callId).toBe(callId);
    const v = await t.pbx.view(callId);
    expect(v.status).toBe(200);
    expect(v.body.callId).toBe(callId);
    const c = await t.pbx.cancel(callId);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ callId, status: 'cancelled' });
  });

  const badDevice = async (mutate: (b: any) => void, ...paths: string[]) => {
    const body: any = deviceBody(newToken());
    mutate(body);
    const r = await writesNothing(t, () => t.pbx.putDevice('vera', 'v1', body));
    expectValidation(r, paths);
  };

  it('device PUT: platform, pushToken, bundleId, environment, pushType, teamId', async () => {
    await badDevice((b) => (b.platform = 'android'), 'platform');
    await badDevice((b) => delete b.platform, 'platform');
    await badDevice((b) => (b.pushToken = 'ab'.repeat(31)), 'pushToken');
    await badDevice((b) => (b.pushToken = 'ab'.repeat(101)), 'pushToken');
    await badDevice((b) => (b.pushToken = `${'ab'.repeat(32)}c`), 'pushToken');
    await badDevice((b) => (b.pushToken = 'zz'.repeat(32)), 'pushToken');
    await badDevice((b) => delete b.pushToken, 'pushToken');
    await badDevice((b) => delete b.bundleId, 'bundleId');
    await badDevice((b) => delete b.environment, 'environment');
    await badDevice((b) => (b.environment = 'development'), 'environment');
    await badDevice((b) => (b.pushType = 'background'), 'pushType');
  });

  it('device PUT: 64 and 200 hex digits are accepted', async () => {
    expect((await t.pbx.putDevice('wendy', 'w64', deviceBody(newToken(32)))).status).toBe(201);
    expect((await t.pbx.putDevice('wendy', 'w200', deviceBody(newToken(100)))).status).toBe(201);
  });

  it('cancel: an unknown reason, or one of another type', async () => {
    const callId = uniqueCallId();
    expect((await ring(ringBody({ callId }))).status).toBe(201);
    for (const reason of ['hangup', 'CALLER_HANGUP', 5, '']) {
      const r = await writesNothing(t, () =>
        t.pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`, { reason }),
      );
      expectValidation(r, 'reason');
    }
    expect((await t.pbx.view(callId)).body.status).toBe('ringing');
    // and for an unknown callId no tombstone is left behind
    const unknown = uniqueCallId();
    const r = await writesNothing(t, () =>
      t.pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(unknown)}/cancel`, { reason: 'nope' }),
    );
    expectValidation(r, 'reason');
    expect((await ring(ringBody({ callId: unknown }))).status).toBe(201);
  });
});

describe('null is the same as absent; unknown members are ignored', () => {
  it('a create full of nulls is the create without them (and the same body on retry)', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const withNulls = {
      callId,
      from: { number: '+15551230000', displayName: null, uri: null },
      to: null,
      devices: [inline(token)],
      ringTimeoutSeconds: null,
      hasVideo: null,
      metadata: null,
    };
    const first = await ring(withNulls);
    expect(first.status).toBe(201);
    expect(Date.parse(first.body.expiresAt) - Date.parse(first.body.createdAt)).toBe(60_000);
    const push = (await t.sim.waitForPush(token)).payload as any;
    expect(push.callwake.hasVideo).toBe(false);
    expect(push.callwake.caller).toEqual({ number: '+15551230000' });
    const retry = await ring({ callId, from: { number: '+15551230000' }, devices: [inline(token)] });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    const view = await t.app.view(callId, push.callwake.token);
    expect(view.body.caller).toEqual({ number: '+15551230000', displayName: null, uri: null });
  });

  it('a device with null teamId and pushType gets the defaults', async () => {
    const r = await t.pbx.putDevice('nadia', 'n1', deviceBody(newToken(), { teamId: null, pushType: null }));
    expect(r.status).toBe(201);
    expect(r.body.pushType).toBe('voip');
  });

  it('a cancel with reason null is caller_hangup', async () => {
    const callId = uniqueCallId();
    await ring(ringBody({ callId }));
    const r = await t.pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`, { reason: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
  });

  it('unknown members anywhere are ignored, and not compared on a retry', async () => {
    const token = newToken();
    const callId = uniqueCallId();
    const body = { callId, from: { number: '+15551230000' }, devices: [inline(token)] };
    const first = await ring({
      ...body,
      priority: 'high',
      from: { ...body.from, nickname: 'bobby' },
      to: { tenant: 'x' },
      devices: [{ ...inline(token), pnPurr: 'meow' }],
      nested: { a: [1, 2, { b: null }] },
    });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('ringing');
    const again = await ring(body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(t.sim.pushesFor(token)).toHaveLength(1);
  });

  it('an unknown member nested deeply is still just ignored', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 3000; i++) deep = [deep];
    const r = await ring(ringBody({ deep }));
    expect(r.status).toBe(201);
  });

  it('members named like Object.prototype properties are unknown members too', async () => {
    const token = newToken();
    const mallorys = newToken();
    await t.pbx.putDevice('mallory', 'm1', deviceBody(mallorys));
    const callId = uniqueCallId();
    const text = JSON.stringify({ callId, from: { number: '+15551230000' }, devices: [inline(token)] }).replace(
      /}$/,
      ',"__proto__":{"ringTimeoutSeconds":5,"hasVideo":true,"to":{"userId":"mallory"}},"constructor":{"x":1},"toString":"x"}',
    );
    const r = await signedRaw(t, 'POST', '/v1/pbx/calls', text);
    expect(r.status).toBe(201);
    expect({
      deliveries: r.body.deliveries.length,
      ringMs: Date.parse(r.body.expiresAt) - Date.parse(r.body.createdAt),
      pushesToMallory: t.sim.pushesFor(mallorys).length,
    }).toEqual({ deliveries: 1, ringMs: 60_000, pushesToMallory: 0 });
    const push = (await t.sim.waitForPush(token)).payload as any;
    expect(push.callwake.hasVideo).toBe(false);
  });

  it('a device PUT and a cancel with unknown members', async () => {
    const r = await t.pbx.putDevice('uma', 'u1', deviceBody(newToken(), { model: 'iPhone 15', extra: { a: 1 } }));
    expect(r.status).toBe(201);
    const callId = uniqueCallId();
    await ring(ringBody({ callId }));
    const c = await t.pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`, {
      reason: 'timeout',
      why: 'x',
    });
    expect(c.body).toMatchObject({ status: 'cancelled', endReason: 'unanswered' });
  });

  it('a cancel with an empty object body is caller_hangup', async () => {
    const callId = uniqueCallId();
    await ring(ringBody({ callId }));
    const c = await t.pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`, {});
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
  });
});

describe('a request Node cannot parse (npm start, where API Gateway stands in front when deployed)', () => {
  /** The raw answer to raw bytes, read until the server closes the connection. */
  const rawExchange = (bytes: Buffer): Promise<string> =>
    new Promise((resolve, reject) => {
      const url = new URL(t.url);
      const socket = createConnection(Number(url.port), url.hostname, () => socket.end(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('no answer in 5 s')));
    });

  it('is answered 400 or 431 with a JSON body saying so, as API Gateway answers, not a bare status line', async () => {
    const nonAscii = await rawExchange(
      Buffer.concat([
        Buffer.from('GET /v1/pbx/calls/'),
        Buffer.from('é', 'utf8'),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n'),
      ]),
    );
    expect(nonAscii).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(nonAscii.endsWith('{"message":"Bad Request"}')).toBe(true);

    const badMethod = await rawExchange(Buffer.from('FOO\x01 /v1/pbx/calls HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(badMethod).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*content-type: application\/json/);

    const hugeHeader = await rawExchange(
      Buffer.from(`GET /v1/pbx/calls/x HTTP/1.1\r\nHost: x\r\nx-callwake-signature: v1=${'0'.repeat(60_000)}\r\n\r\n`),
    );
    expect(hugeHeader).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(hugeHeader.endsWith('{"message":"Request Header Fields Too Large"}')).toBe(true);
  });
});
