/**
 * Generators and oracles for the "bad input never hurts" properties (test/property).
 *
 * Everything here is written from the contract (/work/shared/CONTRACT.md and the project's
 * openapi.yaml), not from the code under test: the id rules, the media-type rule, the path
 * encodings a PBX may sign with. Generators build requests that are invalid by construction; the
 * oracles say so explicitly, so a property can tell "the service refused a bad request" from
 * "the generator made a valid one" and never has to guess.
 *
 * Sending a request and checking the answer (a raw sender with a deadline, the signer, the
 * problem-details checks, the table guard) are the contract tests' own, in contract-helpers.ts.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { BUNDLE, TEAM_ID } from './contract-helpers.js';

// ---------------------------------------------------------------------------------------------
// Oracles: the contract's rules, written independently
// ---------------------------------------------------------------------------------------------

/** `tenantId`, `userId`, `deviceId`: 1-128 characters of `[A-Za-z0-9._:@+-]`, not `.` or `..`. */
export const isSimpleIdC = (s: string): boolean => /^[A-Za-z0-9._:@+-]{1,128}$/.test(s) && s !== '.' && s !== '..';

/** `callId`: 1-256 printable ASCII characters, no whitespace, `/`, `?` or `#`, not `.` or `..`. */
export const isCallIdC = (s: string): boolean =>
  /^[\x21-\x7e]{1,256}$/.test(s) && !/[/?#]/.test(s) && s !== '.' && s !== '..';

export type IdKind = 'callId' | 'userId' | 'deviceId';
export const isIdC = (kind: IdKind, s: string): boolean => (kind === 'callId' ? isCallIdC(s) : isSimpleIdC(s));

/**
 * A path segment percent-decoded once, as the contract's "percent-encoded in paths" means:
 * `%XX` is a byte, a `%` not followed by two hex digits is itself. `undefined` when the bytes
 * are not UTF-8 (no id can be spelled so).
 */
export function decodeSegmentC(segment: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; ) {
    const m = /^%([0-9A-Fa-f]{2})/.exec(segment.slice(i, i + 3));
    if (m) {
      bytes.push(parseInt(m[1]!, 16));
      i += 3;
    } else {
      for (const b of Buffer.from(segment[i]!, 'latin1')) bytes.push(b);
      i += 1;
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * What the contract says of a content-type for a request with a body: `accepted` (application/json,
 * any case, a charset only if utf-8), `refused` (another media type, another charset, or none),
 * or `either` when the header is not well-formed RFC 9110 syntax past the media type (a parameter
 * without a name or value, an unterminated quote): the contract does not say, so both are fine.
 */
export function mediaTypeVerdictC(value: string | undefined): 'accepted' | 'refused' | 'either' {
  if (value === undefined) return 'refused';
  const params = splitParams(value);
  const type = (params?.[0] ?? value.split(';')[0]!).trim().toLowerCase();
  if (type !== 'application/json') return 'refused';
  if (params === undefined) return 'either';
  let malformed = false;
  for (const p of params.slice(1)) {
    const t = p.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq <= 0 || eq === t.length - 1 || /\s/.test(t.slice(0, eq))) {
      malformed = true;
      continue;
    }
    const name = t.slice(0, eq).toLowerCase();
    let v = t.slice(eq + 1);
    if (v.startsWith('"')) {
      if (!/^"(?:[^"\\]|\\.)*"$/.test(v)) {
        malformed = true;
        continue;
      }
      v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    } else if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v)) {
      malformed = true;
      continue;
    }
    if (name === 'charset' && v.toLowerCase() !== 'utf-8') return 'refused';
  }
  return malformed ? 'either' : 'accepted';
}

/** `;`-separated parts of a media type, `;` inside quoted strings kept; undefined for an unterminated quote. */
function splitParams(value: string): string[] | undefined {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      cur += c;
      if (c === '\\' && i + 1 < value.length) cur += value[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      cur += c;
    } else if (c === ';') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) return undefined;
  parts.push(cur);
  return parts;
}

/** Does this text, as bytes, parse as one JSON text (UTF-8, BOM not allowed)? */
export function parsesAsJsonC(bytes: Buffer): boolean {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/** Code units and sequences that break naive string handling. */
export const NASTY = [
  '\u0000', // NUL
  '\uD800',
  '\uDBFF',
  '\uDC00',
  '\uDFFF', // lone surrogates
  '\uDFFF\uD800', // reversed pair
  '\u202E',
  '\u202D',
  '\u200F',
  '\u061C', // bidi overrides and marks (RTL)
  '\u200B',
  '\u200D',
  '\uFEFF',
  '\u2028',
  '\u2029',
  '\u0085',
  '\u00A0',
  'e\u0301',
  '\u0301\u0302\u0303\u0304\u0305',
  'Z\u0351\u0352\u0357\u035B\u0360\u0361', // combining marks
  '😀',
  '👩‍👩‍👧‍👦',
  '🇺🇳',
  '🏳️‍🌈',
  '\u{10FFFF}',
  '\uFFFF',
  '\uFFFE',
  '\uFFFD',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '\u000B',
  '\u001F',
  '\u007F',
  '\u0080',
  '\u009F',
  '"',
  '\\',
  "'",
  '`',
  '%',
  '%00',
  '%2e%2e',
  '../',
  '..\\',
  '/',
  '?',
  '#',
  '&',
  '=',
  ';',
  ',',
  ' ',
  'İ',
  'ß',
  'ﬀ',
  'Ω',
  'Å',
  '한국어',
  'العربية',
  'עברית',
  '日本語',
  '<script>alert(1)</script>',
  "'; DROP TABLE x; --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j-style lookup string is the input under test.
  '${jndi:x}',
  '{{7*7}}',
  '__proto__',
  'constructor',
];

/** One odd piece: a NASTY sequence, or a short random string of any Unicode (or ASCII). */
export const oddPiece: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);

