import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parse } from 'yaml';
import { appRouter } from '../../functions/app-api/api.js';
import { END_REASON_OF_CANCEL } from '../../functions/core/call.js';
import { MAX_DEVICES_PER_USER } from '../../functions/core/devices.js';
import { isCallId, isSimpleId } from '../../functions/core/ids.js';
import { MAX_BODY_BYTES } from '../../functions/http/pipeline.js';
import { ProblemError, problemResponse } from '../../functions/http/problem.js';
import { pbxRouter } from '../../functions/pbx-api/api.js';
import { cancelSchema, deviceSchema, pushToken, ringSchema } from '../../functions/pbx-api/schemas.js';

/**
 * openapi.yaml describes the whole contract; this keeps it true to the code: the same operations
 * as the routers, the error responses every endpoint may give, every $ref resolving, every problem
 * code the code can emit, and the limits and id formats the validators enforce.
 */

type Json = any;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const doc: Json = parse(readFileSync(join(ROOT, 'openapi.yaml'), 'utf8'), { strict: true, uniqueKeys: true });

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** A JSON pointer (`#/a/b~1c`) into this document; throws when it does not resolve. */
function resolvePointer(root: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`${ref}: only local references are expected`);
  let node = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) throw new Error(`${ref}: no "${key}"`);
    node = node[key];
  }
  return node;
}

/** Follows `$ref`s until a node that is not a bare reference. */
function deref(node: Json, seen = new Set<string>()): Json {
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    if (seen.has(node.$ref)) throw new Error(`reference cycle at ${node.$ref}`);
    seen.add(node.$ref);
    node = resolvePointer(doc, node.$ref);
  }
  return node;
}

/** Every [key, value, location] in the document. */
function* walk(node: Json, at = '#'): Generator<[string, Json, string]> {
  if (node === null || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    yield [k, v, at];
    yield* walk(v, `${at}/${k}`);
  }
}

interface Op {
  method: string;
  path: string;
  operationId: string;
  op: Json;
  pathItem: Json;
}

const ops: Op[] = Object.entries(doc.paths ?? {}).flatMap(([path, item]: [string, Json]) =>
  METHODS.filter((m) => item[m]).map((m) => ({
    method: m.toUpperCase(),
    path,
    operationId: item[m].operationId,
    op: item[m],
    pathItem: item,
  })),
);
const routes = [...pbxRouter.routes, ...appRouter.routes];
const routeOf = (operationId: string) => routes.find((r) => r.operationId === operationId);

const triple = (x: { method: string; path: string; operationId: string }) => `${x.method} ${x.path} ${x.operationId}`;

/** The problem codes a response declares: the `code` enum narrowed in its schema's allOf. */
function problemCodesOf(response: Json): { codes: string[]; status: number | undefined; schema: Json } {
  const schema = deref(deref(response).content?.['application/problem+json']?.schema);
  if (!schema) return { codes: [], status: undefined, schema };
  const parts: Json[] = (schema.allOf ?? [schema]).map((p: Json) => (p.$ref ? undefined : p)).filter(Boolean);
  const codes = parts.flatMap(
    (p) => p.properties?.code?.enum ?? (p.properties?.code?.const ? [p.properties.code.const] : []),
  );
  const status = parts.map((p) => p.properties?.status?.const).find((s) => s !== undefined);
  return { codes, status, schema };
}

