/**
 * Property: bad input never hurts the app API.
 * - Any request with a missing, malformed, random or forged bearer token (genuine ones altered in
 *   every way) is 401 invalid_token, whatever its path, method, body or content type.
 * - With a genuine token: path ids that are no ids (400), another call's id (403), wrong methods
 *   and routes (405/404), bodies of another media type (415) or that are not JSON (400), too large
 *   (413). The call stays ringing: the table is compared before and after every request.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  anyJson,
  badPathIdArb,
  CaseCounter,
  contentTypeArb,
  decodeSegmentC,
  ENCODERS,
  encodeId,
  isCallIdC,
  jsonBytes,
  labelled,
  malformedJsonArb,
  mediaTypeVerdictC,
  nested,
  trickSegmentArb,
  withInvalidUtf8,
} from '../support/arbitraries.js';
import {
  callTokenOf,
  expectProblem,
  expectValidation,
  inline,
  newToken,
  send,
  TableGuard,
  uniqueCallId,
} from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const TIMEOUT = 120_000;
let t: TestStack;
let guard: TableGuard;
const count = new CaseCounter();

/**
 * Each test rings its own call (so one test's finding cannot leave the next one a call in
 * another state): RINGING, with two devices whose genuine tokens are tokenA (slot 0) and tokenB
 * (slot 1). tokenOther is a genuine token of another call.
 */
let RINGING: string;
let tokenA: string;
let tokenB: string;
const OTHER = uniqueCallId();
let tokenOther: string;

const ring = (callId: string, devices: string[]) =>
  t.pbx.ring({
    callId,
    from: { number: '+15551230000' },
    devices: devices.map((d) => inline(d)),
    ringTimeoutSeconds: 300,
  });

async function freshCall() {
  RINGING = uniqueCallId();
  const [a, b] = [newToken(), newToken()];
  expect((await ring(RINGING, [a, b])).body.status).toBe('ringing');
  tokenA = callTokenOf(t, a, RINGING);
  tokenB = callTokenOf(t, b, RINGING);
  // The genuine token works (so a forged one that "works" would show).
  const v = await t.app.view(RINGING, tokenA);
  expect(`${v.status} ${v.body.status}`).toBe('200 ringing');
  await guard.refresh();
}

const ROUTES = [
  { method: 'GET', suffix: '' },
  { method: 'POST', suffix: '/confirm' },
  { method: 'POST', suffix: '/answer' },
  { method: 'POST', suffix: '/decline' },
] as const;
const appPath = (segment: string, suffix: string) => `/v1/app/calls/${segment}${suffix}`;

beforeAll(async () => {
  t = await startTestStack();
  guard = new TableGuard(t);
  const o = newToken();
  expect((await ring(OTHER, [o])).body.status).toBe('ringing');
  tokenOther = callTokenOf(t, o, OTHER);
});
beforeEach(freshCall);

afterAll(async () => {
  count.report('app-api');
  await t?.stop();
});

// ---------------------------------------------------------------------------------------------
// Forged tokens
// ---------------------------------------------------------------------------------------------

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64Char = fc.constantFrom(...B64URL);
const printable = fc.constantFrom(...Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)));

/** `s` with the character at `i` replaced by `c`, or (if it is `c` already) by the next base64url character. */
const replaceAt = (s: string, i: number, c: string) => {
  const by = s[i] === c ? B64URL[(B64URL.indexOf(c) + 1) % B64URL.length]! : c;
  return s.slice(0, i) + by + s.slice(i + 1);
};

/** A change to a genuine token, applied when the tokens are known; never the token itself. */
type Recipe = { kind: string; apply: () => string };
const parts = (tk: string) => tk.split('.') as [string, string, string, string];