/** A short string made of odd pieces (may be empty). */
export const oddString = (maxPieces = 6): fc.Arbitrary<string> =>
  fc.array(oddPiece, { maxLength: maxPieces }).map((a) => a.join(''));

/** An odd string that contains at least one odd piece. */
export const oddNonEmpty = (maxPieces = 6): fc.Arbitrary<string> =>
  fc.array(oddPiece, { minLength: 1, maxLength: maxPieces }).map((a) => a.join(''));

/** A long string of odd pieces, `min`-`max` UTF-16 units (a slice may split a pair: odd on purpose). */
export const hugeOddString = (min: number, max: number): fc.Arbitrary<string> =>
  fc.tuple(fc.array(oddPiece, { minLength: 1, maxLength: 4 }), fc.integer({ min, max })).map(([pieces, n]) => {
    let s = pieces.join('');
    if (s.length === 0) s = 'x';
    return s.repeat(Math.ceil(n / s.length)).slice(0, n);
  });

/** An odd string of more than `max` characters, counted either way (UTF-16 units and code points). */
export const overLong = (max: number, upTo: number): fc.Arbitrary<string> =>
  hugeOddString(max + 1, upTo)
    .map((s) => (Array.from(s).length > max ? s : s + 'x'.repeat(max + 1)))
    .filter((s) => Array.from(s).length > max);

/** An odd string that certainly has a character outside printable ASCII (so no id can be it). */
export const nonAsciiOdd: fc.Arbitrary<string> = fc
  .tuple(
    oddString(3),
    fc.constantFrom(
      '\u0000',
      '\uD800',
      '\u202E',
      'é',
      '😀',
      'e\u0301',
      '\uFEFF',
      '\n',
      '\u007F',
      ' ',
      '\u00A0',
      '日本',
    ),
    oddString(3),
  )
  .map(([a, b, c]) => a + b + c);

// ---------------------------------------------------------------------------------------------
// JSON values
// ---------------------------------------------------------------------------------------------

const KEY = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 2, arbitrary: oddString(2) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'callId',
      'from',
      'reason',
      'platform',
      'hasOwnProperty',
      '',
    ),
  },
);

const jsonLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1e308, -1e-308, 2 ** 53 + 1, 5, 60, 300, 301, 4.5),
  fc.string({ maxLength: 10 }),
  oddString(4),
);

/** Any JSON value (odd strings, odd keys, a few levels deep). */
export const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, jsonLeaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(KEY, tie('value'), { maxKeys: 5 }),
})).value;

/** A JSON value that is not a plain object (and not null). */
export const nonObjectJson: fc.Arbitrary<unknown> = anyJson.filter(
  (v) => v !== null && (typeof v !== 'object' || Array.isArray(v)),
);

/** A JSON value that is not of the given type (and never null, which means "absent"). */
export function wrongType(kind: 'string' | 'boolean' | 'integer' | 'object' | 'array'): fc.Arbitrary<unknown> {
  return anyJson.filter((v) => {
    if (v === null) return false;
    switch (kind) {
      case 'string':
        return typeof v !== 'string';
      case 'boolean':
        return typeof v !== 'boolean';
      case 'integer':
        return !Number.isInteger(v);
      case 'object':
        return typeof v !== 'object' || Array.isArray(v);
      case 'array':
        return !Array.isArray(v);
      default:
        return kind satisfies never;
    }
  });
}

/** Unknown members (names that no body schema knows), to mix into any body. */
export const unknownMembers: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  KEY.filter(
    (k) =>
      ![
        'callId',
        'from',
        'to',
        'devices',
        'ringTimeoutSeconds',
        'hasVideo',
        'metadata',
        'reason',
        'platform',
        'pushToken',
        'bundleId',
        'teamId',
        'environment',
        'pushType',
      ].includes(k),
  ),
  anyJson,
  { maxKeys: 4 },
);

/** JSON text with an own member named `__proto__` etc. survives `JSON.stringify` only via defineProperty. */
export function withMembers<T extends object>(base: T, extra: Record<string, unknown>): T {
  const out: any = { ...base };
  for (const [k, v] of Object.entries(extra))
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Valid building blocks (the contract's formats)
// ---------------------------------------------------------------------------------------------

/** An APNs token: hex, an even number of 64-200 digits, any case. */
export const pushTokenArb: fc.Arbitrary<string> = fc
  .tuple(fc.uint8Array({ minLength: 32, maxLength: 100 }), fc.constantFrom('lower', 'upper', 'mixed'))
  .map(([b, c]) => {
    const h = Buffer.from(b).toString('hex');
    return c === 'lower'
      ? h
      : c === 'upper'
        ? h.toUpperCase()
        : Array.from(h, (x, i) => (i % 3 === 0 ? x.toUpperCase() : x)).join('');
  });

const SIMPLE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-';
export const simpleIdArb: fc.Arbitrary<string> = fc
  .string({ unit: fc.constantFrom(...SIMPLE_CHARS), minLength: 1, maxLength: 128 })
  .filter((s) => s !== '.' && s !== '..');

const CALL_ID_CHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter(
  (c) => !'/?#'.includes(c),
);
export const callIdCharArb = fc.constantFrom(...CALL_ID_CHARS);

/** A valid callId, made unique when used (`uniqueCallIdOf`), so shrinking re-runs never collide. */
export const callIdCoreArb: fc.Arbitrary<string> = fc.string({ unit: callIdCharArb, minLength: 1, maxLength: 200 });
let uniq = 0;
const RUN = randomUUID().slice(0, 8);
export const uniqueCallIdOf = (core: string): string => `${core}~${RUN}${(uniq++).toString(36)}`;

const PN_LABEL = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'),
  minLength: 1,
  maxLength: 12,
});
/** pnParam: `<TeamID>.<bundle id>.voip` (VoIP) or `<TeamID>.<bundle id>` (alert). */
export const pnParamArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(`${TEAM_ID}.${BUNDLE}.voip`) },
  { weight: 1, arbitrary: fc.constant(`${TEAM_ID}.${BUNDLE}`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(TEAM_ID, 'OTHERTEAM9', 'T1'),
        fc.array(PN_LABEL, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
      )
      .map(([team, labels, voip]) => `${team}.${labels.join('.')}${voip ? '.voip' : ''}`),
  },
);