describe('openapi.yaml is an OpenAPI 3.1 document', () => {
  it('declares 3.1, the title and version, and the two servers', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'callwake', version: '1' });
    const urls = doc.servers.map((s: Json) => s.url);
    expect(urls).toEqual(['https://{apiId}.execute-api.{region}.amazonaws.com', 'http://127.0.0.1:3000']);
    for (const s of doc.servers) {
      const names = [...String(s.url).matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(Object.keys(s.variables ?? {}).sort()).toEqual([...names].sort());
      for (const v of Object.values<Json>(s.variables ?? {})) expect(typeof v.default).toBe('string');
    }
  });

  it('parses every description and summary as text (no YAML mapping slipped in)', () => {
    const bad = [...walk(doc)].filter(
      ([k, v, at]) => (k === 'description' || k === 'summary') && !at.endsWith('/properties') && typeof v !== 'string',
    );
    expect(bad.map(([k, , at]) => `${at}/${k}`)).toEqual([]);
    const decisions = doc['x-callwake-decisions'];
    expect(Array.isArray(decisions)).toBe(true);
    expect(decisions.filter((d: unknown) => typeof d !== 'string' || d.length === 0)).toEqual([]);
  });

  it('resolves every $ref inside the document', () => {
    const refs = [...walk(doc)].filter(([k]) => k === '$ref').map(([, v, at]) => ({ ref: v as string, at }));
    expect(refs.length).toBeGreaterThan(50);
    const broken = refs.filter(({ ref }) => {
      try {
        resolvePointer(doc, ref);
        return false;
      } catch {
        return true;
      }
    });
    expect(broken).toEqual([]);
    // The resolver itself can tell a dangling reference.
    expect(() => resolvePointer(doc, '#/components/schemas/NoSuchSchema')).toThrow();
    expect(() => resolvePointer(doc, 'other.yaml#/x')).toThrow();
  });

  it('has unique operationIds, declared path parameters, and known security schemes', () => {
    const ids = ops.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, op, pathItem } of ops) {
      const params = [...(pathItem.parameters ?? []), ...(op.parameters ?? [])].map((p: Json) => deref(p));
      const inPath = params.filter((p: Json) => p.in === 'path');
      const placeholders = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(inPath.map((p: Json) => p.name).sort()).toEqual([...placeholders].sort());
      for (const p of inPath) expect(p.required).toBe(true);
      expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
      for (const req of op.security ?? [])
        for (const name of Object.keys(req)) expect(doc.components.securitySchemes[name]).toBeDefined();
    }
  });
});

