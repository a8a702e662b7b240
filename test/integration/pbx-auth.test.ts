import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BUNDLE,
  expectProblem,
  inline,
  newToken,
  type RawReply,
  type SignedRawOptions,
  signature,
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

const now = () => Math.floor(t.clock.now() / 1000);
const LIST = '/v1/pbx/users/alice/devices';

describe('PBX authentication: accepted', () => {
  it('a request signed with the first secret is accepted', async () => {
    const r = await signedRaw(t, 'GET', LIST, undefined);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ devices: [] });
  });

  it('the rotated (second) secret verifies too', async () => {
    const r = await signedRaw(t, 'GET', LIST, undefined, { secret: t.secrets.acme[1] });
    expect(r.status).toBe(200);
    const viaClient = await t.pbxRotated.listDevices('alice');
    expect(viaClient.status).toBe(200);
  });

  it('a timestamp 295 s off either way is still fresh', async () => {
    expect((await signedRaw(t, 'GET', LIST, undefined, { timestamp: now() - 295 })).status).toBe(200);
    expect((await signedRaw(t, 'GET', LIST, undefined, { timestamp: now() + 295 })).status).toBe(200);
  });

  it('a path with a query string is signed as sent, query included', async () => {
    const r = await signedRaw(t, 'GET', `${LIST}?page=1&x=%41`, undefined);
    expect(r.status).toBe(200);
  });

  it('a percent-encoded path is signed exactly as sent', async () => {
    const callId = uniqueCallId(); // has an "@"
    const encoded = `/v1/pbx/calls/${encodeURIComponent(callId)}`;
    expect(encoded).toContain('%40');
    expectProblem(await signedRaw(t, 'GET', encoded, undefined), 404, 'call_not_found'); // authenticated: it got as far as the lookup
    // a signature over another call's path does not verify
    expectProblem(
      await signedRaw(t, 'GET', encoded, undefined, {
        signPath: `/v1/pbx/calls/${encodeURIComponent(uniqueCallId())}`,
      }),
      401,
      'bad_signature',
    );
  });

  it('a body sent with charset=utf-8 is signed over its raw bytes', async () => {
    const body = JSON.stringify({
      callId: uniqueCallId(),
      from: { number: '+1555', displayName: 'Zoë ☎' },
      devices: [inline(newToken())],
    });
    const r = await signedRaw(t, 'POST', '/v1/pbx/calls', body, { contentType: 'application/json; charset=utf-8' });
    expect(r.status).toBe(201);
  });
});

/** Percent-encodes every byte of `s` that `keep` does not match, with upper- or lower-case hex. */
const encodeWith = (s: string, keep: RegExp, lower = false) =>
  Array.from(Buffer.from(s, 'utf8'), (b) => {
    const c = String.fromCharCode(b);
    if (b < 0x80 && keep.test(c)) return c;
    const h = `%${b.toString(16).padStart(2, '0')}`;
    return lower ? h : h.toUpperCase();
  }).join('');