export const inlineDeviceArb = fc.record({
  pnProvider: fc.constant('apns'),
  pnPrid: pushTokenArb,
  pnParam: pnParamArb,
});

/** A string of 1-`max` UTF-16 units, odd ones included. */
const boundedOdd = (max: number) =>
  fc
    .oneof(fc.string({ minLength: 1, maxLength: Math.min(max, 30) }), oddNonEmpty(4), hugeOddString(1, max))
    .filter((s) => s.length >= 1 && s.length <= max);

/** `from`: number and/or uri (odd Unicode welcome), displayName of any length. */
export const callerArb: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      number: fc.oneof(boundedOdd(64), fc.constant(null)),
      uri: fc.oneof(boundedOdd(512), fc.constant(null)),
      displayName: fc.oneof(oddString(6), hugeOddString(200, 3000), fc.constant(null)),
    },
    { requiredKeys: [] },
  )
  .filter((c) => (c.number !== undefined && c.number !== null) || (c.uri !== undefined && c.uri !== null));

/** Names an object has without being given them: as metadata keys they are a property of their own (call-lifecycle). */
export const PROTOTYPE_NAMES = [
  '',
  'constructor',
  '__proto__',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'toJSON',
  'isPrototypeOf',
  '__defineGetter__',
  'propertyIsEnumerable',
  'toLocaleString',
];

/**
 * metadata: string to string, at most 1 KiB serialized (odd keys and values). Keys are never
 * empty or an Object.prototype name here: `metadataPairsArb` (its own property) has those.
 */
export const metadataArb: fc.Arbitrary<Record<string, string>> = fc
  .dictionary(
    fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), oddNonEmpty(2)).filter((k) => !PROTOTYPE_NAMES.includes(k)),
    fc.oneof(fc.string({ maxLength: 40 }), oddString(4)),
    { maxKeys: 6 },
  )
  .filter((m) => Buffer.byteLength(JSON.stringify(m)) <= 1024);

/**
 * metadata as [key, value] pairs with unique keys, any string keys (empty and Object.prototype
 * names too), as JSON text of at most 1 KiB.
 */
export const metadataPairsArb: fc.Arbitrary<{ pairs: [string, string][]; text: string }> = fc
  .uniqueArray(
    fc.tuple(
      fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
        { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
        { weight: 1, arbitrary: oddString(2) },
      ),
      fc.oneof(fc.string({ maxLength: 30 }), oddString(3)),
    ),
    { selector: ([k]) => k, minLength: 1, maxLength: 6 },
  )
  .map((pairs) => ({
    pairs,
    text: `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`,
  }))
  .filter((m) => Buffer.byteLength(m.text) <= 1024);

/**
 * A valid create body (callId still to be made unique). Null members, unknown members and every
 * optional member in or out.
 */
export const validCreateArb = fc
  .record({
    callIdCore: callIdCoreArb,
    from: callerArb,
    to: fc.option(fc.oneof(fc.record({ userId: simpleIdArb }), fc.constant({}), fc.constant({ userId: null })), {
      nil: undefined,
    }),
    devices: fc.option(fc.array(inlineDeviceArb, { maxLength: 10 }), { nil: undefined }),
    ringTimeoutSeconds: fc.option(fc.oneof(fc.integer({ min: 5, max: 300 }), fc.constant(null)), { nil: undefined }),
    hasVideo: fc.option(fc.oneof(fc.boolean(), fc.constant(null)), { nil: undefined }),
    metadata: fc.option(fc.oneof(metadataArb, fc.constant(null)), { nil: undefined }),
    unknown: unknownMembers,
    duplicateFirstDevice: fc.boolean(),
  })
  .filter((r) => (r.to as any)?.userId != null || (r.devices?.length ?? 0) > 0)
  .map((r) => {
    const devices =
      r.devices && r.duplicateFirstDevice && r.devices.length > 0 && r.devices.length < 10
        ? [...r.devices, r.devices[0]!]
        : r.devices;
    const body: Record<string, unknown> = { from: r.from };
    for (const [k, v] of Object.entries({
      to: r.to,
      devices,
      ringTimeoutSeconds: r.ringTimeoutSeconds,
      hasVideo: r.hasVideo,
      metadata: r.metadata,
    })) {
      if (v !== undefined) body[k] = v;
    }
    return { callIdCore: r.callIdCore, body: withMembers(body, r.unknown) };
  })
  // Valid means within the 16 KiB a body may have (a huge display name escapes to 6 bytes a
  // character), with uniqueCallIdOf's suffix on the callId.
  .filter(
    (v) =>
      Buffer.byteLength(JSON.stringify({ callId: `${v.callIdCore}~${'x'.repeat(16)}`, ...(v.body as object) })) <=
      16 * 1024,
  );