const alteredToken: fc.Arbitrary<Recipe> = fc.oneof(
  fc.tuple(fc.nat(), fc.oneof(b64Char, fc.constantFrom('.', '=', '+', '/', ' ', '%'))).map(([i, c]) => ({
    kind: `character ${i} replaced by ${JSON.stringify(c)}`,
    apply: () => replaceAt(tokenA, i % tokenA.length, c),
  })),
  // The last character of the MAC, any other base64url character in its place.
  b64Char.map((c) => ({
    kind: `last character replaced by ${c}`,
    apply: () => replaceAt(tokenA, tokenA.length - 1, c),
  })),
  // ... or one that differs only in the bits past the MAC's 128 (base64url of 16 bytes has 4 spare
  // bits in its 22nd character): another string, so not the token that was issued.
  fc.integer({ min: 1, max: 15 }).map((k) => ({
    kind: `last character moved by ${k} within its group of 16`,
    apply: () => {
      const idx = B64URL.indexOf(tokenA.at(-1)!);
      const base = idx - (idx % 16);
      return tokenA.slice(0, -1) + B64URL[base + ((idx - base + k) % 16)]!;
    },
  })),
  fc.nat().map((i) => ({
    kind: `character ${i} deleted`,
    apply: () => tokenA.slice(0, i % tokenA.length) + tokenA.slice((i % tokenA.length) + 1),
  })),
  fc.tuple(fc.nat(), b64Char).map(([i, c]) => ({
    kind: `${c} inserted at ${i}`,
    apply: () => tokenA.slice(0, i % (tokenA.length + 1)) + c + tokenA.slice(i % (tokenA.length + 1)),
  })),
  fc.nat().map((n) => ({ kind: `truncated`, apply: () => tokenA.slice(0, n % tokenA.length) })),
  fc
    .string({ unit: b64Char, minLength: 1, maxLength: 130 })
    .map((s) => ({ kind: `extended by ${s}`, apply: () => tokenA + s })),
  fc
    .constantFrom(
      'mac of B',
      'payload of B',
      'payload of other call',
      'mac of other call',
      'tag of nothing',
      'lowercased',
      'uppercased',
      'prefix cw2',
      'prefix CW1',
      'padded',
      'two tokens',
      'token and text',
      'quoted',
    )
    .map((kind) => ({
      kind,
      apply: () => {
        const [pre, tag, payload, mac] = parts(tokenA);
        const b = parts(tokenB);
        const o = parts(tokenOther);
        switch (kind) {
          case 'mac of B':
            return [pre, tag, payload, b[3]].join('.');
          case 'payload of B':
            return [pre, tag, b[2], mac].join('.');
          case 'payload of other call':
            return [pre, tag, o[2], mac].join('.');
          case 'mac of other call':
            return [pre, tag, payload, o[3]].join('.');
          case 'tag of nothing':
            return [pre, 'AAAAAA', payload, mac].join('.');
          case 'lowercased':
            return tokenA.toLowerCase();
          case 'uppercased':
            return tokenA.toUpperCase();
          case 'prefix cw2':
            return `cw2${tokenA.slice(3)}`;
          case 'prefix CW1':
            return `CW1${tokenA.slice(3)}`;
          case 'padded':
            return [pre, tag, `${payload}=`, `${mac}==`].join('.');
          case 'two tokens':
            return `${tokenA},${tokenB}`;
          case 'token and text':
            return `${tokenA} x`;
          default:
            return `"${tokenA}"`;
        }
      },
    })),
  // The payload re-encoded with one bit flipped (another slot, a later lifetime end, another call), the MAC kept.
  fc.nat({ max: 29 * 8 - 1 }).map((bit) => ({
    kind: `payload bit ${bit} flipped`,
    apply: () => {
      const [pre, tag, payload, mac] = parts(tokenA);
      const bytes = Buffer.from(payload, 'base64url');
      bytes[bit >> 3]! ^= 1 << (bit & 7);
      return [pre, tag, bytes.toString('base64url'), mac].join('.');
    },
  })),
  // A token of the right shape, all random.
  fc
    .tuple(
      fc.string({ unit: b64Char, minLength: 6, maxLength: 6 }),
      fc.string({ unit: b64Char, minLength: 39, maxLength: 39 }),
      fc.string({ unit: b64Char, minLength: 22, maxLength: 22 }),
    )
    .map(([tag, p, m]) => ({
      kind: 'random token of the right shape',
      apply: () => `cw1.${tag}.${p}.${m}`,
    })),
  fc
    .oneof(
      fc.string({ unit: printable, minLength: 1, maxLength: 200 }),
      fc.string({ unit: printable, minLength: 201, maxLength: 9000 }),
    )
    .map((s) => ({ kind: `random ${s.length} characters`, apply: () => s })),
);