describe('the operations are exactly the routes of both routers', () => {
  it('has the same (method, path, operationId) set, none missing, none extra', () => {
    expect(routes.length).toBeGreaterThan(0);
    expect(ops.map(triple).sort()).toEqual(routes.map(triple).sort());
  });

  it('declares a request body exactly where a route takes one', () => {
    for (const { operationId, op } of ops) {
      const presence = routeOf(operationId)?.body?.presence;
      const body = deref(op.requestBody);
      if (presence === undefined) expect([operationId, body]).toEqual([operationId, undefined]);
      else {
        expect([operationId, body?.required === true]).toEqual([operationId, presence === 'required']);
        expect(body.content['application/json']?.schema).toBeDefined();
      }
    }
  });

  it('secures /v1/pbx with the signature and /v1/app with the bearer token', () => {
    for (const { path, op } of ops) {
      expect([path, op.security]).toEqual([
        path,
        path.startsWith('/v1/pbx/') ? [{ pbxSignature: [] }] : [{ appBearer: [] }],
      ]);
    }
    const { pbxSignature, appBearer } = doc.components.securitySchemes;
    expect(pbxSignature).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Callwake-Signature' });
    for (const s of [
      'X-Callwake-Tenant',
      'X-Callwake-Timestamp',
      'v1=',
      '<timestamp>.<METHOD>.<path>.<raw body>',
      'bad_signature',
      'stale_signature',
      '300 s',
    ]) {
      expect(pbxSignature.description).toContain(s);
    }
    expect(appBearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque' });
  });
});

describe('every operation declares its answers', () => {
  const COMMON: Record<string, string[]> = {
    '413': ['payload_too_large'],
    '415': ['unsupported_media_type'],
    '400': ['malformed_json', 'validation_failed'],
    '404': ['not_found'],
    '405': ['method_not_allowed'],
    '500': ['internal_error'],
  };
  const PBX_401 = ['bad_signature', 'stale_signature'];
  const APP_401 = ['invalid_token'];
  const APP_OWN = { '403': ['token_scope'], '410': ['call_ended'] };
  /** The contract's own codes per operation, and its success statuses. */
  const OWN: Record<string, { success: string[]; errors: Record<string, string[]> }> = {
    ringCall: { success: ['200', '201'], errors: { '409': ['call_id_conflict'], '410': ['call_ended'] } },
    cancelCall: { success: ['200'], errors: {} },
    getCall: { success: ['200', '304'], errors: { '404': ['call_not_found'] } },
    putDevice: { success: ['200', '201'], errors: { '400': ['unknown_team'], '409': ['too_many_devices'] } },
    deleteDevice: { success: ['204'], errors: {} },
    listDevices: { success: ['200'], errors: {} },
    putWebhook: { success: ['200'], errors: {} },
    getWebhook: { success: ['200'], errors: { '404': ['webhook_not_found'] } },
    deleteWebhook: { success: ['204'], errors: {} },
    confirmCall: { success: ['200'], errors: APP_OWN },
    getAppCall: { success: ['200', '304'], errors: APP_OWN },
    answerCall: { success: ['200'], errors: { ...APP_OWN, '409': ['call_ended'] } },
    declineCall: { success: ['200'], errors: { ...APP_OWN, '409': ['call_ended'] } },
  };

  it('knows every operation of the routers', () => {
    expect(Object.keys(OWN).sort()).toEqual(routes.map((r) => r.operationId).sort());
  });

  it.each(Object.keys(OWN))('%s: the common error codes, its own, and nothing else', (operationId) => {
    const o = ops.find((x) => x.operationId === operationId);
    expect(o).toBeDefined();
    const own = OWN[operationId]!;
    const expected: Record<string, string[]> = { ...COMMON, '401': o!.path.startsWith('/v1/pbx/') ? PBX_401 : APP_401 };
    for (const [status, codes] of Object.entries(own.errors))
      expected[status] = [...(expected[status] ?? []), ...codes];

    const responses = o!.op.responses as Record<string, Json>;
    expect(Object.keys(responses).sort()).toEqual([...own.success, ...Object.keys(expected)].sort());
    const declared: Record<string, string[]> = {};
    for (const status of Object.keys(expected)) {
      const p = problemCodesOf(responses[status]);
      expect([status, p.status]).toEqual([status, Number(status)]);
      declared[status] = [...p.codes].sort();
    }
    expect(declared).toEqual(Object.fromEntries(Object.entries(expected).map(([s, c]) => [s, [...c].sort()])));
    for (const status of own.success) {
      const r = deref(responses[status]);
      if (status === '204' || status === '304')
        expect([operationId, status, r.content]).toEqual([operationId, status, undefined]);
      else expect(r.content?.['application/json']?.schema).toBeDefined();
    }
  });

  it('puts cache-control: no-store on every answer, Allow on 405, WWW-Authenticate on the app 401', () => {
    for (const { operationId, path, op } of ops) {
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        const headers = deref(response).headers ?? {};
        const cacheControl = deref(headers['Cache-Control']);
        expect([operationId, status, cacheControl?.schema?.const]).toEqual([operationId, status, 'no-store']);
      }
      expect(deref(op.responses['405']).headers?.Allow).toBeDefined();
      if (path.startsWith('/v1/app/'))
        expect(deref(deref(op.responses['401']).headers?.['WWW-Authenticate']).schema.const).toBe('Bearer');
    }
  });

  it('gives every app 409 and 410 the `call` extension with the app view', () => {
    for (const { path, op } of ops.filter((o) => o.path.startsWith('/v1/app/'))) {
      for (const status of ['409', '410']) {
        if (!op.responses[status]) continue;
        const { schema } = problemCodesOf(op.responses[status]);
        const required = schema.allOf.flatMap((p: Json) => p.required ?? []);
        expect([path, status, required]).toEqual([path, status, expect.arrayContaining(['call'])]);
      }
    }
    expect(deref(doc.components.schemas.Problem.properties.call)).toBe(doc.components.schemas.AppCallView);
  });
});