/** A valid device registration body. */
export const validDeviceArb = fc.record(
  {
    platform: fc.constant('ios'),
    pushToken: pushTokenArb,
    bundleId: fc.constantFrom(BUNDLE, 'com.example.other', 'a', 'A-b.C-d'),
    teamId: fc.oneof(fc.constant(TEAM_ID), fc.constant(null)),
    environment: fc.constantFrom('production', 'sandbox'),
    pushType: fc.constantFrom('voip', 'alert', null),
  },
  { requiredKeys: ['platform', 'pushToken', 'bundleId', 'environment'] },
);

// ---------------------------------------------------------------------------------------------
// Invalid by construction: bodies
// ---------------------------------------------------------------------------------------------

/** A string that is not a callId: empty, `.`/`..`, too long, or with a forbidden character. */
export const badCallIdString: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom('', '.', '..'),
    fc.string({ unit: callIdCharArb, minLength: 257, maxLength: 600 }),
    fc
      .tuple(
        fc.string({ unit: callIdCharArb, maxLength: 20 }),
        fc.oneof(
          fc.constantFrom(' ', '\t', '\n', '\r', '/', '?', '#', '\u0000', '\u007f', '\u0085', '\u00a0'),
          nonAsciiOdd,
        ),
        fc.string({ unit: callIdCharArb, maxLength: 20 }),
      )
      .map(([a, b, c]) => a + b + c),
  )
  .filter((s) => !isCallIdC(s));

/** A string that is not a userId/deviceId/tenantId. */
export const badSimpleIdString: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom('', '.', '..'),
    fc.string({ unit: fc.constantFrom(...SIMPLE_CHARS), minLength: 129, maxLength: 300 }),
    fc
      .tuple(
        fc.string({ unit: fc.constantFrom(...SIMPLE_CHARS), maxLength: 12 }),
        fc.oneof(
          fc.constantFrom(
            ' ',
            '/',
            '?',
            '#',
            '!',
            ',',
            '%',
            '~',
            '*',
            '\\',
            '"',
            '\u0000',
            '$',
            '&',
            "'",
            '(',
            '=',
            '[',
            '`',
            '{',
            '|',
          ),
          nonAsciiOdd,
        ),
        fc.string({ unit: fc.constantFrom(...SIMPLE_CHARS), maxLength: 12 }),
      )
      .map(([a, b, c]) => a + b + c),
  )
  .filter((s) => !isSimpleIdC(s));

/** Not an APNs token: odd length, too short or long, not hex. */
export const badPushToken: fc.Arbitrary<unknown> = fc
  .oneof(
    wrongType('string'),
    fc.constantFrom(
      '',
      'ab'.repeat(31),
      'ab'.repeat(101),
      `${'ab'.repeat(32)}a`,
      'zz'.repeat(32),
      `0x${'ab'.repeat(32)}`,
      ` ${'ab'.repeat(32)}`,
    ),
    fc.tuple(pushTokenArb, fc.nat(), nonAsciiOdd).map(([tk, i, odd]) => {
      const at = i % (tk.length + 1);
      return tk.slice(0, at) + odd + tk.slice(at);
    }),
  )
  .filter((v) => typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2}){32,100}$/.test(v));

/**
 * A create body with exactly one thing wrong (and odd unknown members around it): which member
 * the validation errors must name (`undefined`: the contract names none, e.g. no targets).
 */
