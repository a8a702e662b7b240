/**
 * Property: bad bodies never hurt the PBX API.
 * Every request here is signed correctly (so it gets past 401) and is invalid by construction:
 * the answer must be the 4xx problem the contract's order of checks gives, never a 5xx or a
 * hang, and the table (scanned before and after, compared as JSON) and the pushes sent must not
 * change. The resources the requests aim at exist (a registered device, a ringing call, a
 * cancelled call), so a write would show.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  anyJson,
  bomThenMalformedJsonArb,
  CaseCounter,
  contentTypeArb,
  describeRequest,
  invalidCancelArb,
  invalidCreateArb,
  invalidDeviceArb,
  jsonBytes,
  malformedJsonArb,
  nested,
  nonObjectJson,
  oddString,
  uniqueCallIdOf,
  validCreateArb,
  withInvalidUtf8,
} from '../support/arbitraries.js';
import {
  deviceBody,
  expectProblem,
  expectValidation,
  inline,
  newToken,
  pbxHeaders,
  send,
  signedRaw,
  TableGuard,
  uniqueCallId,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const KIB16 = 16 * 1024;
const TIMEOUT = 120_000;

let t: TestStack;
let guard: TableGuard;
const count = new CaseCounter();

const RINGING = uniqueCallId();
const CANCELLED = uniqueCallId();
const UNKNOWN = uniqueCallId();
const enc = encodeURIComponent;

/** Every PBX route (and some that are none), aimed at resources that exist. */
const ROUTES: [method: string, path: string][] = [
  ['POST', '/v1/pbx/calls'],
  ['POST', `/v1/pbx/calls/${enc(RINGING)}/cancel`],
  ['POST', `/v1/pbx/calls/${enc(CANCELLED)}/cancel`],
  ['POST', `/v1/pbx/calls/${enc(UNKNOWN)}/cancel`],
  ['GET', `/v1/pbx/calls/${enc(RINGING)}`],
  ['PUT', '/v1/pbx/users/alice/devices/d-seed'],
  ['PUT', '/v1/pbx/users/bob/devices/d-new'],
  ['DELETE', '/v1/pbx/users/alice/devices/d-seed'],
  ['GET', '/v1/pbx/users/alice/devices'],
  ['GET', '/v1/pbx/nowhere'],
  ['POST', '/v1/pbx/calls/x/y/z'],
  ['PATCH', '/v1/pbx/calls'],
  ['DELETE', `/v1/pbx/calls/${enc(RINGING)}`],
];
const routeArb = fc.constantFrom(...ROUTES);
/** Routes whose body the contract reads (a JSON body that parses is then validated). */
const WRITE_TARGETS = {
  create: '/v1/pbx/calls',
  cancelRinging: `/v1/pbx/calls/${enc(RINGING)}/cancel`,
  cancelCancelled: `/v1/pbx/calls/${enc(CANCELLED)}/cancel`,
  cancelUnknown: `/v1/pbx/calls/${enc(UNKNOWN)}/cancel`,
  putSeeded: '/v1/pbx/users/alice/devices/d-seed',
  putNew: '/v1/pbx/users/bob/devices/d-new',
};

beforeAll(async () => {
  t = await startTestStack();
  guard = new TableGuard(t);
  expect((await t.pbx.putDevice('alice', 'd-seed', deviceBody(newToken()))).status).toBe(201);
  const ring = (callId: string) =>
    t.pbx.ring({
      callId,
      from: { number: '+15551230000', displayName: 'Bob' },
      devices: [inline(newToken())],
      ringTimeoutSeconds: 300,
    });
  expect((await ring(RINGING)).body.status).toBe('ringing');
  expect((await ring(CANCELLED)).status).toBe(201);
  expect((await t.pbx.cancel(CANCELLED)).body.status).toBe('cancelled');
  await guard.refresh();
});

afterAll(async () => {
  count.report('pbx-bodies');
  await t?.stop();
});