describe('the problem codes are the ones the code emits', () => {
  const enumCodes: string[] = doc.components.schemas.Problem.properties.code.enum;

  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
    });
  const emitted = new Set<string>();
  for (const file of sources(join(ROOT, 'functions'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new ProblemError\(\s*\d{3}\s*,\s*'([a-z_]+)'/g)) emitted.add(m[1]!);
    for (const m of text.matchAll(/readonly code = '([a-z_]+)'/g)) emitted.add(m[1]!);
  }

  it('finds the codes in functions/ (the grep works)', () => {
    expect(emitted.size).toBeGreaterThan(10);
    for (const known of ['payload_too_large', 'validation_failed', 'call_id_conflict', 'token_scope'])
      expect(emitted.has(known)).toBe(true);
  });

  it('lists every emitted code in the Problem code enum, and no code nothing emits', () => {
    expect([...emitted].filter((c) => !enumCodes.includes(c))).toEqual([]);
    expect(enumCodes.filter((c) => !emitted.has(c))).toEqual([]);
  });

  it('declares every code on at least one operation', () => {
    const declared = new Set(
      ops.flatMap(({ op }) => Object.values<Json>(op.responses).flatMap((r) => problemCodesOf(r).codes)),
    );
    expect(enumCodes.filter((c) => !declared.has(c))).toEqual([]);
  });

  it('documents the type and title each code is rendered with', () => {
    const titles = doc.components.schemas.Problem['x-callwake-titles'];
    expect(Object.keys(titles).sort()).toEqual([...enumCodes].sort());
    for (const code of enumCodes) {
      const body = JSON.parse(problemResponse(new ProblemError(400, code, 'detail')).body as string);
      expect({ code, type: body.type, title: body.title }).toEqual({
        code,
        type: `urn:callwake:problem:${code}`,
        title: titles[code],
      });
      expect(body.type).toMatch(new RegExp(doc.components.schemas.Problem.properties.type.pattern));
    }
  });
});