export const invalidCreateArb: fc.Arbitrary<{ body: unknown; names: string | undefined; what: string }> = fc
  .tuple(
    validCreateArb,
    fc.oneof(
      // callId
      fc.record({
        what: fc.constant('callId wrong type'),
        set: fc.record({ callId: wrongType('string') }),
        names: fc.constant('callId'),
      }),
      fc.record({
        what: fc.constant('callId invalid'),
        set: fc.record({ callId: badCallIdString }),
        names: fc.constant('callId'),
      }),
      fc.record({
        what: fc.constant('callId absent'),
        set: fc.constant({ callId: undefined }),
        names: fc.constant('callId'),
      }),
      fc.record({ what: fc.constant('callId null'), set: fc.constant({ callId: null }), names: fc.constant('callId') }),
      // from
      fc.record({
        what: fc.constant('from wrong type'),
        set: fc.record({ from: wrongType('object') }),
        names: fc.constant('from'),
      }),
      fc.record({
        what: fc.constant('from absent'),
        set: fc.constant({ from: undefined }),
        names: fc.constant('from'),
      }),
      fc.record({
        what: fc.constant('from without number and uri'),
        set: fc.record({ from: fc.record({ displayName: oddString(4) }, { requiredKeys: [] }) }),
        names: fc.constant('from'),
      }),
      fc.record({
        what: fc.constant('from.number bad'),
        set: fc.record({
          from: fc.record({
            number: fc.oneof(wrongType('string'), fc.constant(''), overLong(64, 2000)),
            uri: fc.constant('sip:a@b'),
          }),
        }),
        names: fc.constant('from'),
      }),
      fc.record({
        what: fc.constant('from.uri bad'),
        set: fc.record({
          from: fc.record({
            uri: fc.oneof(wrongType('string'), fc.constant(''), overLong(512, 3000)),
            number: fc.constant('+1'),
          }),
        }),
        names: fc.constant('from'),
      }),
      fc.record({
        what: fc.constant('from.displayName wrong type'),
        set: fc.record({ from: fc.record({ number: fc.constant('+1'), displayName: wrongType('string') }) }),
        names: fc.constant('from'),
      }),
      // to
      fc.record({
        what: fc.constant('to wrong type'),
        set: fc.record({ to: wrongType('object') }),
        names: fc.constant('to'),
      }),
      fc.record({
        what: fc.constant('to.userId bad'),
        set: fc.record({ to: fc.record({ userId: fc.oneof(wrongType('string'), badSimpleIdString) }) }),
        names: fc.constant('to'),
      }),
      // devices
      fc.record({
        what: fc.constant('devices wrong type'),
        set: fc.record({ devices: wrongType('array') }),
        names: fc.constant('devices'),
      }),
      fc.record({
        what: fc.constant('more than 10 devices'),
        set: fc.record({ devices: fc.array(inlineDeviceArb, { minLength: 11, maxLength: 14 }) }),
        names: fc.constant('devices'),
      }),
      fc.record({
        what: fc.constant('a device wrong'),
        set: fc
          .tuple(
            fc.array(inlineDeviceArb, { minLength: 0, maxLength: 5 }),
            fc.oneof(
              wrongType('object'),
              fc
                .tuple(
                  inlineDeviceArb,
                  fc.oneof(
                    wrongType('string'),
                    fc.constantFrom('fcm', 'APNS', 'apns ', 'apns2', ''),
                    oddNonEmpty(2),
                    fc.constant(undefined),
                  ),
                )
                .map(([d, p]) => ({ ...d, pnProvider: p })),
              fc.tuple(inlineDeviceArb, badPushToken).map(([d, p]) => ({ ...d, pnPrid: p })),
              fc
                .tuple(
                  inlineDeviceArb,
                  fc.oneof(
                    wrongType('string'),
                    fc.constantFrom(
                      '',
                      'voip',
                      `${TEAM_ID}.voip`,
                      'nodots',
                      '.voip',
                      `${TEAM_ID}..voip`,
                      `${TEAM_ID}.${BUNDLE}.`,
                    ),
                    fc.tuple(fc.constant(`${TEAM_ID}.`), nonAsciiOdd).map(([a, b]) => `${a}${b}.voip`),
                    fc.constant(undefined),
                  ),
                )
                .map(([d, p]) => ({ ...d, pnParam: p })),
            ),
            fc.nat(),
          )
          .map(([ok, bad, i]) => {
            const list: unknown[] = [...ok];
            list.splice(i % (ok.length + 1), 0, bad);
            return { devices: list };
          }),
        names: fc.constant('devices'),
      }),
      // ringTimeoutSeconds, hasVideo
      fc.record({
        what: fc.constant('ringTimeoutSeconds bad'),
        set: fc.record({
          ringTimeoutSeconds: fc.oneof(
            wrongType('integer'),
            fc.integer({ min: -1e9, max: 4 }),
            fc.integer({ min: 301, max: 1e9 }),
            fc.constantFrom(5.5, 299.9, '60', 1e308, -0.5),
          ),
        }),
        names: fc.constant('ringTimeoutSeconds'),
      }),
      fc.record({
        what: fc.constant('hasVideo bad'),
        set: fc.record({ hasVideo: fc.oneof(wrongType('boolean'), fc.constantFrom('true', 'false', 0, 1, [])) }),
        names: fc.constant('hasVideo'),
      }),
      // metadata
      fc.record({
        what: fc.constant('metadata wrong type'),
        set: fc.record({ metadata: fc.oneof(wrongType('object'), fc.constant(['a'])) }),
        names: fc.constant('metadata'),
      }),
      fc.record({
        what: fc.constant('metadata value not a string'),
        set: fc
          .tuple(metadataArb, fc.string({ maxLength: 5 }), wrongType('string'))
          .map(([m, k, v]) => ({ metadata: withMembers(m, { [k]: v }) })),
        names: fc.constant('metadata'),
      }),
      fc.record({
        what: fc.constant('metadata over 1 KiB'),
        set: fc
          .tuple(metadataArb, hugeOddString(1025, 4000))
          .map(([m, big]) => ({ metadata: withMembers(m, { big }) })),
        names: fc.constant('metadata'),
      }),
      // no targets
      fc.record({
        what: fc.constant('no targets'),
        set: fc.record({
          to: fc.constantFrom(undefined, null, {}, { userId: null }),
          devices: fc.constantFrom(undefined, null, []),
        }),
        names: fc.constant(undefined),
      }),
    ),
  )
  .map(([valid, m]) => {
    const body: any = withMembers({ callId: uniqueCallIdOf(valid.callIdCore) }, valid.body as Record<string, unknown>);
    for (const [k, v] of Object.entries(m.set as Record<string, unknown>)) {
      if (v === undefined) delete body[k];
      else body[k] = v;
    }
    return { body, names: m.names, what: m.what };
  });

/** A cancel body that is invalid: not an object (null is fine, so never null), or a reason that is not one of the five. */
export const CANCEL_REASONS = [
  'caller_hangup',
  'answered_elsewhere',
  'declined_elsewhere',
  'timeout',
  'error',
] as const;
export const badReason: fc.Arbitrary<unknown> = fc
  .oneof(
    wrongType('string'),
    fc.constantFrom(
      '',
      'CALLER_HANGUP',
      'Caller_Hangup',
      'caller_hangup ',
      ' timeout',
      'hangup',
      'remoteEnded',
      'answered',
      'cancel',
      'timeout\u0000',
      'error\n',
    ),
    oddNonEmpty(3),
    fc.string({ maxLength: 20 }),
  )
  .filter((r) => r !== null && !(CANCEL_REASONS as readonly unknown[]).includes(r));