/** Authorization header values that carry no genuine token (undefined: no header). */
const forgedAuthorization: fc.Arbitrary<{ kind: string; value: () => string | undefined }> = fc.oneof(
  { weight: 6, arbitrary: alteredToken.map((r) => ({ kind: r.kind, value: () => `Bearer ${r.apply()}` })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'missing',
        'empty',
        'Bearer',
        'Basic',
        'Token',
        'Bearer:',
        'Bearer\tgenuine',
        'genuine alone',
        'Bearer Bearer genuine',
        'two headers',
      )
      .map((kind) => ({
        kind,
        value: () => {
          switch (kind) {
            case 'missing':
              return undefined;
            case 'empty':
              return '';
            case 'Bearer':
              return 'Bearer';
            case 'Basic':
              return `Basic ${Buffer.from(`x:${tokenA}`).toString('base64')}`;
            case 'Token':
              return `Token ${tokenA}`;
            case 'Bearer:':
              return `Bearer:${tokenA}`;
            case 'Bearer\tgenuine':
              return `Bearer\t${tokenA}`;
            case 'genuine alone':
              return tokenA;
            case 'Bearer Bearer genuine':
              return `Bearer Bearer ${tokenA}`;
            default:
              return `Bearer ${tokenA}, Bearer ${tokenB}`;
          }
        },
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({
        unit: fc
          .integer({ min: 0x20, max: 0xff })
          .filter((c) => c !== 0x7f)
          .map((c) => String.fromCharCode(c)),
        maxLength: 300,
      })
      .map((s) => ({ kind: 'latin1 noise', value: () => `Bearer ${s}`.trim() })),
  },
);

describe('forged tokens', () => {
  it(
    'any app request with a missing, malformed, random or altered token is 401 invalid_token (before 415, 400, 404, 405), nothing written',
    async () => {
      const target = fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .constantFrom(...ROUTES)
            .map((r) => ({ method: r.method as string, path: appPath(encodeURIComponent(RINGING), r.suffix) })),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(
              fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
              fc.constantFrom(
                '/v1/app/calls',
                '/v1/app/',
                '/v1/app/x',
                `/v1/app/calls/${encodeURIComponent(RINGING)}/nothing`,
                '/v1/app/calls/..',
                '/v1/app/calls/%2e%2e/answer',
                '/v1/app/calls/a%2Fb/answer',
                `/v1/app/calls/${encodeURIComponent(OTHER)}/answer`,
              ),
            )
            .map(([method, path]) => ({ method, path })),
        },
      );
      const body = fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        {
          weight: 1,
          arbitrary: fc.tuple(anyJson, contentTypeArb).map(([v, ct]) => ({ bytes: labelled(jsonBytes(v)), ct })),
        },
        { weight: 1, arbitrary: fc.tuple(malformedJsonArb, contentTypeArb).map(([bytes, ct]) => ({ bytes, ct })) },
      );
      const printable = forgedAuthorization.map((a) => Object.assign(a, { [fc.toStringMethod]: () => a.kind }));
      await fc.assert(
        fc.asyncProperty(target, printable, body, async ({ method, path }, auth, b) => {
          count.add('forged token');
          const authorization = auth.value();
          const headers = { authorization, ...(b ? { 'content-type': b.ct } : {}) };
          const what = `${auth.kind}: ${method} ${path} authorization=${JSON.stringify(authorization)?.slice(0, 300)}`;
          const r = await guard.unchanged(() => send(t, method, path, headers, b?.bytes), what);
          expectProblem(r, ['401 invalid_token'], what);
        }),
        { numRuns: 250 },
      );
    },
    TIMEOUT,
  );
});

// ---------------------------------------------------------------------------------------------
// Genuine token, bad input
// ---------------------------------------------------------------------------------------------

const genuine = () => ({ authorization: `Bearer ${tokenA}` });