describe('PBX authentication: the path is signed exactly as sent, whatever encoder the PBX used', () => {
  // One callId with characters that encoders treat differently: ~ . @ ; = and a space-free SIP look.
  const callId = () => `a~b.c;d=e@${Math.random().toString(36).slice(2)}.example.com`;
  it.each([
    ['encodeURIComponent', (id: string) => encodeURIComponent(id)],
    ['pchar-minimal (Go PathEscape)', (id: string) => encodeWith(id, /[A-Za-z0-9\-._~!$&'()*+,;=:@]/)],
    ['RFC 3986 unreserved only, lower-case hex', (id: string) => encodeWith(id, /[A-Za-z0-9\-._~]/, true)],
    ['Java URLEncoder style (~ encoded)', (id: string) => encodeWith(id, /[A-Za-z0-9\-._*]/)],
    ['every non-alphanumeric byte encoded', (id: string) => encodeWith(id, /[A-Za-z0-9]/)],
    ['every byte encoded', (id: string) => encodeWith(id, /$^/)],
  ])('%s: a GET and a cancel signed over the path as sent are accepted', async (_name, encode) => {
    const id = callId();
    const path = `/v1/pbx/calls/${encode(id)}`;
    const view = await signedRaw(t, 'GET', path, undefined);
    expectProblem(view, 404, 'call_not_found');
    const cancel = await signedRaw(t, 'POST', `${path}/cancel`, undefined);
    expect({ status: cancel.status, body: cancel.body }).toEqual({
      status: 200,
      body: expect.objectContaining({ callId: id, status: 'cancelled' }),
    });
  });

  it('callIds spelled with %2E, signed as sent, get past authentication (400 for . and .., else 404)', async () => {
    const got: Record<string, string> = {};
    for (const segment of ['%2E', '%2e', '%2E%2E', 'a%2Eb%2E%2E']) {
      const r = await signedRaw(t, 'GET', `/v1/pbx/calls/${segment}`, undefined);
      got[segment] = `${r.status} ${r.body?.code}`;
    }
    expect(got).toEqual({
      '%2E': '400 validation_failed',
      '%2e': '400 validation_failed',
      '%2E%2E': '400 validation_failed',
      'a%2Eb%2E%2E': '404 call_not_found',
    });
  });
});

describe('PBX authentication: refused', () => {
  const bad = async (r: Promise<RawReply>) => {
    const reply = await r;
    expectProblem(reply, 401, 'bad_signature');
    return reply;
  };
  const get =
    (o: () => SignedRawOptions = () => ({})) =>
    () =>
      signedRaw(t, 'GET', LIST, undefined, o());

  /** Requests wrong in one way each, grouped by what is wrong; the same-answer test sends them all again. */
  const refused: Record<string, (() => Promise<RawReply>)[]> = {
    'a wrong secret': [get(() => ({ secret: 'not-the-secret' }))],
    "another tenant's secret for this tenant": [get(() => ({ secret: t.secrets.globex }))],
    'an unknown tenant': [get(() => ({ tenant: 'nobody', secret: t.secrets.acme[0] }))],
    'an unknown tenant with a stale timestamp is bad_signature, not stale_signature': [
      get(() => ({ tenant: 'nobody', timestamp: now() - 10_000 })),
    ],
    'a wrong signature with a stale timestamp is bad_signature, not stale_signature': [
      get(() => ({ secret: 'wrong', timestamp: now() - 10_000 })),
    ],
    'each missing header': [
      get(() => ({ override: { 'x-callwake-tenant': undefined } })),
      get(() => ({ override: { 'x-callwake-timestamp': undefined } })),
      get(() => ({ override: { 'x-callwake-signature': undefined } })),
      get(() => ({ override: { 'x-callwake-tenant': '' } })),
    ],
    'a timestamp that is not an integer, even when the signature over it is right': [
      () => '12.5',
      () => `${now()}.0`,
      () => 'abc',
      () => `${now()}s`,
      () => '1e9',
      () => ' ',
      () => `0x${now().toString(16)}`,
    ].map((ts) => get(() => ({ timestamp: ts() }))),
    'a malformed signature header': [
      (good: string) => good.slice(3),
      (good: string) => `v2=${good.slice(3)}`,
      (good: string) => `${good}00`,
      (good: string) => good.slice(0, -2),
      () => 'v1=',
      () => 'garbage',
    ].map((spoil) =>
      get(() => {
        const ts = String(now());
        const sig = spoil(signature(t.secrets.acme[0], ts, 'GET', LIST));
        return { timestamp: ts, override: { 'x-callwake-signature': sig } };
      }),
    ),
    'a signature over another method or path or query': [
      get(() => ({ signMethod: 'POST' })),
      get(() => ({ signPath: '/v1/pbx/users/bob/devices' })),
      () => signedRaw(t, 'GET', `${LIST}?a=1`, undefined, { signPath: LIST }),
      get(() => ({ signPath: `${LIST}?a=1` })),
    ],
    'an unsigned request to a route that does not exist is 401, not 404': [
      () => signedRaw(t, 'GET', '/v1/pbx/nothing-here', undefined, { secret: 'wrong' }),
    ],
  };

  it.each(Object.keys(refused))('%s', async (what) => {
    for (const send of refused[what]!) await bad(send());
  });

  /** A create whose body was changed after it was signed. */
  const changedBody = () => {
    const token = newToken();
    const signed = JSON.stringify({
      callId: uniqueCallId(),
      from: { number: '+15550000001' },
      devices: [inline(token)],
    });
    const sent = signed.replace('+15550000001', '+15550000002');
    return { token, send: () => signedRaw(t, 'POST', '/v1/pbx/calls', sent, { signBody: signed }) };
  };
  const wronglySignedPut = () => {
    const body = JSON.stringify({ platform: 'ios', pushToken: newToken(), bundleId: BUNDLE, environment: 'sandbox' });
    return () => signedRaw(t, 'PUT', '/v1/pbx/users/alice/devices/d1', body, { secret: 'wrong' });
  };

  it('a body changed after signing is refused and writes nothing', async () => {
    const { token, send } = changedBody();
    await writesNothing(t, () => bad(send()));
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });

  it('a device PUT with a bad signature writes nothing', async () => {
    await writesNothing(t, () => bad(wronglySignedPut()()));
  });

  // Sends every refused request itself (not relying on the tests above), so it also runs alone.
  it('all these answers are the same answer', async () => {
    const replies: RawReply[] = [];
    for (const sends of Object.values(refused)) for (const send of sends) replies.push(await bad(send()));
    replies.push(await bad(changedBody().send()), await bad(wronglySignedPut()()));
    expect(replies.length).toBeGreaterThan(20);
    const first = replies[0]!;
    for (const r of replies) {
      expect(r.body).toEqual(first.body);
      expect(r.headers['content-type']).toEqual(first.headers['content-type']);
    }
  });
});

describe('PBX authentication: stale', () => {
  it('a valid signature more than 300 s in the past or future is stale_signature', async () => {
    expectProblem(await signedRaw(t, 'GET', LIST, undefined, { timestamp: now() - 310 }), 401, 'stale_signature');
    expectProblem(await signedRaw(t, 'GET', LIST, undefined, { timestamp: now() + 310 }), 401, 'stale_signature');
    expectProblem(await signedRaw(t, 'GET', LIST, undefined, { timestamp: 0 }), 401, 'stale_signature');
  });

  it('stale with the rotated secret too, and a stale create writes nothing', async () => {
    expectProblem(
      await signedRaw(t, 'GET', LIST, undefined, { timestamp: now() - 400, secret: t.secrets.acme[1] }),
      401,
      'stale_signature',
    );
    const token = newToken();
    const body = JSON.stringify({ callId: uniqueCallId(), from: { number: '+1555' }, devices: [inline(token)] });
    await writesNothing(t, async () =>
      expectProblem(
        await signedRaw(t, 'POST', '/v1/pbx/calls', body, { timestamp: now() - 400 }),
        401,
        'stale_signature',
      ),
    );
    expect(t.sim.pushesFor(token)).toHaveLength(0);
  });

  it('staleness is judged against the server clock, not the caller’s', async () => {
    const real = Math.floor(Date.now() / 1000);
    t.clock.advance(3600_000);
    try {
      expectProblem(await signedRaw(t, 'GET', LIST, undefined, { timestamp: real }), 401, 'stale_signature');
      expect((await signedRaw(t, 'GET', LIST, undefined, { timestamp: real + 3600 })).status).toBe(200);
    } finally {
      t.clock.advance(-3600_000);
    }
  });
});