export const invalidCancelArb: fc.Arbitrary<unknown> = fc.oneof(
  nonObjectJson,
  fc.tuple(unknownMembers, badReason).map(([u, reason]) => withMembers(u, { reason })),
);

/** A device body with exactly one thing wrong, and the codes it may get. */
export const invalidDeviceArb: fc.Arbitrary<{ body: unknown; names: string; codes: string[] }> = fc
  .tuple(
    validDeviceArb,
    unknownMembers,
    fc.oneof(
      fc.record({
        set: fc.record({
          platform: fc.oneof(
            wrongType('string'),
            fc.constantFrom('android', 'iOS', 'IOS', 'ios ', 'ipados', ''),
            oddNonEmpty(2),
            fc.constant(undefined),
          ),
        }),
        names: fc.constant('platform'),
      }),
      fc.record({
        set: fc.record({ pushToken: fc.oneof(badPushToken, fc.constant(undefined)) }),
        names: fc.constant('pushToken'),
      }),
      fc.record({
        set: fc.record({
          bundleId: fc.oneof(
            wrongType('string'),
            fc.constant(undefined),
            fc.tuple(fc.constant('com.'), nonAsciiOdd).map(([a, b]) => a + b),
            fc.constantFrom('com example', 'com/example', 'com..example', '.com', 'com.'),
          ),
        }),
        names: fc.constant('bundleId'),
      }),
      fc.record({
        set: fc.record({
          environment: fc.oneof(
            wrongType('string'),
            fc.constantFrom('development', 'Production', 'SANDBOX', 'prod', ''),
            oddNonEmpty(2),
            fc.constant(undefined),
          ),
        }),
        names: fc.constant('environment'),
      }),
      fc.record({
        set: fc.record({
          pushType: fc.oneof(wrongType('string'), fc.constantFrom('background', 'VOIP', 'Alert', ''), oddNonEmpty(2)),
        }),
        names: fc.constant('pushType'),
      }),
      fc.record({
        set: fc.record({
          teamId: fc.oneof(wrongType('string'), fc.constantFrom('', 'LOCAL TEAM', 'LOCALTEAM1 '), nonAsciiOdd),
        }),
        names: fc.constant('teamId'),
      }),
    ),
    fc.boolean(),
  )
  .map(([valid, unknown, m, unknownTeam]) => {
    const body: any = withMembers({ ...valid }, unknown);
    for (const [k, v] of Object.entries(m.set as Record<string, unknown>)) {
      if (v === undefined) delete body[k];
      else body[k] = v;
    }
    return { body, names: m.names, codes: ['validation_failed'], unknownTeam };
  })
  .chain((x) =>
    // Sometimes also (or instead) a well-formed team that is not configured: 400 unknown_team is then allowed.
    x.unknownTeam
      ? fc.constant({
          body: { ...(x.body as object), teamId: 'NOTCONFIGURED7' },
          names: x.names,
          codes: ['validation_failed', 'unknown_team'],
        })
      : fc.constant({ body: x.body, names: x.names, codes: x.codes }),
  );

/** Invalid UTF-8 byte sequences (lone continuation, overlong, surrogates, > U+10FFFF, truncated). */
export const INVALID_UTF8: number[][] = [
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xc0, 0x80],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xff, 0xfe],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xc3, 0x28],
  [0xe2, 0x28, 0xa1],
];

/** A Buffer that fast-check prints short (length and the first bytes), so counterexamples stay readable. */
export function labelled(b: Buffer): Buffer {
  Object.defineProperty(b, fc.toStringMethod, {
    value: () =>
      `Buffer(${b.length} bytes) ${JSON.stringify(b.subarray(0, 160).toString('latin1'))}${b.length > 160 ? '…' : ''}`,
    enumerable: false,
  });
  return b;
}

/** The bytes of `text` with an invalid UTF-8 sequence inserted at a character boundary. */
export const withInvalidUtf8 = (text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> =>
  fc
    .tuple(text, fc.constantFrom(...INVALID_UTF8), fc.nat(), fc.integer({ min: 1, max: 3 }))
    .map(([s, seq, at, times]) => {
      const cps = Array.from(s);
      const i = at % (cps.length + 1);
      const bad = Buffer.from(Array.from({ length: times }, () => seq).flat());
      return labelled(
        Buffer.concat([Buffer.from(cps.slice(0, i).join(''), 'utf8'), bad, Buffer.from(cps.slice(i).join(''), 'utf8')]),
      );
    });

/** JSON text that does not parse: truncated, garbled, JavaScript-not-JSON, or blank. */
export const malformedJsonArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.tuple(anyJson, fc.nat()).map(([v, n]) => {
      const s = JSON.stringify(v);
      return s.slice(0, n % Math.max(1, s.length));
    }),
    fc
      .tuple(anyJson, fc.constantFrom(',', '}', ']', 'x', '"', ':', '{', ' ,', 'undefined', '\u0000'))
      .map(([v, tail]) => JSON.stringify(v) + tail),
    fc.tuple(anyJson, fc.nat()).map(([v, n]) => {
      const s = JSON.stringify({ v });
      const i = 1 + (n % Math.max(1, s.length - 1));
      return `${s.slice(0, i)}${['\u0000', ',', "'", '/*x*/', '\\', '\n}'][n % 6]}${s.slice(i)}`;
    }),
    fc.constantFrom(
      ' ',
      '\n\t ',
      '{',
      '}',
      '[',
      '{"a":1,}',
      '[1,]',
      "{'a':1}",
      '{a:1}',
      'NaN',
      'Infinity',
      '-',
      '+1',
      '01',
      '.5',
      '1.',
      'nul',
      'tru',
      'undefined',
      '{"a":1}{"b":2}',
      '{"a":1} x',
      '"\\x41"',
      '"\\u12"',
      '"a\u0001b"',
      '"\t"',
      '{"a":1 /* c */}',
      '// c\n{}',
      '{"a"}',
      '{"a":}',
      '[1 2]',
      '\u00a0{}',
      '{}\uFEFF',
    ),
    fc.tuple(fc.integer({ min: 1, max: 2000 }), fc.constantFrom('[', '{"a":')).map(([d, open]) => open.repeat(d)),
  )
  .map((s) => Buffer.from(s, 'utf8'))
  .filter((b) => b.length > 0 && !parsesAsJsonC(b) && !parsesAsJsonC(withoutBom(b)))
  .map(labelled);