describe('a genuine token with bad input', () => {
  it(
    'a path id that is no callId, spelled any way, is 400 validation_failed naming callId',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...ROUTES),
          badPathIdArb('callId'),
          fc.constantFrom(...ENCODERS),
          async (route, id, encoder) => {
            count.add('app: bad path id');
            const segment = encodeId(id, encoder) ?? encodeId(id, 'uriComponent-upper')!;
            const path = appPath(segment, route.suffix);
            const r = await guard.unchanged(() => send(t, route.method, path, genuine()), path.slice(0, 300));
            expectValidation(r, 'callId', path.slice(0, 300));
          },
        ),
        { numRuns: 100 },
      );
    },
    TIMEOUT,
  );

  it(
    'traversal and encoding tricks in the path: 400 (no callId), 403 token_scope (another callId), 404/405 (another path); nothing written',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...ROUTES),
          trickSegmentArb.filter((s) => !s.includes('?')),
          async (route, trick) => {
            const decoded = decodeSegmentC(trick);
            const oneSegment = !trick.includes('/');
            const isOurs = oneSegment && decoded === RINGING;
            // An id holding the literal text "%2F" is its own property (call-lifecycle.test.ts): 400 or 403 here.
            const literalPercent2F = /%2f/i.test(decoded ?? '');
            fc.pre(!(isOurs && route.method === 'POST'));
            count.add('app: path trick');
            const path = appPath(trick, route.suffix);
            const what = `${route.method} ${path.slice(0, 300)} (decoded ${JSON.stringify(decoded)?.slice(0, 80)})`;
            const r = await guard.unchanged(() => send(t, route.method, path, genuine()), what);
            if (!oneSegment) expectProblem(r, undefined, what);
            else if (isOurs) expect(r.status).toBe(200);
            else if (decoded !== undefined && isCallIdC(decoded))
              expectProblem(
                r,
                literalPercent2F ? ['403 token_scope', '400 validation_failed'] : ['403 token_scope'],
                what,
              );
            else expectValidation(r, 'callId', what);
          },
        ),
        { numRuns: 150 },
      );
    },
    TIMEOUT,
  );

  it(
    'a body of another media type is 415; not UTF-8 or not JSON is 400 malformed_json; over 16 KiB is 413: the call is not confirmed, answered or declined',
    async () => {
      const notJson = fc.oneof(
        malformedJsonArb,
        withInvalidUtf8(anyJson.map((v) => JSON.stringify(v))),
        withInvalidUtf8(fc.constant('{}')),
        fc
          .integer({ min: 16 * 1024 + 1, max: 30_000 })
          .map((n) => labelled(Buffer.from(nested(Math.ceil(n / 2), 'array')))),
        fc.integer({ min: 16 * 1024 + 1, max: 30_000 }).map((n) => labelled(Buffer.from(`{"x":"${'a'.repeat(n)}"}`))),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...ROUTES.filter((r) => r.method === 'POST')),
          notJson,
          contentTypeArb,
          async (route, bytes, ct) => {
            count.add('app: bad body');
            const path = appPath(encodeURIComponent(RINGING), route.suffix);
            const verdict = mediaTypeVerdictC(ct);
            const what = `${route.method} ${path} content-type ${JSON.stringify(ct)} (${verdict}) body(${bytes.length}) ${JSON.stringify(bytes.subarray(0, 100).toString('latin1'))}`;
            const r = await guard.unchanged(
              () => send(t, route.method, path, { ...genuine(), 'content-type': ct }, bytes),
              what,
            );
            const expected =
              bytes.length > 16 * 1024
                ? ['413 payload_too_large']
                : verdict === 'refused'
                  ? ['415 unsupported_media_type']
                  : verdict === 'accepted'
                    ? ['400 malformed_json']
                    : ['415 unsupported_media_type', '400 malformed_json'];
            expectProblem(r, expected, what);
          },
        ),
        { numRuns: 120 },
      );
    },
    TIMEOUT,
  );

  it(
    'a GET with any JSON body is just a read (200, nothing written), or 415 for another media type',
    async () => {
      await fc.assert(
        fc.asyncProperty(anyJson, contentTypeArb, async (v, ct) => {
          count.add('app: view with a body');
          const bytes = jsonBytes(v);
          const path = appPath(encodeURIComponent(RINGING), '');
          const verdict = mediaTypeVerdictC(ct);
          const what = `GET with content-type ${JSON.stringify(ct)} (${verdict}) body ${bytes.toString().slice(0, 200)}`;
          const r = await guard.unchanged(
            () => send(t, 'GET', path, { ...genuine(), 'content-type': ct }, bytes),
            what,
          );
          if (verdict === 'refused' || (verdict === 'either' && r.status === 415))
            expectProblem(r, ['415 unsupported_media_type'], what);
          else expect(`${r.status} ${r.body?.status}`).toBe('200 ringing');
        }),
        { numRuns: 60 },
      );
    },
    TIMEOUT,
  );

  it(
    'a wrong method is 405 method_not_allowed and a path that is no route 404 not_found',
    async () => {
      const wrong = fc.oneof(
        fc
          .tuple(fc.constantFrom(...ROUTES), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'))
          .filter(([r, m]) => r.method !== m)
          .map(([r, m]) => ({
            method: m,
            path: appPath(encodeURIComponent(RINGING), r.suffix),
            expect: '405 method_not_allowed',
          })),
        fc
          .tuple(
            fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
            fc.constantFrom(
              '/nothing',
              '/answer/x',
              '/confirm/',
              '/answer/..',
              '/ANSWER',
              '/answer%2F',
              '/./answer',
              '//answer',
            ),
          )
          .map(([m, suffix]) => ({
            method: m,
            path: appPath(encodeURIComponent(RINGING), suffix),
            expect: suffix === '/answer%2F' ? '400 validation_failed|404 not_found' : '404 not_found',
          })),
        fc
          .tuple(
            fc.constantFrom('GET', 'POST'),
            fc.constantFrom('/v1/app/calls', '/v1/app/calls/', '/v1/app/', '/v1/app/call/x', '/v1/app/Calls/x'),
          )
          .map(([m, path]) => ({ method: m, path, expect: '404 not_found' })),
      );
      await fc.assert(
        fc.asyncProperty(wrong, async (w) => {
          count.add('app: wrong method or route');
          const what = `${w.method} ${w.path}`;
          const r = await guard.unchanged(() => send(t, w.method, w.path, genuine()), what);
          expectProblem(r, w.expect.split('|'), what);
        }),
        { numRuns: 60 },
      );
    },
    TIMEOUT,
  );
});