describe('the limits and formats are the ones the validators enforce', () => {
  const S = doc.components.schemas;
  const matches = (schema: Json, s: string) =>
    new RegExp(schema.pattern).test(s) &&
    s.length >= schema.minLength &&
    s.length <= schema.maxLength &&
    !(schema.not?.enum ?? []).includes(s);

  const idChars = fc.constantFrom(...'aZ09._:@+-/?# \t"$~%\u00e9\u007f'.split(''));
  const ids = fc.oneof(
    fc.string({ unit: idChars, minLength: 0, maxLength: 8 }),
    fc.constantFrom(
      '.',
      '..',
      '...',
      'a'.repeat(128),
      'a'.repeat(129),
      '!'.repeat(256),
      '!'.repeat(257),
      'a84b4c76e66710@pbx.example.com',
    ),
  );

  it('SimpleId and CallId match isSimpleId and isCallId', () => {
    fc.assert(
      fc.property(ids, (s) => matches(S.SimpleId, s) === isSimpleId(s) && matches(S.CallId, s) === isCallId(s)),
      { numRuns: 2000 },
    );
  });

  it('PushToken matches the push token validator', () => {
    const hexish = fc.string({ unit: fc.constantFrom(...'0aF9g '.split('')), minLength: 60, maxLength: 204 });
    fc.assert(
      fc.property(hexish, (s) => matches(S.PushToken, s) === pushToken.safeParse(s).success),
      { numRuns: 2000 },
    );
  });

  const base = { callId: 'c-1', from: { number: '+15551230000' }, to: { userId: 'alice' } };
  const device = { pnProvider: 'apns', pnPrid: 'ab'.repeat(32), pnParam: 'ABCDE12345.com.example.phone.voip' };

  it('ringTimeoutSeconds, inline devices and metadata', () => {
    const t = S.RingRequest.properties.ringTimeoutSeconds;
    expect(ringSchema.parse(base).ringTimeoutSeconds).toBe(t.default);
    expect(ringSchema.safeParse({ ...base, ringTimeoutSeconds: t.minimum }).success).toBe(true);
    expect(ringSchema.safeParse({ ...base, ringTimeoutSeconds: t.minimum - 1 }).success).toBe(false);
    expect(ringSchema.safeParse({ ...base, ringTimeoutSeconds: t.maximum }).success).toBe(true);
    expect(ringSchema.safeParse({ ...base, ringTimeoutSeconds: t.maximum + 1 }).success).toBe(false);
    expect(ringSchema.parse(base).hasVideo).toBe(S.RingRequest.properties.hasVideo.default);

    const max = S.RingRequest.properties.devices.maxItems;
    expect(ringSchema.safeParse({ ...base, devices: Array(max).fill(device) }).success).toBe(true);
    expect(ringSchema.safeParse({ ...base, devices: Array(max + 1).fill(device) }).success).toBe(false);

    // 1 KiB serialized: {"k":"<v>"} is 8 bytes plus the value.
    expect(S.RingRequest.properties.metadata.description).toContain('1 KiB (1024 bytes');
    expect(ringSchema.safeParse({ ...base, metadata: { k: 'v'.repeat(1024 - 8) } }).success).toBe(true);
    expect(ringSchema.safeParse({ ...base, metadata: { k: 'v'.repeat(1024 - 7) } }).success).toBe(false);

    const from = S.Caller.properties;
    expect(ringSchema.safeParse({ ...base, from: { number: '1'.repeat(from.number.maxLength) } }).success).toBe(true);
    expect(ringSchema.safeParse({ ...base, from: { number: '1'.repeat(from.number.maxLength + 1) } }).success).toBe(
      false,
    );
    expect(ringSchema.safeParse({ ...base, from: { uri: 's'.repeat(from.uri.maxLength + 1) } }).success).toBe(false);
    expect(ringSchema.safeParse({ ...base, from: { number: '' } }).success).toBe(false);
    expect(ringSchema.safeParse({ ...base, from: { displayName: 'x'.repeat(10_000), uri: 'sip:a@b' } }).success).toBe(
      true,
    );
  });

  it('16 KiB bodies and 20 devices a user', () => {
    expect(MAX_BODY_BYTES).toBe(16 * 1024);
    expect(doc.components.responses.PayloadTooLarge.description).toContain(`${MAX_BODY_BYTES} bytes`);
    expect(S.DeviceList.properties.devices.maxItems).toBe(MAX_DEVICES_PER_USER);
  });

  it('cancel reasons are the ones the code maps', () => {
    const reasons = S.CancelRequest.properties.reason.enum.filter((r: unknown) => r !== null);
    expect([...reasons].sort()).toEqual(Object.keys(END_REASON_OF_CANCEL).sort());
    expect(S.CancelRequest.properties.reason.default).toBe(cancelSchema.parse(undefined));
    for (const r of reasons) expect(cancelSchema.parse({ reason: r })).toBe(r);
    expect([...S.EndReason.enum].sort()).toEqual([...new Set(Object.values(END_REASON_OF_CANCEL))].sort());
  });

  it('the request examples are accepted by the validators', () => {
    const ring = doc.paths['/v1/pbx/calls'].post.requestBody.content['application/json'].examples;
    for (const ex of Object.values<Json>(ring)) expect(ringSchema.safeParse(ex.value).success).toBe(true);
    const put =
      doc.paths['/v1/pbx/users/{userId}/devices/{deviceId}'].put.requestBody.content['application/json'].example;
    expect(deviceSchema.safeParse(put).success).toBe(true);
    const cancel = doc.paths['/v1/pbx/calls/{callId}/cancel'].post.requestBody.content['application/json'].example;
    expect(cancelSchema.safeParse(cancel).success).toBe(true);
  });

  it('records the implementation decisions', () => {
    const decisions: string = doc['x-callwake-decisions'].join('\n');
    for (const s of [
      'urn:callwake:problem:',
      'Allow',
      'WWW-Authenticate: Bearer',
      'HEAD',
      'inline-',
      'pending',
      'tombstone',
      'confirmedAt',
      'sorted by deviceId',
      'no-store',
      'utf-8',
      'percent-decode',
    ]) {
      expect(decisions).toContain(s);
    }
  });
});