const withoutBom = (b: Buffer) => b.subarray(b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0);

/**
 * Broken JSON with a UTF-8 byte order mark in front: still broken (RFC 8259 lets a parser ignore
 * one BOM, nothing more), so still 400 malformed_json.
 */
export const bomThenMalformedJsonArb: fc.Arbitrary<Buffer> = malformedJsonArb.map((b) =>
  labelled(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])),
);

/** Deeply nested JSON text of exactly the given nesting, as arrays or objects, around a leaf. */
export function nested(depth: number, kind: 'array' | 'object' | 'mixed', leaf = '1'): string {
  if (kind === 'array') return `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
  if (kind === 'object') return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    if (i % 2) {
      open += '[';
      close = `]${close}`;
    } else {
      open += '{"x":';
      close = `}${close}`;
    }
  }
  return `${open}${leaf}${close}`;
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/** The encoders the contract (openapi.yaml) says a PBX may sign with: keep these, %XX the rest. */
const KEEP: Record<string, RegExp> = {
  unreserved: /^[A-Za-z0-9\-._~]$/,
  uriComponent: /^[A-Za-z0-9\-._~!*'()]$/,
  pchar: /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/,
  java: /^[A-Za-z0-9\-._*]$/,
  alnum: /^[A-Za-z0-9]$/,
  every: /^(?!)$/,
};
export type EncoderName = `${keyof typeof KEEP & string}-${'upper' | 'lower'}` | 'raw';
export const ENCODERS: EncoderName[] = [
  'raw',
  ...Object.keys(KEEP).flatMap((k) => [`${k}-upper`, `${k}-lower`] as EncoderName[]),
];

/** Can this id be put in a path as it is (unencoded): printable ASCII without `/ ? # %`. */
export const rawSendable = (id: string): boolean => /^[\x21-\x7e]*$/.test(id) && !/[/?#%]/.test(id);

/** The id spelled by the named encoder (undefined when `raw` cannot spell it). */
export function encodeId(id: string, encoder: EncoderName): string | undefined {
  if (encoder === 'raw') return rawSendable(id) ? id : undefined;
  const [name, hexCase] = encoder.split('-') as [string, 'upper' | 'lower'];
  const keep = KEEP[name]!;
  let out = '';
  for (const b of Buffer.from(id, 'utf8')) {
    const c = String.fromCharCode(b);
    if (b < 0x80 && keep.test(c)) out += c;
    else {
      const h = b.toString(16).padStart(2, '0');
      out += `%${hexCase === 'upper' ? h.toUpperCase() : h}`;
    }
  }
  return out;
}

/** An invalid id for a path parameter (what it decodes to), any chars, odd Unicode included. */
export const badPathIdArb = (kind: IdKind): fc.Arbitrary<string> =>
  (kind === 'callId' ? badCallIdString : badSimpleIdString).filter((s) => s !== '' && !isIdC(kind, s));

/**
 * A hand-made path segment: traversal, encoding tricks, double encoding, NUL, overlong UTF-8,
 * mixed case and mixed encodings, overlong ids. Sent as-is; may contain raw `/`.
 */
export const trickSegmentArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          '..',
          '.',
          '%2e%2e',
          '%2E%2E',
          '%2e%2E',
          '.%2e',
          '%2e.',
          '%2e',
          '%2E',
          '..%2f',
          '%2f..',
          '..%2F..',
          '%2F',
          '%2f',
          'a%2Fb',
          '%5c..',
          '..%5c',
          '..\\',
          '\\..',
          '%252e%252e',
          '%252E',
          '%252F',
          '%25',
          '%',
          '%zz',
          '%0',
          '%2',
          '%%',
          '%00',
          'a%00b',
          '%00%00',
          '..%00',
          '%c0%ae%c0%ae',
          '%C0%AF',
          '%c0%2e',
          '%e0%80%ae',
          '%ff',
          '%fe%ff',
          '%ed%a0%80',
          '%f4%90%80%80',
          '%u002e%u002e',
          '%25u002e',
          '..;',
          ';..',
          ';',
          '%3b',
          '%3F',
          '%3f',
          '?x',
          '%23',
          '#',
          '%20',
          '+',
          '%2b',
          '%09',
          '%0a',
          '%0d%0a',
          '%7f',
          '%C3%A9',
          '%e2%80%ae',
          '%F0%9F%98%80',
          '%EF%BB%BF',
          '%25C3%25A9',
          '%2525',
          '~',
          '*',
          '$',
          '!',
          '@',
          ':',
          '=',
          ',',
          '"',
          '<>',
          '|',
          '^',
          '`',
          '{}',
          '[]',
          '../..',
          '/..',
          '../',
          './',
          '//',
          '/',
          'x/../y',
          'a/./b',
        ),
      },
      { weight: 2, arbitrary: fc.string({ unit: callIdCharArb, minLength: 1, maxLength: 8 }) },
      { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...SIMPLE_CHARS), minLength: 120, maxLength: 300 }) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(...CALL_ID_CHARS), fc.integer({ min: 250, max: 2000 }))
          .map(([c, n]) => c.repeat(n)),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(nonAsciiOdd, fc.constantFrom(...ENCODERS.filter((e) => e !== 'raw')))
          .map(([s, e]) => encodeId(s, e)!),
      },
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((parts) => parts.join(''))
  .filter((s) => s.length > 0 && s.length < 6000);