/** Signed bodies that are not JSON: 400 malformed_json on every route (413 when too big), nothing written. */
async function expectMalformedOnEveryRoute(bodies: fc.Arbitrary<Buffer>, label: string, numRuns: number) {
  await fc.assert(
    fc.asyncProperty(routeArb, bodies, async ([method, path], bytes) => {
      count.add(label);
      const what = describeRequest(method, path, bytes);
      const r = await guard.unchanged(() => signedRaw(t, method, path, bytes), what);
      expectProblem(r, [bytes.length > KIB16 ? '413 payload_too_large' : '400 malformed_json'], what);
    }),
    { numRuns },
  );
}

describe('bad bodies on the PBX API (signed; 4xx problem; nothing written, nothing pushed)', () => {
  it(
    'create: a body with exactly one thing wrong, odd Unicode and unknown members around it, is 400 validation_failed naming it',
    async () => {
      await fc.assert(
        fc.asyncProperty(invalidCreateArb, async ({ body, names, what }) => {
          count.add('create: one member wrong');
          const bytes = jsonBytes(body);
          const r = await guard.unchanged(() => signedRaw(t, 'POST', '/v1/pbx/calls', bytes), what);
          // A body over 16 KiB is refused for its size first (the generators' huge strings may get there).
          if (bytes.length > KIB16) expectProblem(r, ['413 payload_too_large'], what);
          else expectValidation(r, names, what);
        }),
        { numRuns: 200 },
      );
    },
    TIMEOUT,
  );

  it(
    'create, cancel, device PUT: JSON that is not an object is 400 validation_failed',
    async () => {
      const targets = fc.constantFrom(
        WRITE_TARGETS.create,
        WRITE_TARGETS.cancelRinging,
        WRITE_TARGETS.cancelUnknown,
        WRITE_TARGETS.putSeeded,
        WRITE_TARGETS.putNew,
      );
      await fc.assert(
        fc.asyncProperty(targets, nonObjectJson, async (path, value) => {
          count.add('non-object JSON body');
          const method = path.includes('/users/') ? 'PUT' : 'POST';
          const bytes = jsonBytes(value);
          const r = await guard.unchanged(
            () => signedRaw(t, method, path, bytes),
            describeRequest(method, path, bytes),
          );
          expectProblem(r, ['400 validation_failed'], describeRequest(method, path, bytes));
        }),
        { numRuns: 80 },
      );
    },
    TIMEOUT,
  );

  it(
    'cancel: a reason that is not one of the five, or a body that is no object, is 400 validation_failed (no state change, no tombstone)',
    async () => {
      const targets = fc.constantFrom(
        WRITE_TARGETS.cancelRinging,
        WRITE_TARGETS.cancelCancelled,
        WRITE_TARGETS.cancelUnknown,
      );
      await fc.assert(
        fc.asyncProperty(targets, invalidCancelArb, async (path, body) => {
          count.add('cancel: invalid body');
          const bytes = jsonBytes(body);
          const what = describeRequest('POST', path, bytes);
          const r = await guard.unchanged(() => signedRaw(t, 'POST', path, bytes), what);
          expectProblem(r, ['400 validation_failed'], what);
        }),
        { numRuns: 120 },
      );
    },
    TIMEOUT,
  );

  it(
    'device PUT: a body with one thing wrong is 400 (validation_failed naming it, or unknown_team) and replaces nothing',
    async () => {
      const targets = fc.constantFrom(WRITE_TARGETS.putSeeded, WRITE_TARGETS.putNew);
      await fc.assert(
        fc.asyncProperty(targets, invalidDeviceArb, async (path, { body, names, codes }) => {
          count.add('device PUT: one member wrong');
          const bytes = jsonBytes(body);
          const what = describeRequest('PUT', path, bytes);
          const r = await guard.unchanged(() => signedRaw(t, 'PUT', path, bytes), what);
          const b = expectProblem(
            r,
            codes.map((c) => `400 ${c}`),
            what,
          );
          if (b.code === 'validation_failed') expectValidation(r, names, what);
        }),
        { numRuns: 150 },
      );
    },
    TIMEOUT,
  );

  it(
    'any route: a body that is not UTF-8 (even an otherwise valid create) is 400 malformed_json',
    async () => {
      const text = fc.oneof(
        validCreateArb.map((v) => JSON.stringify({ callId: uniqueCallIdOf(v.callIdCore), ...(v.body as object) })),
        fc.constant(JSON.stringify(deviceBody(newToken()))),
        fc.constant('{"reason":"timeout"}'),
        anyJson.map((v) => JSON.stringify(v)),
      );
      await expectMalformedOnEveryRoute(withInvalidUtf8(text), 'invalid UTF-8 body', 120);
    },
    TIMEOUT,
  );

  it(
    'any route: JSON that does not parse (truncated, garbled, JavaScript, blank, unclosed nesting) is 400 malformed_json, before 404 and 405',
    async () => {
      await expectMalformedOnEveryRoute(malformedJsonArb, 'malformed JSON body', 120);
    },
    TIMEOUT,
  );

  it(
    'any route: broken JSON after a UTF-8 byte order mark is still 400 malformed_json (the signature is over the bytes as sent, BOM included)',
    async () => {
      await expectMalformedOnEveryRoute(bomThenMalformedJsonArb, 'BOM then malformed JSON body', 30);
    },
    TIMEOUT,
  );

  it(
    'deep nesting within 16 KiB, as the whole body or in a member, is 400 validation_failed',
    async () => {
      const shape = fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>;
      const leaf = fc.oneof(
        fc.constantFrom('1', 'null', '"x"', '{}', '[]', '"\\u0000"', '"\\ud800"'),
        oddString(2).map((s) => JSON.stringify(s)),
      );
      const place = fc.constantFrom(
        'whole create',
        'create.callId',
        'create.from.number',
        'create.metadata',
        'create.devices',
        'cancel.reason',
        'cancel whole',
        'put.pushToken',
        'put whole',
      );
      await fc.assert(
        fc.asyncProperty(place, shape, fc.integer({ min: 1, max: 2600 }), leaf, async (where, kind, depth, lf) => {
          count.add('deep nesting within 16 KiB');
          const deep = nested(depth, kind, lf);
          const create = (member: string) =>
            `{"callId":${JSON.stringify(uniqueCallId())},"from":{"number":"+1"},"devices":[${JSON.stringify(inline(newToken()))}],"${member}}`;
          const [method, path, text, expected] = ((): [string, string, string, string] => {
            switch (where) {
              case 'whole create':
                // The whole body nested: an array is no object; an object nesting has no callId.
                return ['POST', WRITE_TARGETS.create, deep, 'callId'];
              case 'create.callId':
                return ['POST', WRITE_TARGETS.create, create(`deep":1,"callId":${deep}`), 'callId'];
              case 'create.from.number':
                return ['POST', WRITE_TARGETS.create, create(`deep":1,"from":{"number":${deep}}`), 'from'];
              case 'create.metadata':
                return ['POST', WRITE_TARGETS.create, create(`metadata":{"k":${deep}}`), 'metadata'];
              case 'create.devices':
                return ['POST', WRITE_TARGETS.create, create(`deep":1,"devices":[${deep}]`), 'devices'];
              case 'cancel.reason':
                return ['POST', WRITE_TARGETS.cancelRinging, `{"reason":${deep}}`, 'reason'];
              case 'cancel whole':
                // An array (or an array-first mix) is no cancel body; an object nesting would be {} plus unknowns: use arrays.
                return ['POST', WRITE_TARGETS.cancelRinging, nested(depth, 'array', lf), '(body)'];
              case 'put.pushToken':
                return [
                  'PUT',
                  WRITE_TARGETS.putSeeded,
                  JSON.stringify(deviceBody(newToken())).replace(/"pushToken":"[0-9a-f]+"/, `"pushToken":${deep}`),
                  'pushToken',
                ];
              default:
                return ['PUT', WRITE_TARGETS.putNew, deep, 'platform'];
            }
          })();
          const bytes = Buffer.from(text, 'utf8');
          fc.pre(bytes.length <= KIB16);
          const what = `${where} ${kind} depth ${depth} leaf ${lf}`;
          const r = await guard.unchanged(() => signedRaw(t, method, path, bytes), what);
          // The errors name the member (or, for a whole body that is no object, whatever the service calls it).
          if (where === 'whole create' || where === 'put whole' || where === 'cancel whole')
            expectProblem(r, ['400 validation_failed'], what);
          else expectValidation(r, expected, what);
        }),
        { numRuns: 60 },
      );
    },
    TIMEOUT,
  );

  it(
    'a body over 16 KiB is 413 payload_too_large on any route, signed, forged or unsigned, whatever its content type and content',
    async () => {
      const kind = fc.constantFrom(
        'deep array',
        'deep object',
        'valid create with a huge displayName',
        'valid device with padding',
        'random bytes',
        'spaces',
        'odd Unicode string',
      );
      const size = fc.oneof(fc.constant(KIB16 + 1), fc.integer({ min: KIB16 + 1, max: 48 * 1024 }));
      const auth = fc.constantFrom('signed', 'wrong secret', 'none');
      const anyRoute = fc.oneof(
        routeArb,
        fc.constantFrom<[string, string]>(
          ['POST', '/v1/app/calls/abc/answer'],
          ['GET', '/v1/app/calls/abc'],
          ['POST', '/'],
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          anyRoute,
          kind,
          size,
          auth,
          contentTypeArb,
          fc.nat(),
          async ([method, path], k, n, a, ct, seed) => {
            count.add('over 16 KiB');
            let text: Buffer;
            switch (k) {
              case 'deep array':
                text = Buffer.from(nested(Math.ceil(n / 2), 'array'));
                break;
              case 'deep object':
                text = Buffer.from(nested(Math.ceil(n / 6), 'object'));
                break;
              case 'valid create with a huge displayName': {
                const base = JSON.stringify({
                  callId: uniqueCallId(),
                  from: { number: '+1', displayName: '' },
                  devices: [inline(newToken())],
                });
                const fill = '👩‍👩‍👧‍👦'.repeat(Math.ceil(n / 25));
                text = Buffer.from(base.replace('"displayName":""', `"displayName":${JSON.stringify(fill)}`));
                break;
              }
              case 'valid device with padding':
                text = Buffer.from(JSON.stringify(deviceBody(newToken())) + ' '.repeat(n));
                break;
              case 'random bytes': {
                let x = seed || 1;
                text = Buffer.alloc(n);
                for (let i = 0; i < n; i++) {
                  x = (x * 1103515245 + 12345) & 0x7fffffff;
                  text[i] = x >> 16;
                }
                break;
              }
              case 'spaces':
                text = Buffer.alloc(n, ' ');
                break;
              default:
                text = Buffer.from(JSON.stringify('\uD800\u0000\u202E'.repeat(Math.ceil(n / 15))));
            }
            if (text.length <= KIB16) text = Buffer.concat([text, Buffer.alloc(KIB16 + 1 - text.length, ' ')]);
            const headers =
              a === 'none'
                ? { 'content-type': ct }
                : {
                    ...pbxHeaders(t, method, path, text, a === 'signed' ? {} : { secret: 'wrong' }),
                    'content-type': ct,
                    authorization: 'Bearer forged',
                  };
            const what = `${k} ${text.length} bytes ${a} ${method} ${path} ct=${JSON.stringify(ct)}`;
            const r = await guard.unchanged(() => send(t, method, path, headers, text), what);
            expectProblem(r, ['413 payload_too_large'], what);
          },
        ),
        { numRuns: 50 },
      );
    },
    TIMEOUT,
  );
});