/** Random query strings (signed as sent, ignored by the routes). */
export const queryArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '?a=1',
      '?callId=..',
      '?%00',
      '?x=%2e%2e&y',
      '?a=1&a=2',
      '?__proto__=1',
      '??',
      '?#',
      '?a=%ZZ',
    ),
  },
);

// ---------------------------------------------------------------------------------------------
// Content types and headers
// ---------------------------------------------------------------------------------------------

const randomCase = (s: string) =>
  fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((flips) => Array.from(s, (c, i) => (flips[i] ? c.toUpperCase() : c.toLowerCase())).join(''));

const tokenChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!#$&^`|';
const paramValueArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 12 }),
  fc
    .string({ unit: fc.constantFrom(...'ab =,/:charset-utf8\\"()<>@'), maxLength: 20 })
    .map((s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`),
  fc.constantFrom('"a;b"', '"charset=utf-16"', '";"'),
);

/**
 * A parameter whose quoted value holds `; charset=<not utf-8>`: by RFC 9110 one parameter (not a
 * charset), so `application/json` with it is still application/json. (Kept out of
 * `contentTypeArb`, so one property owns it.)
 */
export const quotedCharsetLookalikeArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('boundary', 'foo', 'profile'),
    fc.array(fc.constantFrom('x', ' ', '=', ',', 'utf-8', '\\"'), { maxLength: 4 }),
    fc.constantFrom(
      '; charset=latin1',
      ';charset=utf-16',
      '; CHARSET=iso-8859-1',
      ';charset="utf-16"'.replace(/"/g, '\\"'),
    ),
    fc.array(fc.constantFrom('x', ' ', ';', '=', 'y'), { maxLength: 4 }),
  )
  .map(
    ([name, before, lookalike, after]) => `application/json; ${name}="${before.join('')}${lookalike}${after.join('')}"`,
  );

/** Content types of every sort: the media type in any case, odd parameters, multipart, missing. */
export const contentTypeArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 4, arbitrary: randomCase('application/json') },
          {
            weight: 5,
            arbitrary: fc.constantFrom(
              'text/plain',
              'text/json',
              'text/html',
              'application/jsonx',
              'application/json-seq',
              'application/problem+json',
              'application/merge-patch+json',
              'application/x-www-form-urlencoded',
              'multipart/form-data',
              'multipart/mixed',
              'application/octet-stream',
              '*/*',
              'application/*',
              'json',
              'application',
              'application/',
              '/json',
              'application /json',
              'application/ json',
              'application/json/x',
              'application\\json',
              'application/json,text/plain',
              'application/json application/json',
              'application/x-json',
              'APPLICATION/JSONP',
              'application/vnd.api+json',
              '',
              ' ',
            ),
          },
        ),
        fc.array(
          fc.tuple(
            fc.constantFrom(';', '; ', ' ;', ' ; ', ';  ', ';;', ';\t'),
            fc.oneof(
              {
                weight: 3,
                arbitrary: fc
                  .tuple(
                    randomCase('charset'),
                    fc.constantFrom(
                      'utf-8',
                      'UTF-8',
                      'Utf-8',
                      '"utf-8"',
                      '"UTF-8"',
                      'utf8',
                      'latin1',
                      'iso-8859-1',
                      'utf-16',
                      'UTF-16LE',
                      'utf-32',
                      'cp1252',
                      '"utf-8 "',
                      'utf-8;',
                    ),
                  )
                  .map(([n, v]) => `${n}=${v}`),
              },
              {
                weight: 2,
                arbitrary: fc
                  .tuple(fc.constantFrom('boundary', 'foo', 'q', 'version', 'profile', 'x'), paramValueArb)
                  .map(([n, v]) => `${n}=${v}`),
              },
              { weight: 1, arbitrary: fc.constantFrom('', 'charset', 'charset=', '=utf-8', 'foo', 'a=b=c') },
            ),
          ),
          { maxLength: 3 },
        ),
        fc.constantFrom('', '', '', ';', ' '),
      )
      .map(([type, params, tail]) => `${type}${params.map(([sep, p]) => `${sep}${p}`).join('')}${tail}`),
  },
);

// ---------------------------------------------------------------------------------------------
// Requests (sending and checking them: contract-helpers.ts)
// ---------------------------------------------------------------------------------------------

export const jsonBytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

/** A compact description of a request for failure messages. */
export const describeRequest = (
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string | undefined> = {},
) =>
  `${method} ${path.length > 300 ? `${path.slice(0, 300)}…(${path.length})` : path} ${JSON.stringify(headers).slice(0, 300)} body(${body?.length ?? 0}): ${body ? JSON.stringify(body.subarray(0, 300).toString('latin1')) : '-'}`;

/** Counts the generated cases each property runs (printed by the files' afterAll). */
export class CaseCounter {
  readonly counts = new Map<string, number>();
  add(name: string) {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  get total() {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
  report(file: string) {
    const lines = [...this.counts].map(([k, v]) => `  ${String(v).padStart(5)}  ${k}`);
    console.log(`${file}: ${this.total} property cases run (shrinking runs included)\n${lines.join('\n')}`);
  }
}
