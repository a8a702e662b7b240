import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parse } from 'yaml';
import { MIN_TENANT_SECRET_BYTES, parseTenants } from '../../functions/adapters/secret-formats.js';
import { SnsPublisher } from '../../functions/adapters/sns-publisher.js';
import { userKey, webhookKey } from '../../functions/adapters/table-layout.js';
import { itemOfUserModel, MARKER_KEPT_MS, userModelOf } from '../../functions/adapters/user-item.js';
import { appRouter, createAppApi } from '../../functions/app-api/api.js';
import { API_FUNCTION_TIMEOUT_SECONDS, DEFAULT_TENANT_LIMITS, functionConfig } from '../../functions/config.js';
import { appViewOf, type Call, END_REASON_OF_CANCEL, pbxViewOf, vanishedAppView } from '../../functions/core/call.js';
import { callIdHashOf, mintCallToken } from '../../functions/core/call-token.js';
import { cancelCall } from '../../functions/core/cancel-call.js';
import { backoffMs, CALLBACK_RETRY, deliverCallback } from '../../functions/core/deliver-callback.js';
import { deviceViewOf, MAX_DEVICES_PER_USER } from '../../functions/core/devices.js';
import { type DispatchDeps, dispatchChanges } from '../../functions/core/dispatch-events.js';
import { endAlertPayload } from '../../functions/core/end-alerts.js';
import { CallIdConflictError } from '../../functions/core/errors.js';
import { type CallwakeEvent, EVENT_TYPES, eventsOfCallChange, prunedEvent } from '../../functions/core/events.js';
import { callUuidOf, inlineDeviceIdOf, isCallId, isSimpleId } from '../../functions/core/ids.js';
import { REQUEST_WINDOW_SECONDS } from '../../functions/core/limits.js';
import { MAX_SKEW_SECONDS } from '../../functions/core/pbx-signature.js';
import { silentLog, type Webhook } from '../../functions/core/ports.js';
import { buildPushPayload, MAX_PAYLOAD_BYTES } from '../../functions/core/push-payload.js';
import {
  DEFAULT_SETTINGS,
  MAX_SETTINGS_ENTRIES,
  MAX_SETTINGS_ENTRY_LENGTH,
  rejectionOf,
  settingsViewOf,
  type UserSettings,
} from '../../functions/core/settings.js';
import { isInlineDeviceError, readInlineDevice } from '../../functions/core/targets.js';
import { snapshotOf, viewTag } from '../../functions/core/watch.js';
import {
  getWebhook,
  InsecureWebhookUrlError,
  putWebhook,
  WebhookNotFoundError,
} from '../../functions/core/webhooks.js';
import { answerViewRequest, etagOf, MAX_WAIT_SECONDS } from '../../functions/http/conditional.js';
import { pathSpellings } from '../../functions/http/path-encoding.js';
import { MAX_BODY_BYTES, TIMEOUT_EARLY_MS } from '../../functions/http/pipeline.js';
import { ProblemError, problemResponse } from '../../functions/http/problem.js';
import type { HttpRequest } from '../../functions/http/request.js';
import { fieldErrors, withoutNulls } from '../../functions/http/validation.js';
import { pbxRouter } from '../../functions/pbx-api/api.js';
import {
  cancelSchema,
  deviceSchema,
  inlineDeviceSchema,
  pushToken,
  ringSchema,
  settingsSchema,
  webhookSchema,
} from '../../functions/pbx-api/schemas.js';
import { FakeTokenKeys } from '../support/fakes/token-keys.js';
import { SchemaValidator } from './json-schema-subset.js';
import { PbxHarness, type PbxReply, secretFor, TABLE } from './pbx-harness.js';
import {
  API_URL,
  type ApnsRequest,
  BUNDLE,
  newToken,
  PushHarness,
  REFUSE,
  registered,
  TEAM,
  TENANT,
} from './push-harness.js';

/**
 * openapi.yaml describes the whole contract; this keeps it true to the code: the same operations
 * as the routers, the error responses every endpoint may give, every $ref resolving, every problem
 * code the code can emit, and the limits and id formats the validators enforce; and the pushes of
 * `x-callwake-pushes` (headers, size limits, payload schemas, who gets which) against what the real
 * ring, events path and APNs adapter send (push-harness.ts).
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
    // v1.1: a request that would outlive the function (both APIs).
    '503': ['timed_out'],
  };
  const PBX_401 = ['bad_signature', 'stale_signature'];
  /** v1.1: every PBX request counts against its tenant's limits. */
  const PBX_429 = ['rate_limited'];
  /** v1.1: registry, settings and webhook changes are ordered by their signed time. */
  const STALE = { '409': ['stale_request'] };
  const APP_401 = ['invalid_token'];
  const APP_OWN = { '403': ['token_scope'], '410': ['call_ended'] };
  /** The contract's own codes per operation, and its success statuses. */
  const OWN: Record<string, { success: string[]; errors: Record<string, string[]> }> = {
    ringCall: { success: ['200', '201'], errors: { '409': ['call_id_conflict'], '410': ['call_ended'] } },
    cancelCall: { success: ['200'], errors: {} },
    getCall: { success: ['200', '304'], errors: { '404': ['call_not_found'] } },
    putDevice: {
      success: ['200', '201'],
      errors: { '400': ['unknown_team', 'app_not_allowed'], '409': ['too_many_devices', 'stale_request'] },
    },
    deleteDevice: { success: ['204'], errors: STALE },
    listDevices: { success: ['200'], errors: {} },
    putSettings: { success: ['200'], errors: STALE },
    getSettings: { success: ['200'], errors: {} },
    putWebhook: { success: ['200'], errors: STALE },
    getWebhook: { success: ['200'], errors: { '404': ['webhook_not_found'] } },
    deleteWebhook: { success: ['204'], errors: STALE },
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
    const pbx = o!.path.startsWith('/v1/pbx/');
    const expected: Record<string, string[]> = {
      ...COMMON,
      '401': pbx ? PBX_401 : APP_401,
      ...(pbx ? { '429': PBX_429 } : {}),
    };
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

  it('puts cache-control: no-store on every answer, Allow on 405, WWW-Authenticate on the app 401, Retry-After on 429 and 503', () => {
    for (const { operationId, path, op } of ops) {
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        const headers = deref(response).headers ?? {};
        const cacheControl = deref(headers['Cache-Control']);
        expect([operationId, status, cacheControl?.schema?.const]).toEqual([operationId, status, 'no-store']);
        // Retry-After exactly on the answers that say when to come back.
        const retryAfter = deref(headers['Retry-After']);
        expect([operationId, status, retryAfter?.required === true]).toEqual([
          operationId,
          status,
          status === '429' || status === '503',
        ]);
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
    const webhook = doc.paths['/v1/pbx/webhook'].put.requestBody.content['application/json'].example;
    expect(webhookSchema.safeParse(webhook).success).toBe(true);
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
      // v1.1: waiting and events
      'If-None-Match: *',
      'compared weakly',
      'malformed `If-None-Match`',
      '`Preference-Applied: wait=<n>`',
      'may be less than asked',
      'serverTime` is never part of it',
      '304 answers carry `Cache-Control: no-store`',
      'carry the ETag of the view they return',
      'An empty list is refused',
      'credentials',
      'fragment',
      'the ring end (`expiresAt`)',
      'first configured secret',
      'a redirect (never followed)',
      'dead-letter queue',
      'Deliveries already queued keep the url',
      // v1.1: settings, missed calls, caller-ID, RFC 8599, the wrong environment
      'Settings `until` must carry its offset',
      'an empty entry is 400 `validation_failed` with path `blockedCallers.<i>`',
      'plus `updatedAt`: when the last PUT applied, null while the settings were never set',
      'Blocked wins',
      'a cancel changes nothing (200 with the `rejected` view',
      "`rejectReason` is present on a create answer and on a PBX view (and so in an event's `call`) exactly when `status` is `rejected`",
      'Settings never apply to a create without `to.userId`',
      '`callerInPush` (default true) is part of',
      'shows `alertTokenSuffix` (its last 8 characters) only when it has one',
      'epoch seconds + 86400 (24 h',
      'The "call ended" alert\'s `callwake` member is `{v: 1, type: "ended", callId, callUuid, endReason, endedAt}`',
      'A remote-only multi-token contact (`<hex>:remote` with `….remote`) is an alert-mode device',
      "goes at once to every registered device of the user that has an alert token: a VoIP device's `alertPushToken`, and an alert-mode device's own token",
      'An alert token APNs answers `Unregistered` or `BadDeviceToken` for is cleared',
      'The wrong-environment retry: only a registered device',
      // v1.1: tenants bound to their apps; requests ordered; limits
      'Registry, settings and webhook changes are ordered by `X-Callwake-Timestamp`',
      'One signed in the same second as the last change applies',
      'Tenant secrets are at least 32 bytes (UTF-8) and never shared between tenants',
      '`apps` and `limits` exist only in the object form',
      'Per-tenant limits (`x-callwake-limits`): requests are counted in fixed 10 s windows',
      '`Retry-After` on 429: the whole seconds to the end of the current 10 s window (1-10) for the request limit; 2 for the ringing calls',
      '503 `timed_out`: both APIs answer it, with `Retry-After: 1`',
      'one path per signature',
      'An empty display name (`""`) is no label',
    ]) {
      expect(decisions).toContain(s);
    }
  });
});

/** Validates values the code builds against the document's own schemas. */
const schemas = new SchemaValidator((ref) => resolvePointer(doc, ref));
const S = doc.components.schemas;
const H = doc.components.headers;

/** A call as the store holds it, ringing on two devices. */
const CREATED = Date.parse('2026-11-27T07:42:43.442Z');
const ringing: Call = {
  tenantId: 'acme',
  callId: 'a84b4c76e66710@pbx.example.com',
  callUuid: 'bc677f5c-2265-5714-955b-ced3d5cb2d5b',
  status: 'ringing',
  tombstone: false,
  createdAt: CREATED,
  expiresAt: CREATED + 60_000,
  lifetimeEnd: CREATED + 3_660_000,
  caller: { number: '+15551230000', displayName: 'Bob Smith' },
  hasVideo: false,
  metadata: { registrar: 'sip:pbx.example.com;transport=tls' },
  devices: {
    d0: { deviceId: 'iphone-1', pushType: 'voip', delivery: 'pending' },
    d1: { deviceId: 'ipad-1', pushType: 'voip', delivery: 'pending' },
  },
};

describe('v1.1 waiting: ETag, If-None-Match, Prefer: wait', () => {
  const headerNames = (o: Op) =>
    [...(o.pathItem.parameters ?? []), ...(o.op.parameters ?? [])]
      .map((p: Json) => deref(p))
      .filter((p: Json) => p.in === 'header')
      .map((p: Json) => p.name)
      .sort();

  it('the two GET views, and nothing else, declare If-None-Match and Prefer', () => {
    const conditional = ops.filter((o) => headerNames(o).length > 0);
    expect(conditional.map((o) => [o.operationId, headerNames(o)]).sort()).toEqual([
      ['getAppCall', ['If-None-Match', 'Prefer']],
      ['getCall', ['If-None-Match', 'Prefer']],
    ]);
    for (const o of conditional) for (const p of o.op.parameters) expect(deref(p).required).toBe(false);
    expect(doc.components.parameters.PreferWait['x-callwake-max-wait-seconds']).toBe(MAX_WAIT_SECONDS);
    expect(doc.components.parameters.PreferWait.description).toContain(`Capped at ${MAX_WAIT_SECONDS} s`);
  });

  it('exactly the view answers carry an ETag: the GET views (200 and 304) and cancel, confirm, answer, decline', () => {
    const tagged = ops.flatMap(({ operationId, op }) =>
      Object.entries<Json>(op.responses)
        .filter(([, r]) => deref(r).headers?.ETag)
        .map(([status]) => `${operationId} ${status}`),
    );
    expect(tagged.sort()).toEqual(
      [
        'getCall 200',
        'getCall 304',
        'getAppCall 200',
        'getAppCall 304',
        'cancelCall 200',
        'confirmCall 200',
        'answerCall 200',
        'declineCall 200',
      ].sort(),
    );
    for (const { op } of ops)
      for (const r of Object.values<Json>(op.responses))
        if (deref(r).headers?.ETag) expect(deref(deref(r).headers.ETag)).toBe(H.ETag);
    expect(H.ETag.required).toBe(true);
    expect(H.PreferenceApplied.required).toBe(false);
    // Only answers that may come after a wait say how long it was.
    const applied = ops.flatMap(({ operationId, op }) =>
      Object.entries<Json>(op.responses)
        .filter(([, r]) => deref(r).headers?.['Preference-Applied'])
        .map(([status]) => `${operationId} ${status}`),
    );
    expect(applied.sort()).toEqual(['getAppCall 200', 'getAppCall 304', 'getCall 200', 'getCall 304']);
  });

  it("the ETag format is the code's, and serverTime is not part of it", () => {
    const etag = (view: object) => etagOf(viewTag(view));
    const pbx = [pbxViewOf(ringing, CREATED + 1000), pbxViewOf(ringing, CREATED + 60_000)];
    const app = [appViewOf(ringing, 'd0', CREATED + 1000), appViewOf(ringing, 'd0', CREATED + 2000)];
    const views = [...pbx, ...app, vanishedAppView(ringing.callId, ringing.callUuid, CREATED)];
    for (const v of views) expect(schemas.errors(H.ETag.schema, etag(v))).toEqual([]);
    expect(etag(app[0]!)).toBe(etag(app[1]!));
    expect(app[0]!.serverTime).not.toBe(app[1]!.serverTime);
    // The ring end changes the view, so the tag.
    expect(etag(pbx[0]!)).not.toBe(etag(pbx[1]!));
    expect(pbx[1]!.status).toBe('expired');
    // The pattern can fail.
    expect(schemas.errors(H.ETag.schema, viewTag(pbx[0]!))).not.toEqual([]);
    expect(schemas.errors(H.ETag.schema, `W/${etag(pbx[0]!)}`)).not.toEqual([]);
  });

  /** answerViewRequest on virtual time: the view turns `answered` `changeAfterMs` after arrival. */
  async function answer(headers: Record<string, string>, opts: { changeAfterMs?: number; remainingMs?: number } = {}) {
    let now = CREATED + 1000;
    const start = now;
    const clock = { now: () => now };
    const timer = {
      now: () => now,
      sleep: async (ms: number) => {
        now += Math.max(0, ms);
      },
    };
    const answered: Call = { ...ringing, status: 'answered', answeredBy: 'iphone-1', answeredAt: start + 1 };
    const read = async () =>
      snapshotOf(
        pbxViewOf(opts.changeAfterMs !== undefined && now - start >= opts.changeAfterMs ? answered : ringing, now),
      );
    const req: HttpRequest = {
      method: 'GET',
      path: '/v1/pbx/calls/c',
      query: '',
      headers,
      body: Buffer.alloc(0),
      origin: undefined,
    };
    const res = await answerViewRequest(
      { clock, timer, log: silentLog, waitPollMs: 100 },
      req,
      opts.remainingMs ?? 25_000,
      read,
    );
    return { res, heldMs: now - start, tag: etagOf(viewTag(pbxViewOf(ringing, start))) };
  }

  /** The answer's headers are the ones its response declares (plus the body's content-type), each valid. */
  function expectDeclared(status: number, headers: Record<string, unknown>) {
    const response = deref(doc.paths['/v1/pbx/calls/{callId}'].get.responses[String(status)]);
    const declared = Object.fromEntries(
      Object.entries<Json>(response.headers).map(([name, h]) => [name.toLowerCase(), deref(h)]),
    );
    const sent = Object.keys(headers).filter((k) => k !== 'content-type');
    expect(sent.filter((k) => !declared[k])).toEqual([]);
    for (const [name, h] of Object.entries<Json>(declared)) {
      if (h.required) expect([status, name, headers[name] !== undefined]).toEqual([status, name, true]);
      if (headers[name] !== undefined) expect([name, schemas.errors(h.schema, headers[name])]).toEqual([name, []]);
    }
    expect('content-type' in headers).toBe(response.content !== undefined);
  }

  it('304 at once for the current tag: the same ETag, no body, no Preference-Applied', async () => {
    const { res, heldMs, tag } = await answer({ 'if-none-match': `W/"nope", ${tag0()}` });
    expect([res.statusCode, res.body, heldMs, res.headers?.etag]).toEqual([304, undefined, 0, tag]);
    expect(res.headers).not.toHaveProperty('preference-applied');
    expectDeclared(304, res.headers!);
    const weak = await answer({ 'if-none-match': `W/${tag}` });
    expect(weak.res.statusCode).toBe(304);
  });

  it('`*` is 304 at once, whatever Prefer asks, without Preference-Applied', async () => {
    const { res, heldMs } = await answer({ 'if-none-match': '*', prefer: 'wait=5' }, { changeAfterMs: 200 });
    expect([res.statusCode, heldMs, res.headers?.['preference-applied']]).toEqual([304, 0, undefined]);
    expectDeclared(304, res.headers!);
  });

  it('a held request that times out: 304 with Preference-Applied, capped at the documented maximum', async () => {
    const { res, heldMs, tag } = await answer({ 'if-none-match': tag0(), prefer: 'wait=1' });
    expect([res.statusCode, heldMs, res.headers?.etag, res.headers?.['preference-applied']]).toEqual([
      304,
      1000,
      tag,
      'wait=1',
    ]);
    expectDeclared(304, res.headers!);
    const capped = await answer({ 'if-none-match': tag0(), prefer: `wait=${'9'.repeat(30)}` });
    expect([capped.heldMs, capped.res.headers?.['preference-applied']]).toEqual([
      MAX_WAIT_SECONDS * 1000,
      `wait=${MAX_WAIT_SECONDS}`,
    ]);
    expectDeclared(304, capped.res.headers!);
    expect(schemas.errors(H.PreferenceApplied.schema, `wait=${MAX_WAIT_SECONDS + 1}`)).not.toEqual([]);
  });

  it('Preference-Applied says the seconds applied: less than asked when the function has little time left', async () => {
    const { res, heldMs } = await answer({ 'if-none-match': tag0(), prefer: 'wait=20' }, { remainingMs: 8000 });
    expect([res.statusCode, heldMs, res.headers?.['preference-applied']]).toEqual([304, 5000, 'wait=5']);
    expectDeclared(304, res.headers!);
  });

  it('woken by a change: 200 with the new view, its ETag and Preference-Applied', async () => {
    const { res, heldMs, tag } = await answer({ 'if-none-match': tag0(), prefer: 'wait=5' }, { changeAfterMs: 250 });
    expect(res.statusCode).toBe(200);
    expect(heldMs).toBeLessThanOrEqual(300);
    expect(res.headers?.etag).not.toBe(tag);
    expect(res.headers?.['preference-applied']).toBe('wait=5');
    expect(schemas.errors(S.PbxCallView, JSON.parse(res.body as string))).toEqual([]);
    expectDeclared(200, res.headers!);
  });

  it.each([
    ['a view that already changed', { 'if-none-match': '"another"', prefer: 'wait=5' }],
    ['Prefer without If-None-Match', { prefer: 'wait=5' }],
    ['a malformed If-None-Match', { 'if-none-match': 'not-quoted', prefer: 'wait=5' }],
  ])('%s: 200 at once, without Preference-Applied', async (_what, headers) => {
    const { res, heldMs } = await answer(headers, { changeAfterMs: 200 });
    expect([res.statusCode, heldMs, res.headers?.['preference-applied']]).toEqual([200, 0, undefined]);
    expectDeclared(200, res.headers!);
  });

  it.each(['wait=abc', 'wait=-1', 'wait=1.5', 'wait=0'])('Prefer: %s does not wait: 304 at once', async (prefer) => {
    const { res, heldMs } = await answer({ 'if-none-match': tag0(), prefer }, { changeAfterMs: 200 });
    expect([res.statusCode, heldMs, res.headers?.['preference-applied']]).toEqual([304, 0, undefined]);
  });

  /** The tag of the ringing view the client has. */
  function tag0(): string {
    return etagOf(viewTag(pbxViewOf(ringing, CREATED + 1000)));
  }

  it('the views the code builds match PbxCallView and AppCallView, serverTime included', () => {
    const expired = pbxViewOf(ringing, ringing.expiresAt);
    const tombstone = pbxViewOf({ ...ringing, tombstone: true, status: 'cancelled', devices: {} }, CREATED);
    const rejected = pbxViewOf({ ...ringing, status: 'rejected', rejectReason: 'doNotDisturb', devices: {} }, CREATED);
    for (const v of [pbxViewOf(ringing, CREATED), expired, tombstone, rejected])
      expect(schemas.errors(S.PbxCallView, v)).toEqual([]);
    expect(rejected.rejectReason).toBe('doNotDisturb');
    const app = appViewOf(ringing, 'd1', CREATED);
    const vanished = vanishedAppView(ringing.callId, ringing.callUuid, CREATED);
    for (const v of [app, vanished]) expect(schemas.errors(S.AppCallView, v)).toEqual([]);
    // The schema can fail: serverTime is required.
    const { serverTime: _t, ...withoutTime } = app;
    expect(schemas.errors(S.AppCallView, withoutTime)).not.toEqual([]);
    // rejectReason: present exactly on a rejected call, as its description says.
    expect(S.PbxCallView.properties.rejectReason.description).toContain('exactly when `status` is `rejected`');
    for (const v of [pbxViewOf(ringing, CREATED), expired, tombstone]) expect(v).not.toHaveProperty('rejectReason');
    expect(S.PbxCallView.required).not.toContain('rejectReason');
  });
});

describe('v1.1 the webhook resource', () => {
  const webhookOps = ops.filter((o) => o.path === '/v1/pbx/webhook');

  it("is PUT, GET and DELETE /v1/pbx/webhook with the router's operationIds", () => {
    expect(webhookOps.map((o) => `${o.method} ${o.operationId}`).sort()).toEqual([
      'DELETE deleteWebhook',
      'GET getWebhook',
      'PUT putWebhook',
    ]);
    const fromRouter = pbxRouter.routes.filter((r) => r.path === '/v1/pbx/webhook');
    expect(fromRouter.map((r) => `${r.method} ${r.operationId}`).sort()).toEqual(
      webhookOps.map((o) => `${o.method} ${o.operationId}`).sort(),
    );
    const get = webhookOps.find((o) => o.operationId === 'getWebhook')!;
    expect(problemCodesOf(get.op.responses['404']).codes).toContain('webhook_not_found');
  });

  const R = S.WebhookRequest.properties;
  const ok = (body: unknown) => webhookSchema.safeParse(body).success;

  it('url: the documented length, an absolute http(s) URL with a host, no credentials, no fragment', () => {
    const max = R.url.maxLength;
    expect(max).toBe(2048);
    const prefix = 'https://pbx.example.com/';
    expect(ok({ url: prefix + 'a'.repeat(max - prefix.length) })).toBe(true);
    expect(ok({ url: prefix + 'a'.repeat(max - prefix.length + 1) })).toBe(false);
    for (const url of ['https://pbx.example.com/callwake?x=1', 'http://127.0.0.1:9/hook', 'HTTPS://PBX.example.com'])
      expect([url, ok({ url }), schemas.errors(S.WebhookRequest, { url })]).toEqual([url, true, []]);
    for (const url of ['ftp://pbx.example.com/x', 'mailto:pbx@example.com', '/relative', 'pbx.example.com/x'])
      expect([url, ok({ url }), schemas.errors(S.WebhookRequest, { url }).length > 0]).toEqual([url, false, true]);
    // What the schema's words say and its keywords cannot.
    for (const url of [
      'https://user:pw@pbx.example.com/x',
      'https://user@pbx.example.com/x',
      'https://pbx.example.com/x#frag',
      'https://pbx.example.com/x#',
    ])
      expect([url, ok({ url })]).toEqual([url, false]);
    expect(R.url.description).toContain('without credentials');
    expect(R.url.description).toContain('fragment');
    expect(ok({})).toBe(false);
    expect(S.WebhookRequest.required).toEqual(['url']);
  });

  it('events: optional, at least one, each an EventType, duplicates folded in the contract order', async () => {
    const url = 'https://pbx.example.com/cw';
    expect(deref(R.events.items).enum).toEqual([...EVENT_TYPES]);
    expect(R.events.minItems).toBe(1);
    expect(ok({ url, events: [] })).toBe(false);
    expect(ok({ url, events: ['call.ringing', 'call.bogus'] })).toBe(false);
    expect(ok({ url, events: [...EVENT_TYPES] })).toBe(true);
    expect(schemas.errors(S.WebhookRequest, { url, events: [] })).not.toEqual([]);

    const stored = new Map<string, Webhook>();
    const deps = (allowHttpCallbacks: boolean) => ({
      webhooks: {
        get: async (t: string) => stored.get(t),
        put: async (t: string, w: Webhook) => void stored.set(t, w),
        remove: async (t: string) => void stored.delete(t),
      },
      clock: { now: () => CREATED },
      allowHttpCallbacks,
    });
    const acme = { tenantId: 'acme', signedAt: Math.floor(CREATED / 1000) };
    await expect(getWebhook(deps(false), 'acme')).rejects.toBeInstanceOf(WebhookNotFoundError);
    const all = await putWebhook(deps(false), acme, { url });
    expect(all.events).toEqual([...EVENT_TYPES]);
    const some = await putWebhook(deps(false), acme, {
      url,
      events: ['device.pruned', 'call.answered', 'call.ringing', 'call.answered'],
    });
    expect(some.events).toEqual(['call.ringing', 'call.answered', 'device.pruned']);
    for (const view of [all, some, await getWebhook(deps(false), 'acme')])
      expect(schemas.errors(S.Webhook, view)).toEqual([]);
    expect(schemas.errors(S.Webhook, { ...some, events: ['call.answered', 'call.answered'] })).not.toEqual([]);
    // A deployed stack takes https: only; npm start also http:.
    await expect(putWebhook(deps(false), acme, { url: 'http://pbx.example.com/cw' })).rejects.toBeInstanceOf(
      InsecureWebhookUrlError,
    );
    expect((await putWebhook(deps(true), acme, { url: 'http://127.0.0.1:9/cw' })).url).toBe('http://127.0.0.1:9/cw');
  });
});

describe('v1.1 call events and their callback', () => {
  const event = S.CallwakeEvent;
  const branchRefs: string[] = event.oneOf.map((b: Json) => b.$ref);
  /** The types a branch takes: its own narrowing of `type`. */
  const typesOf = (ref: string): string[] =>
    deref({ $ref: ref }).allOf.flatMap((p: Json) => (p.$ref ? [] : (p.properties?.type?.enum ?? [])));

  it('EventType is EVENT_TYPES, in order; the oneOf branches split it, and the discriminator maps each type', () => {
    expect(S.EventType.enum).toEqual([...EVENT_TYPES]);
    expect(branchRefs.flatMap(typesOf).sort()).toEqual([...EVENT_TYPES].sort());
    expect(event.discriminator.propertyName).toBe('type');
    const mapping: Record<string, string> = event.discriminator.mapping;
    expect(Object.keys(mapping)).toEqual([...EVENT_TYPES]);
    for (const [type, ref] of Object.entries(mapping))
      expect([type, typesOf(ref)]).toEqual([type, expect.arrayContaining([type])]);
    const callback = doc.webhooks.callwakeEvent.post;
    expect(deref(callback.parameters.find((p: Json) => p.name === 'X-Callwake-Event-Type').schema)).toBe(S.EventType);
  });

  /** Every event type, as the code derives it from a call's life (and a prune). */
  function lifeOfCalls(): CallwakeEvent[] {
    const delivered: Call = {
      ...ringing,
      answerStatus: 'ringing',
      deliveredAt: CREATED + 900,
      devices: {
        d0: { ...ringing.devices.d0!, delivery: 'sent', apnsId: '4b1c8f4e-5bb8-4f4e-9a43-1f2b7f2f0f6e' },
        d1: { ...ringing.devices.d1!, delivery: 'failed', reason: 'Unregistered' },
      },
    };
    const confirmed: Call = {
      ...delivered,
      devices: { ...delivered.devices, d0: { ...delivered.devices.d0!, confirmedAt: CREATED + 1500 } },
    };
    const answered: Call = {
      ...confirmed,
      status: 'answered',
      answeredBy: 'iphone-1',
      answeredAt: CREATED + 5000,
      devices: { ...confirmed.devices, d0: { ...confirmed.devices.d0!, answeredAt: CREATED + 5000 } },
    };
    const cancelled: Call = { ...answered, status: 'cancelled', endReason: 'failed', endedAt: CREATED + 9000 };
    const declined: Call = { ...delivered, status: 'declined', declinedBy: 'iphone-1', declinedAt: CREATED + 3000 };
    const expired: Call = { ...delivered, expiredAt: delivered.expiresAt + 40 };
    const unreachable: Call = { ...ringing, status: 'unreachable', answerStatus: 'unreachable', deliveredAt: CREATED };
    const rejected: Call = { ...ringing, status: 'rejected', rejectReason: 'blocked', devices: {} };
    return [
      ...eventsOfCallChange(ringing, delivered),
      ...eventsOfCallChange(delivered, confirmed),
      ...eventsOfCallChange(confirmed, answered),
      ...eventsOfCallChange(answered, cancelled),
      ...eventsOfCallChange(delivered, declined),
      ...eventsOfCallChange(delivered, expired),
      ...eventsOfCallChange(ringing, unreachable),
      ...eventsOfCallChange(undefined, rejected),
      prunedEvent({
        tenantId: 'acme',
        userId: 'alice',
        deviceId: 'ipad-1',
        reason: 'Unregistered',
        callId: ringing.callId,
        callUuid: ringing.callUuid,
        at: CREATED + 950,
      }),
    ];
  }

  it('every event the code derives matches exactly one branch, the one the discriminator names', () => {
    const events = lifeOfCalls();
    expect([...new Set(events.map((e) => e.type))].sort()).toEqual([...EVENT_TYPES].sort());
    for (const e of events) {
      expect([e.type, schemas.errors(event, e)]).toEqual([e.type, []]);
      const [branch, ...more] = schemas.matchingBranches(event, e);
      expect([e.type, more]).toEqual([e.type, []]);
      expect([e.type, branchRefs[branch!]]).toEqual([e.type, event.discriminator.mapping[e.type]]);
    }
    const expired = events.find((e) => e.type === 'call.expired')!;
    expect([expired.occurredAt, expired.call?.status]).toEqual([new Date(ringing.expiresAt).toISOString(), 'expired']);
  });

  it('the event schemas can fail: extra or missing members per type, unknown types, bad ids', () => {
    const events = lifeOfCalls();
    const of = (type: string) => events.find((e) => e.type === type)! as Json;
    const bad: [string, Json][] = [
      ['pruned with a sequence', { ...of('device.pruned'), sequence: 1 }],
      ['pruned with a call', { ...of('device.pruned'), call: of('call.ringing').call }],
      ['answered without deviceId', { ...of('call.answered'), deviceId: undefined }],
      ['ringing with a deviceId', { ...of('call.ringing'), deviceId: 'iphone-1' }],
      ['cancelled with a cancel reason, not an endReason', { ...of('call.cancelled'), reason: 'caller_hangup' }],
      ['an unknown type', { ...of('call.ringing'), type: 'call.bogus' }],
      ['no sequence', { ...of('call.ringing'), sequence: undefined }],
      ['sequence 0', { ...of('call.ringing'), sequence: 0 }],
      ['an id of another shape', { ...of('call.ringing'), id: 'evt_short' }],
    ];
    const strip = (o: Json) => JSON.parse(JSON.stringify(o));
    for (const [what, e] of bad) expect([what, schemas.errors(event, strip(e)).length > 0]).toEqual([what, true]);
  });

  it('the documented examples of the whole document are valid against their schemas', () => {
    const checked: string[] = [];
    const check = (schema: Json, value: Json, at: string) => {
      checked.push(at);
      expect([at, schemas.errors(schema, value)]).toEqual([at, []]);
    };
    for (const [k, v, at] of walk(doc)) {
      if (k !== 'content') continue;
      for (const [type, media] of Object.entries<Json>(v)) {
        if (!media?.schema) continue;
        if (media.example !== undefined) check(media.schema, media.example, `${at}/content/${type}/example`);
        for (const [name, ex] of Object.entries<Json>(media.examples ?? {}))
          check(media.schema, deref(ex).value, `${at}/content/${type}/examples/${name}`);
      }
    }
    for (const [name, schema] of Object.entries<Json>(S))
      if (schema.example !== undefined) check(schema, schema.example, `#/components/schemas/${name}/example`);
    for (const [name, h] of Object.entries<Json>(H))
      for (const ex of h.schema.examples ?? []) check(h.schema, ex, `#/components/headers/${name}`);
    expect(checked.length).toBeGreaterThan(20);
    expect(checked).toEqual(expect.arrayContaining([expect.stringContaining('#/webhooks/callwakeEvent/post')]));
  });

  it('the callback carries exactly the declared headers, its body is an event, and its signature is the documented one', async () => {
    const callback = doc.webhooks.callwakeEvent.post;
    const declared = callback.parameters.map((p: Json) => deref(p));
    for (const p of declared) expect([p.name, p.in, p.required]).toEqual([p.name, 'header', true]);
    expect(Object.keys(callback.requestBody.content)).toEqual(['application/json']);
    expect(deref(callback.requestBody.content['application/json'].schema)).toBe(event);
    expect(Object.keys(callback.responses).sort()).toEqual(['2XX', 'default']);
    expect(callback.security).toEqual([{ callbackSignature: [] }]);
    const scheme = doc.components.securitySchemes.callbackSignature;
    expect(scheme).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Callwake-Signature' });
    for (const s of ['<timestamp>.POST.<path and ?query of the url>.<body>', '**first**', '300 s'])
      expect(scheme.description).toContain(s);
    const signatureHeader = scheme.name.toLowerCase();

    const secrets = ['first-secret-of-acme-at-least-32-bytes!', 'second-secret-of-acme-at-least-32-bytes'];
    const sent: { url: string; headers: Record<string, string>; body: string }[] = [];
    const deliver = (url: string, e: CallwakeEvent) =>
      deliverCallback(
        {
          sender: {
            post: async (u, headers, body) => {
              sent.push({ url: u, headers, body });
              return { ok: true, status: 204 };
            },
          },
          callbacks: { enqueue: async () => undefined, deadLetter: async () => undefined },
          tenantSecrets: async () => secrets,
          clock: { now: () => CREATED + 2000 },
          timer: { now: () => CREATED + 2000, sleep: async () => undefined },
          random: () => 0.5,
          retry: CALLBACK_RETRY,
          log: silentLog,
        },
        { tenantId: 'acme', url, event: e, attempts: 0 },
      );
    const events = lifeOfCalls();
    await deliver('https://pbx.example.com/callwake?x=1&y=%20', events[0]!);
    await deliver('https://pbx.example.com', events.at(-1)!);
    const signedPaths = ['/callwake?x=1&y=%20', '/'];
    for (const [i, { headers, body }] of sent.entries()) {
      expect(Object.keys(headers).sort()).toEqual(
        ['content-type', signatureHeader, ...declared.map((p: Json) => p.name.toLowerCase())].sort(),
      );
      expect(headers['content-type']).toBe('application/json');
      expect(headers[signatureHeader]).toMatch(/^v1=[0-9a-f]{64}$/);
      for (const p of declared)
        expect([p.name, schemas.errors(p.schema, headers[p.name.toLowerCase()])]).toEqual([p.name, []]);
      const e = JSON.parse(body);
      expect(schemas.errors(event, e)).toEqual([]);
      expect([headers['x-callwake-event-id'], headers['x-callwake-event-type']]).toEqual([e.id, e.type]);
      // `<timestamp>.POST.<path and ?query of the url>.<body>` with the tenant's first secret.
      const ts = headers['x-callwake-timestamp']!;
      const mac = createHmac('sha256', secrets[0]!).update(`${ts}.POST.${signedPaths[i]}.${body}`).digest('hex');
      expect(headers['x-callwake-signature']).toBe(`v1=${mac}`);
    }
    const description = callback.description as string;
    for (const s of ['<timestamp>.POST.<path and ?query of the url>.<body>', '**first** secret', '2xx within 5 s'])
      expect(description).toContain(s);
  });

  it('the retry policy is the one x-callwake-retry documents', async () => {
    const doc_ = doc.webhooks.callwakeEvent.post['x-callwake-retry'];
    const p = CALLBACK_RETRY;
    expect(p.attemptTimeoutMs).toBe(doc_.attemptTimeoutSeconds * 1000);
    expect(p.baseMs).toBe(doc_.backoffBaseSeconds * 1000);
    expect(p.maxMs).toBe(doc_.backoffMaxSeconds * 1000);
    expect(p.giveUpAfterMs).toBe(doc_.retryForHours * 3600 * 1000);
    // Jitter: between half and all of each step.
    expect([backoffMs(p, 2, () => 0), backoffMs(p, 2, () => 1)]).toEqual([p.baseMs / 2, p.baseMs]);
    expect([backoffMs(p, 3, () => 0), backoffMs(p, 3, () => 1)]).toEqual([p.baseMs, p.baseMs * 2]);
    expect([backoffMs(p, 40, () => 0), backoffMs(p, 40, () => 1)]).toEqual([p.maxMs / 2, p.maxMs]);

    // The first retry, in the same run, after the failed attempt.
    const firstRetry = async (random: number) => {
      const slept: number[] = [];
      let attempts = 0;
      await deliverCallback(
        {
          sender: { post: async () => (++attempts === 1 ? { ok: false, status: 500 } : { ok: true, status: 200 }) },
          callbacks: { enqueue: async () => undefined, deadLetter: async () => undefined },
          tenantSecrets: async () => ['a-secret-of-at-least-thirty-two-bytes!!'],
          clock: { now: () => CREATED },
          timer: { now: () => CREATED, sleep: async (ms) => void slept.push(ms) },
          random: () => random,
          retry: p,
          log: silentLog,
        },
        { tenantId: 'acme', url: 'https://pbx.example.com/cw', event: lifeOfCalls()[0]!, attempts: 0 },
      );
      return slept;
    };
    expect([...(await firstRetry(0)), ...(await firstRetry(1))]).toEqual([
      doc_.firstRetrySeconds.min * 1000,
      doc_.firstRetrySeconds.max * 1000,
    ]);
  });

  it('the events topic publishes the event JSON with the documented message attributes', async () => {
    const topic = doc['x-callwake-events-topic'];
    expect(deref(topic.message.schema)).toBe(event);
    const inputs: Json[] = [];
    const sns = {
      send: async (command: Json) => {
        inputs.push(command.input);
        return { Failed: [] };
      },
    } as unknown as SNSClient;
    const events = lifeOfCalls();
    await new SnsPublisher(sns, 'arn:aws:sns:us-east-1:123456789012:events').publish(events);
    const entries = inputs.flatMap((i) => i.PublishBatchRequestEntries);
    expect(entries).toHaveLength(events.length);
    for (const [i, entry] of entries.entries()) {
      expect(JSON.parse(entry.Message)).toEqual(events[i]);
      expect(Object.keys(entry.MessageAttributes).sort()).toEqual(Object.keys(topic.messageAttributes).sort());
      for (const [name, a] of Object.entries<Json>(topic.messageAttributes)) {
        expect(entry.MessageAttributes[name]).toEqual({
          DataType: a.DataType,
          StringValue: (events[i] as Json)[name],
        });
      }
    }
  });
});

describe('v1.1 user settings', () => {
  const R = S.SettingsRequest.properties;
  const DND = R.doNotDisturb.properties;
  /** What the PBX API does with a body: nulls dropped, then the route's schema. */
  const parsed = (body: unknown) => settingsSchema.safeParse(withoutNulls(body));
  const ok = (body: unknown) => parsed(body).success;
  const errorPaths = (body: unknown): string[] => {
    const r = parsed(body);
    return r.success ? [] : fieldErrors(r.error).map((e) => e.path);
  };

  it("PUT and GET /v1/pbx/users/{userId}/settings are the router's, with the settings schemas", () => {
    const own = ops.filter((o) => o.path === '/v1/pbx/users/{userId}/settings');
    expect(own.map((o) => `${o.method} ${o.operationId}`).sort()).toEqual(['GET getSettings', 'PUT putSettings']);
    expect(routeOf('putSettings')?.body?.schema).toBe(settingsSchema);
    const put = own.find((o) => o.operationId === 'putSettings')!.op;
    expect(deref(put.requestBody.content['application/json'].schema)).toBe(S.SettingsRequest);
    for (const o of own) {
      expect(Object.keys(o.op.responses).filter((st) => st.startsWith('2'))).toEqual(['200']);
      expect(deref(o.op.responses['200'].content['application/json'].schema)).toBe(S.Settings);
    }
  });

  it('lists: at most 1000 entries of 1-512 characters, in both lists, as the validator enforces', () => {
    const list = S.CallerList;
    const entry = S.CallerEntry;
    expect([list.maxItems, entry.minLength, entry.maxLength]).toEqual([
      MAX_SETTINGS_ENTRIES,
      1,
      MAX_SETTINGS_ENTRY_LENGTH,
    ]);
    for (const [name, wrap] of [
      ['blockedCallers', (l: unknown) => ({ blockedCallers: l })],
      ['doNotDisturb.allowedCallers', (l: unknown) => ({ doNotDisturb: { allowedCallers: l } })],
    ] as const) {
      const cases: [unknown, boolean][] = [
        [Array(list.maxItems).fill('+1555'), true],
        [Array(list.maxItems + 1).fill('+1555'), false],
        [['x'.repeat(entry.maxLength)], true],
        [['x'.repeat(entry.maxLength + 1)], false],
        [[''], false],
        [[42], false],
        [[], true],
      ];
      for (const [l, valid] of cases) {
        const body = wrap(l);
        expect([name, ok(body), schemas.errors(S.SettingsRequest, body).length === 0]).toEqual([name, valid, valid]);
      }
      // An empty entry names itself.
      expect(errorPaths(wrap(['+1555', '']))).toEqual([`${name}.1`]);
    }
  });

  it('absent or null members take the documented defaults; a non-object body is refused as a whole', () => {
    const documented = {
      blockedCallers: R.blockedCallers.default,
      doNotDisturb: {
        enabled: DND.enabled.default,
        until: DND.until.default,
        allowedCallers: DND.allowedCallers.default,
      },
      missedCallPush: R.missedCallPush.default,
    };
    const { updatedAt: _never, ...defaults } = DEFAULT_SETTINGS;
    expect(documented).toEqual(defaults);
    const nulls = {
      blockedCallers: null,
      doNotDisturb: { enabled: null, until: null, allowedCallers: null },
      missedCallPush: null,
    };
    for (const body of [{}, nulls, { doNotDisturb: null }, { doNotDisturb: {} }, { unknown: 1 }]) {
      expect(settingsSchema.parse(withoutNulls(body))).toEqual(documented);
      expect(schemas.errors(S.SettingsRequest, body)).toEqual([]);
    }
    // A PUT replaces the whole document: what is not said is the default again.
    expect(settingsSchema.parse({ missedCallPush: false })).toEqual({ ...documented, missedCallPush: false });
    for (const body of [null, [], 'x', 1]) {
      expect([body, errorPaths(body)]).toEqual([body, ['(body)']]);
      expect(schemas.errors(S.SettingsRequest, body)).not.toEqual([]);
    }
    // Never set: the defaults, with updatedAt null: the GET example.
    const view = settingsViewOf(DEFAULT_SETTINGS);
    expect(view.updatedAt).toBeNull();
    expect(schemas.errors(S.Settings, view)).toEqual([]);
    const get = doc.paths['/v1/pbx/users/{userId}/settings'].get.responses['200'].content['application/json'];
    expect(view).toEqual(get.examples.defaults.value);
  });

  it('until: the SettingsTime pattern accepts exactly what the validator accepts, calendar included', () => {
    /** Each field's valid values and near misses; a time is valid fields with at most one near miss. */
    const fields: [string[], string[]][] = [
      [
        // Leap years (2024, 2000, 0400, 0000), common ones (2026, 1900, 2100).
        ['2026', '2024', '2000', '1900', '2100', '0400', '0000', '9999'],
        ['202', '20266'],
      ],
      [['-'], ['/']],
      [
        ['01', '02', '04', '11', '12'],
        ['00', '13', '1'],
      ],
      [['-'], ['']],
      [
        ['01', '28', '29', '30', '31'],
        ['32', '00', '1'],
      ],
      [
        ['T', 't'],
        [' ', ''],
      ],
      [
        ['00', '18', '23'],
        ['24', '25', '7'],
      ],
      [[':'], ['']],
      [
        ['00', '01', '59'],
        ['60', '5'],
      ],
      [
        ['', ':00', ':59'],
        [':60', ':5'],
      ],
      [
        ['', '.0', '.000', '.5', '.123456789', '.000000000'],
        ['.1234567890', '.', ',5'],
      ],
      [
        ['Z', 'z', '+01:00', '-23:59', '+23:59', '-00:00'],
        ['+24:00', '+23:60', '+0100', '+01', ''],
      ],
    ];
    const time = fc
      .tuple(
        fc.tuple(...fields.map(([good]) => fc.constantFrom(...good))),
        fc.integer({ min: -fields.length, max: fields.length - 1 }),
        fc.nat(),
      )
      .map(([good, miss, pick]) =>
        good.map((v, i) => (i === miss ? fields[i]![1][pick % fields[i]![1].length]! : v)).join(''),
      );
    const strings = fc.oneof(
      time,
      fc.constantFrom('2026-12-24', '2026-12-24T18:00:00', 'tomorrow', '', '1798135200000', '2026-12-24T18Z'),
    );
    let accepted = 0;
    fc.assert(
      fc.property(strings, (s) => {
        const byCode = ok({ doNotDisturb: { enabled: true, until: s } });
        if (byCode) accepted++;
        return (schemas.errors(S.SettingsTime, s).length === 0) === byCode;
      }),
      { numRuns: 6000 },
    );
    // Both sides were exercised.
    expect(accepted).toBeGreaterThan(600);
    expect(accepted).toBeLessThan(5000);
    for (const s of S.SettingsTime.examples) expect([s, ok({ doNotDisturb: { until: s } })]).toEqual([s, true]);
    // A time without an offset names itself.
    expect(errorPaths({ doNotDisturb: { until: '2026-12-24T18:00:00' } })).toEqual(['doNotDisturb.until']);
    // The calendar, as the description says: every case both ways, so each side can fail on its own.
    const calendar: [string, boolean][] = [
      ['2024-02-29T00:00Z', true],
      ['2000-02-29T00:00Z', true],
      ['0400-02-29T00:00Z', true],
      ['2026-02-28T23:59:59Z', true],
      ['2026-02-29T00:00Z', false],
      ['1900-02-29T00:00Z', false],
      ['0000-02-29T00:00Z', true],
      ['0100-02-29T00:00Z', false],
      ['2026-02-30T00:00Z', false],
      ['2026-04-31T12:00Z', false],
      ['2026-12-31T23:59+01:00', true],
      ['2026-12-24T24:00Z', false],
      ['2026-12-24T24:00:00.000Z', false],
      ['2026-12-24T18:00:60Z', false],
    ];
    for (const [s, valid] of calendar)
      expect([s, ok({ doNotDisturb: { until: s } }), schemas.errors(S.SettingsTime, s).length === 0]).toEqual([
        s,
        valid,
        valid,
      ]);
    const described = S.SettingsTime.description.replace(/\s+/g, ' ');
    for (const words of ['must be a real calendar time', '`2026-02-30`', '`24:00` is refused', 'year 0000 a leap year'])
      expect(described).toContain(words);
  });

  it('the answer is the whole document as stored, until in UTC, with updatedAt: the PUT example gives the answer example', () => {
    const put = doc.paths['/v1/pbx/users/{userId}/settings'].put;
    const request = put.requestBody.content['application/json'].example;
    const answer = put.responses['200'].content['application/json'].example;
    const stored: UserSettings = { ...settingsSchema.parse(request), updatedAt: Date.parse(answer.updatedAt) };
    expect(settingsViewOf(stored)).toEqual(answer);
    expect(request.doNotDisturb.until).not.toBe(answer.doNotDisturb.until);
    expect(answer.doNotDisturb.until).toMatch(/Z$/);
    for (const v of [settingsViewOf(stored), settingsViewOf(DEFAULT_SETTINGS)])
      expect(schemas.errors(S.Settings, v)).toEqual([]);
    // The answer schema can fail.
    const { updatedAt: _u, ...withoutUpdatedAt } = settingsViewOf(stored);
    expect(schemas.errors(S.Settings, withoutUpdatedAt)).not.toEqual([]);
    expect(
      schemas.errors(S.Settings, { ...answer, doNotDisturb: { ...answer.doNotDisturb, until: 'soon' } }),
    ).not.toEqual([]);
    expect(S.Settings.required).toContain('updatedAt');
  });

  it('who is refused: the documented rules are rejectionOf', () => {
    const now = Date.parse('2026-11-27T07:42:43.442Z');
    const caller = { number: '+15551230000', uri: 'sip:bob@example.com', displayName: 'Bob' };
    const settings = (over: Partial<UserSettings['doNotDisturb']> & { blocked?: string[] } = {}): UserSettings => ({
      blockedCallers: over.blocked ?? [],
      doNotDisturb: {
        enabled: over.enabled ?? false,
        until: over.until ?? null,
        allowedCallers: over.allowedCallers ?? [],
      },
      missedCallPush: true,
    });
    const cases: [string, UserSettings, string | undefined][] = [
      ['nothing set', settings(), undefined],
      ['blocked by number', settings({ blocked: ['+15551230000'] }), 'blocked'],
      ['blocked by uri', settings({ blocked: ['sip:bob@example.com'] }), 'blocked'],
      ['exact match only', settings({ blocked: ['SIP:bob@example.com', '15551230000', ' +15551230000'] }), undefined],
      ['never by display name', settings({ blocked: ['Bob'] }), undefined],
      ['DND on, no end', settings({ enabled: true }), 'doNotDisturb'],
      ['DND on, end ahead', settings({ enabled: true, until: now + 1 }), 'doNotDisturb'],
      ['DND at its end is off', settings({ enabled: true, until: now }), undefined],
      ['DND past its end is off', settings({ enabled: true, until: now - 1 }), undefined],
      ['DND disabled', settings({ enabled: false }), undefined],
      [
        'DND lets an allowed caller through',
        settings({ enabled: true, allowedCallers: ['sip:bob@example.com'] }),
        undefined,
      ],
      [
        'blocked wins over allowedCallers',
        settings({ blocked: ['+15551230000'], enabled: true, allowedCallers: ['+15551230000'] }),
        'blocked',
      ],
    ];
    for (const [what, s, reason] of cases) expect([what, rejectionOf(s, caller, now)]).toEqual([what, reason]);
    expect(S.RejectReason.enum).toEqual(['blocked', 'doNotDisturb']);
    expect(S.CallerEntry.description).toContain('compared exactly');
  });
});

describe('v1.1 creates the user settings refuse', () => {
  const blocking = (over: Partial<UserSettings> = {}): UserSettings => ({
    ...DEFAULT_SETTINGS,
    blockedCallers: ['+15551230000'],
    ...over,
  });
  const dnd: UserSettings = { ...DEFAULT_SETTINGS, doNotDisturb: { enabled: true, until: null, allowedCallers: [] } };
  const inlineContact = () => ({ pnProvider: 'apns' as const, pnPrid: newToken(), pnParam: `${TEAM}.${BUNDLE}.voip` });

  it('a blocked caller: 201 rejected/blocked, deliveries [], nothing pushed (inline devices included), event call.rejected', async () => {
    const h = new PushHarness();
    h.user = { devices: [registered('phone', { alertPushToken: newToken() })], settings: blocking() };
    const r = await h.ring(h.request({ devices: [inlineContact()] }));
    expect(r.created).toBe(true);
    expect(r.answer).toMatchObject({ status: 'rejected', rejectReason: 'blocked', deliveries: [] });
    expect(schemas.errors(S.RingAnswer, r.answer)).toEqual([]);
    expect(h.sent).toEqual([]);
    expect(h.lookups).toBe(1);
    const view = pbxViewOf(await h.call(r.answer.callId), h.now);
    expect(view).toMatchObject({ status: 'rejected', rejectReason: 'blocked', devices: [] });
    expect(schemas.errors(S.PbxCallView, view)).toEqual([]);
    expect(h.events.map((e) => [e.type, e.sequence, e.reason])).toEqual([['call.rejected', 1, 'blocked']]);
    for (const e of h.events) expect(schemas.errors(S.CallwakeEvent, e)).toEqual([]);
    // The documented example is this answer's shape.
    const example =
      doc.paths['/v1/pbx/calls'].post.responses['201'].content['application/json'].examples.rejected.value;
    expect(Object.keys(r.answer).sort()).toEqual(Object.keys(example).sort());
    // The status enum and the answer schema can tell.
    expect(S.RingAnswer.properties.status.enum).toContain('rejected');
    expect(schemas.errors(S.RingAnswer, { ...r.answer, rejectReason: 'busy' })).not.toEqual([]);
  });

  it('a retry of the same body: 200 with the same answer; another body 409; a cancel keeps the call rejected', async () => {
    const h = new PushHarness();
    h.user = { devices: [registered('phone')], settings: blocking() };
    const req = h.request();
    const first = await h.ring(req);
    const again = await h.ring(h.request());
    expect([again.created, again.answer]).toEqual([false, first.answer]);
    await expect(h.ring(h.request({ hasVideo: true }))).rejects.toBeInstanceOf(CallIdConflictError);
    const cancelled = await cancelCall(h.deps, TENANT, req.callId, 'caller_hangup');
    expect(cancelled).toMatchObject({ status: 'rejected', rejectReason: 'blocked', endReason: null });
    const after = await h.ring(h.request());
    expect([after.created, after.answer]).toEqual([false, first.answer]);
    expect(h.sent).toEqual([]);
    // Only the create's event: the cancel changed nothing.
    expect(h.events.map((e) => e.type)).toEqual(['call.rejected']);
  });

  it('Do Not Disturb: 201 rejected/doNotDisturb; an allowed caller rings; settings never apply without to.userId', async () => {
    const h = new PushHarness();
    h.user = { devices: [registered('phone')], settings: dnd };
    const r = await h.ring(h.request());
    expect(r.answer).toMatchObject({ status: 'rejected', rejectReason: 'doNotDisturb', deliveries: [] });
    expect(schemas.errors(S.RingAnswer, r.answer)).toEqual([]);

    const allowed = new PushHarness();
    allowed.user = {
      devices: [registered('phone')],
      settings: { ...dnd, doNotDisturb: { ...dnd.doNotDisturb, allowedCallers: ['+15551230000'] } },
    };
    expect((await allowed.ring(allowed.request())).answer.status).toBe('ringing');

    const inlineOnly = new PushHarness();
    inlineOnly.user = { devices: [], settings: blocking() };
    const answer = (await inlineOnly.ring(inlineOnly.request({ to: undefined, devices: [inlineContact()] }))).answer;
    expect([answer.status, inlineOnly.lookups, inlineOnly.sent.length]).toEqual(['ringing', 0, 1]);
  });

  it('rejectReason only on a rejected answer: ringing and unreachable answers keep their v1 shape', async () => {
    const h = new PushHarness();
    const phone = registered('phone');
    h.user = { devices: [phone], settings: DEFAULT_SETTINGS };
    const ringing = (await h.ring(h.request())).answer;
    h.answer = () => REFUSE.Unregistered;
    const unreachable = (await h.ring(h.request({ callId: 'another@pbx.example.com' }))).answer;
    expect([ringing.status, unreachable.status]).toEqual(['ringing', 'unreachable']);
    for (const a of [ringing, unreachable]) {
      expect(a).not.toHaveProperty('rejectReason');
      expect(schemas.errors(S.RingAnswer, a)).toEqual([]);
    }
    expect(S.RingAnswer.description).toContain('`rejectReason` is present exactly when `status` is `rejected`');
    expect(S.RingAnswer.required).not.toContain('rejectReason');
  });

  it('callerInPush: default true (the documented default), and part of "the same body"', async () => {
    const base = { callId: 'c-1', from: { number: '+15551230000' }, to: { userId: 'alice' } };
    expect(ringSchema.parse(base).callerInPush).toBe(S.RingRequest.properties.callerInPush.default);
    expect(ringSchema.parse(withoutNulls({ ...base, callerInPush: null })).callerInPush).toBe(true);
    expect(ringSchema.parse({ ...base, callerInPush: false }).callerInPush).toBe(false);
    expect(S.RingRequest.description).toContain('`callerInPush` true');
    const h = new PushHarness();
    h.user = { devices: [registered('phone')], settings: DEFAULT_SETTINGS };
    await h.ring(h.request({ callerInPush: false }));
    expect((await h.ring(h.request({ callerInPush: false }))).created).toBe(false);
    await expect(h.ring(h.request({ callerInPush: true }))).rejects.toBeInstanceOf(CallIdConflictError);
  });
});

describe('v1.1 devices: the alert token', () => {
  const reg = {
    platform: 'ios',
    pushToken: 'ab'.repeat(32),
    bundleId: 'com.example.phone',
    environment: 'production',
  };

  it('alertPushToken is hex like pushToken, optional, and named when wrong', () => {
    const A = S.DeviceRegistration.properties.alertPushToken;
    expect(A.oneOf.map((b: Json) => deref(b))).toEqual([S.PushToken, { type: 'null' }]);
    expect(S.DeviceRegistration.required).not.toContain('alertPushToken');
    for (const t of [
      'CD'.repeat(32),
      'cd'.repeat(100),
      'c'.repeat(64),
      'cd'.repeat(31),
      'cd'.repeat(101),
      'g'.repeat(64),
    ]) {
      const body = { ...reg, alertPushToken: t };
      const valid = deviceSchema.safeParse(body).success;
      expect([t.length, valid, schemas.errors(S.DeviceRegistration, body).length === 0]).toEqual([
        t.length,
        valid,
        valid,
      ]);
      expect([t.length, valid]).toEqual([t.length, pushToken.safeParse(t).success]);
    }
    const r = deviceSchema.safeParse({ ...reg, alertPushToken: 'nope' });
    expect(r.success ? [] : fieldErrors(r.error).map((e) => e.path)).toEqual(['alertPushToken']);
    expect(deviceSchema.parse(withoutNulls({ ...reg, alertPushToken: null }))).not.toHaveProperty('alertPushToken');
  });

  it('the device shows alertTokenSuffix (the last 8 characters) only when it has an alert token', () => {
    const with_ = deviceViewOf({ ...registered('phone'), alertPushToken: `${'ab'.repeat(28)}0123abcd` });
    const without = deviceViewOf(registered('pad', { pushType: 'alert' }));
    expect(with_.alertTokenSuffix).toBe('0123abcd');
    expect(without).not.toHaveProperty('alertTokenSuffix');
    for (const v of [with_, without]) expect(schemas.errors(S.Device, v)).toEqual([]);
    expect(S.Device.required).not.toContain('alertTokenSuffix');
    expect(schemas.errors(S.Device, { ...with_, alertTokenSuffix: 'ABCD0123' })).not.toEqual([]);
    // The documented answer example has the suffix of the documented request's alert token.
    const put = doc.paths['/v1/pbx/users/{userId}/devices/{deviceId}'].put;
    const example = put.responses['201'].content['application/json'].example;
    expect(example.alertTokenSuffix).toBe(put.requestBody.content['application/json'].example.alertPushToken.slice(-8));
  });
});

describe('v1.1 inline devices: RFC 8599 parameters as real phones send them', () => {
  const H64 = 'ab'.repeat(32);
  const H200 = 'Cd'.repeat(100);
  const token = fc.constantFrom(H64, H200, 'ab'.repeat(31), 'ab'.repeat(101), 'a'.repeat(65), `g${'a'.repeat(63)}`, '');
  const type = fc.constantFrom('voip', 'remote', 'VOIP', 'alert', '');
  const part = fc.tuple(token, type).map(([t, y]) => `${t}:${y}`);
  const pnPrid = fc.oneof(
    token,
    part,
    fc.tuple(part, part).map(([a, b]) => `${a}&${b}`),
    fc.tuple(part, part, part).map(([a, b, c]) => `${a}&${b}&${c}`),
    part.map((p) => `${p}&`),
    fc.constantFrom(
      `${H64}:voip:voip`,
      `x:${H64}:voip`,
      ':voip',
      `${'ab'.repeat(130)}:voip&${'ab'.repeat(130)}:remote`,
    ),
  );
  const team = fc.constantFrom('ABCDE12345', 'ab1', '', 'AB-CD', 'AB_CD');
  const bundle = fc.constantFrom(
    'com.example.phone',
    'x',
    'voip',
    'voip.voip',
    'remote',
    '',
    'a..b',
    'ex_ample',
    'a-b.c',
  );
  const suffix = fc.constantFrom(
    '',
    '.voip',
    '.remote',
    '.remote&voip',
    '.voip&remote',
    '.voip&voip',
    '.remote&',
    '.VOIP',
  );
  const pnParam = fc.oneof(
    fc.tuple(team, bundle, suffix).map(([t, b, x]) => `${t}.${b}${x}`),
    fc.tuple(team, suffix).map(([t, x]) => `${t}${x}`),
    fc.constantFrom(`ABCDE12345.${'a'.repeat(250)}.voip`, `ABCDE12345.${'a'.repeat(240)}.voip`, 'ABCDE12345.voip'),
  );
  const provider = fc.constantFrom('apns', 'apns.dev', 'APNS', 'apns.prod', '');
  /** Contacts of the documented forms, then with one member swapped for an arbitrary one. */
  const hex = fc.constantFrom(H64, H200, 'ab'.repeat(50));
  const wellFormed = fc.oneof(
    fc.record({
      pnProvider: fc.constantFrom('apns', 'apns.dev'),
      pnPrid: hex,
      pnParam: fc.constantFrom(`${TEAM}.${BUNDLE}.voip`, `${TEAM}.${BUNDLE}`, 'T1.x.voip', 'T1.voip.x'),
    }),
    fc
      .tuple(fc.constantFrom('apns', 'apns.dev'), hex, hex, fc.constantFrom(0, 1, 2, 3, 4), fc.constantFrom('A1', TEAM))
      .map(([pnProvider, a, b, form, t]) => {
        // Either order of the parts, and of the types.
        const [prid, types] = (
          [
            [`${a}:remote&${b}:voip`, 'remote&voip'],
            [`${b}:voip&${a}:remote`, 'voip&remote'],
            [`${a}:remote&${b}:voip`, 'voip&remote'],
            [`${b}:voip`, 'voip'],
            [`${a}:remote`, 'remote'],
          ] as const
        )[form]!;
        return { pnProvider, pnPrid: prid, pnParam: `${t}.${BUNDLE}.${types}` };
      }),
  );
  const contact = fc.oneof(
    wellFormed,
    fc
      .tuple(wellFormed, fc.constantFrom('pnProvider', 'pnPrid', 'pnParam'), provider, pnPrid, pnParam)
      .map(([d, member, pv, pr, pa]) => ({ ...d, [member]: { pnProvider: pv, pnPrid: pr, pnParam: pa }[member] })),
    fc.record({ pnProvider: provider, pnPrid, pnParam }),
  );

  it('the InlineDevice schema accepts exactly the contacts the validator accepts', () => {
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(contact, (d) => {
        const byCode = inlineDeviceSchema.safeParse(d).success;
        seen[byCode ? 'accepted' : 'refused']++;
        return (schemas.errors(S.InlineDevice, d).length === 0) === byCode;
      }),
      { numRuns: 6000 },
    );
    expect(Math.min(seen.accepted, seen.refused)).toBeGreaterThan(1000);
    // Every accepted contact matches exactly one of the documented forms.
    const forms = [
      { pnProvider: 'apns', pnPrid: H64, pnParam: `${TEAM}.${BUNDLE}.voip` },
      { pnProvider: 'apns.dev', pnPrid: H64, pnParam: `${TEAM}.${BUNDLE}` },
      { pnProvider: 'apns', pnPrid: `${H64}:remote&${H200}:voip`, pnParam: `${TEAM}.${BUNDLE}.remote&voip` },
      { pnProvider: 'apns', pnPrid: `${H200}:voip&${H64}:remote`, pnParam: `${TEAM}.${BUNDLE}.remote&voip` },
      { pnProvider: 'apns', pnPrid: `${H200}:voip`, pnParam: `${TEAM}.${BUNDLE}.voip` },
      { pnProvider: 'apns.dev', pnPrid: `${H64}:remote`, pnParam: `${TEAM}.${BUNDLE}.remote` },
    ];
    expect(forms.map((d) => schemas.matchingBranches(S.InlineDevice, d))).toEqual([[0], [0], [1], [1], [2], [3]]);
    for (const d of forms) expect(inlineDeviceSchema.safeParse(d).success).toBe(true);
  });

  it('what each form means: the environment, the push type, the alert token', () => {
    const read = (pnProvider: 'apns' | 'apns.dev', pnPrid: string, pnParam: string) =>
      readInlineDevice({ pnProvider, pnPrid, pnParam });
    expect(read('apns', H64, `${TEAM}.${BUNDLE}.voip`)).toEqual({
      pushToken: H64,
      teamId: TEAM,
      bundleId: BUNDLE,
      pushType: 'voip',
    });
    expect(read('apns.dev', H64, `${TEAM}.${BUNDLE}`)).toMatchObject({ pushType: 'alert', environment: 'sandbox' });
    for (const [prid, param] of [
      [`${H64}:remote&${H200}:voip`, `${TEAM}.${BUNDLE}.remote&voip`],
      [`${H200}:voip&${H64}:remote`, `${TEAM}.${BUNDLE}.voip&remote`],
    ])
      expect(read('apns', prid!, param!)).toEqual({
        pushToken: H200.toLowerCase(),
        alertToken: H64,
        teamId: TEAM,
        bundleId: BUNDLE,
        pushType: 'voip',
      });
    // A remote token alone: an alert-mode device on its remote token.
    expect(read('apns', `${H64}:remote`, `${TEAM}.${BUNDLE}.remote`)).toEqual({
      pushToken: H64,
      teamId: TEAM,
      bundleId: BUNDLE,
      pushType: 'alert',
    });
    // Errors name the member at fault, as devices.<i>.<member>.
    const pathsOf = (d: object) => {
      const r = ringSchema.safeParse({ callId: 'c', from: { number: '1' }, devices: [d] });
      return r.success ? [] : fieldErrors(r.error).map((e) => e.path);
    };
    const good = { pnProvider: 'apns', pnPrid: `${H64}:remote&${H200}:voip`, pnParam: `${TEAM}.${BUNDLE}.remote&voip` };
    expect(pathsOf({ ...good, pnProvider: 'fcm' })).toEqual(['devices.0.pnProvider']);
    expect(pathsOf({ ...good, pnPrid: `${H64}:remote&${H64}:remote` })).toEqual(['devices.0.pnPrid']);
    expect(pathsOf({ ...good, pnPrid: `${H64}:push` })).toEqual(['devices.0.pnPrid']);
    expect(pathsOf({ ...good, pnPrid: 'a'.repeat(513) })).toContain('devices.0.pnPrid');
    expect(pathsOf({ ...good, pnParam: `${TEAM}.${BUNDLE}.voip` })).toEqual(['devices.0.pnParam']);
    expect(pathsOf({ ...good, pnParam: `${TEAM}.${'a'.repeat(256)}` })).toContain('devices.0.pnParam');
    expect(isInlineDeviceError(read('apns', H64, 'nodot'))).toBe(true);
    expect(S.InlineDevice.properties.pnPrid.maxLength).toBe(512);
    expect(S.InlineDevice.properties.pnParam.maxLength).toBe(256);
  });

  it('rung: apns goes to the default environment, apns.dev to the sandbox; the multi-token forms push the right token', async () => {
    const h = new PushHarness();
    const [single, devVoip, voip, remote, remoteOnly] = [newToken(), newToken(), newToken(), newToken(), newToken()];
    const r = await h.ring(
      h.request({
        to: undefined,
        devices: [
          { pnProvider: 'apns', pnPrid: single, pnParam: `${TEAM}.${BUNDLE}.voip` },
          { pnProvider: 'apns.dev', pnPrid: devVoip, pnParam: `${TEAM}.${BUNDLE}.voip` },
          { pnProvider: 'apns', pnPrid: `${remote}:remote&${voip}:voip`, pnParam: `${TEAM}.${BUNDLE}.voip&remote` },
          { pnProvider: 'apns.dev', pnPrid: `${remoteOnly}:remote`, pnParam: `${TEAM}.${BUNDLE}.remote` },
        ],
      }),
    );
    const pushes = (t: string) =>
      h.to(t).map((p) => [p.environment, p.headers['apns-push-type'], p.headers['apns-topic']]);
    expect(pushes(single)).toEqual([['production', 'voip', `${BUNDLE}.voip`]]);
    expect(pushes(devVoip)).toEqual([['sandbox', 'voip', `${BUNDLE}.voip`]]);
    expect(pushes(voip)).toEqual([['production', 'voip', `${BUNDLE}.voip`]]);
    expect(pushes(remote)).toEqual([]);
    expect(pushes(remoteOnly)).toEqual([['sandbox', 'alert', BUNDLE]]);
    expect(r.answer.deliveries.map((d) => [d.deviceId, d.pushType, d.result])).toEqual([
      [inlineDeviceIdOf(single), 'voip', 'sent'],
      [inlineDeviceIdOf(devVoip), 'voip', 'sent'],
      [inlineDeviceIdOf(voip), 'voip', 'sent'],
      [inlineDeviceIdOf(remoteOnly), 'alert', 'sent'],
    ]);
    expect(schemas.errors(S.RingAnswer, r.answer)).toEqual([]);
    // The sandbox default is the deployment's.
    const sandboxed = new PushHarness({ defaultEnvironment: 'sandbox' });
    await sandboxed.ring(
      sandboxed.request({
        to: undefined,
        devices: [{ pnProvider: 'apns', pnPrid: single, pnParam: `${TEAM}.${BUNDLE}.voip` }],
      }),
    );
    expect(sandboxed.to(single).map((p) => p.environment)).toEqual(['sandbox']);
  });
});

/** The object without one member. */
const without = (o: Json, member: string): Json => Object.fromEntries(Object.entries(o).filter(([k]) => k !== member));

describe('v1.1 the pushes: x-callwake-pushes against what the code sends', () => {
  const P = doc['x-callwake-pushes'];
  const KINDS = ['voip', 'incomingAlert', 'missedCall', 'passiveMissedCall', 'callEnded'] as const;
  type Kind = (typeof KINDS)[number];
  const DAY_S = 86_400;

  it('lists each push: placeholders it defines, headers, the size limits of the code, a payload schema', () => {
    expect(Object.keys(P).filter((k) => k !== 'description' && k !== 'placeholders')).toEqual([...KINDS]);
    const placeholders = new Set(Object.keys(P.placeholders));
    for (const kind of KINDS) {
      const spec = P[kind];
      expect(typeof spec.description).toBe('string');
      const used = Object.values<string>(spec.headers).flatMap((v) => [...v.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      expect([kind, used.filter((u) => !placeholders.has(u!))]).toEqual([kind, []]);
      expect(spec.headers['apns-priority']).toBe('10');
      expect(spec.maxBytes).toBe(kind === 'voip' ? MAX_PAYLOAD_BYTES.voip : MAX_PAYLOAD_BYTES.alert);
      expect(deref(spec.payload)).toBeDefined();
    }
  });

  /** The push is the documented kind: exactly its headers, its size limit, its schema and no other's. */
  function expectPush(kind: Kind, req: ApnsRequest, vars: Record<string, string | number>): Json {
    const spec = P[kind];
    const { authorization, 'content-type': contentType, ...headers } = req.headers;
    expect([authorization, contentType]).toEqual(['bearer provider-jwt', 'application/json']);
    const expected = Object.fromEntries(
      Object.entries<string>(spec.headers).map(([name, v]) => [
        name,
        v.replace(/\{(\w+)\}/g, (_m, p: string) => {
          if (vars[p] === undefined) throw new Error(`${kind}: no value for {${p}}`);
          return String(vars[p]);
        }),
      ]),
    );
    expect([kind, headers]).toEqual([kind, expected]);
    expect(Buffer.byteLength(req.payload)).toBeLessThanOrEqual(spec.maxBytes);
    const payload = JSON.parse(req.payload);
    expect([kind, schemas.errors(spec.payload, payload)]).toEqual([kind, []]);
    expect([kind, KINDS.filter((k) => schemas.errors(P[k].payload, payload).length === 0)]).toEqual([kind, [kind]]);
    return payload;
  }

  /** A user with a VoIP phone that has an alert token, an alert-mode iPad in the sandbox, and an old phone without one. */
  function household(settings: UserSettings = DEFAULT_SETTINGS) {
    const h = new PushHarness();
    const phone = registered('phone', { alertPushToken: newToken() });
    const pad = registered('pad', { pushType: 'alert', environment: 'sandbox' });
    const old = registered('old-phone');
    h.user = { devices: [phone, pad, old], settings };
    return { h, phone, pad, old };
  }

  it('the VoIP push and the alert-mode incoming alert, as ringCall sends them through ApnsPusher', async () => {
    const { h, phone, pad, old } = household();
    const r = await h.ring(h.request({ hasVideo: true }));
    const call = await h.call(r.answer.callId);
    const vars = { bundleId: BUNDLE, callUuid: call.callUuid, ringEndSeconds: Math.floor(call.expiresAt / 1000) };
    for (const d of [phone, old]) {
      const [push, ...more] = h.to(d.pushToken);
      expect(more).toEqual([]);
      expect(push!.environment).toBe('production');
      const p = expectPush('voip', push!, vars);
      expect(p.callwake).toMatchObject({
        caller: { number: '+15551230000', displayName: 'Bob Smith' },
        hasVideo: true,
        expiresAt: call.expiresAt,
        api: expect.stringMatching(/\/v1\/app$/),
      });
    }
    const [alert] = h.to(pad.pushToken);
    expect(alert!.environment).toBe('sandbox');
    const a = expectPush('incomingAlert', alert!, vars);
    expect(a.aps.alert).toEqual({ title: 'Incoming call', body: 'Bob Smith' });
    // The alert token is for the call's end, not its start.
    expect(h.to(phone.alertPushToken!)).toEqual([]);
  });

  it('the caller as pushed: number and display name, uri only without a number; nothing with callerInPush false', async () => {
    const { h, phone, pad } = household();
    await h.ring(h.request({ from: { uri: 'sip:bob@example.com' } }));
    expect(JSON.parse(h.to(phone.pushToken)[0]!.payload).callwake.caller).toEqual({ uri: 'sip:bob@example.com' });
    expect(JSON.parse(h.to(pad.pushToken)[0]!.payload).aps.alert.body).toBe('sip:bob@example.com');

    const hidden = household();
    const r = await hidden.h.ring(hidden.h.request({ callerInPush: false }));
    const call = await hidden.h.call(r.answer.callId);
    const vars = { bundleId: BUNDLE, callUuid: call.callUuid, ringEndSeconds: Math.floor(call.expiresAt / 1000) };
    expect(expectPush('voip', hidden.h.to(hidden.phone.pushToken)[0]!, vars).callwake.caller).toEqual({});
    expect(expectPush('incomingAlert', hidden.h.to(hidden.pad.pushToken)[0]!, vars).aps.alert).toEqual({
      title: 'Incoming call',
      body: 'Incoming call',
    });
    // The app view still tells the caller (confirm is how the app learns it).
    expect(appViewOf(call, 'd0', hidden.h.now).caller).toEqual({
      number: '+15551230000',
      displayName: 'Bob Smith',
      uri: 'sip:bob@example.com',
    });
    // The caller schema can fail.
    expect(schemas.errors(S.PushCaller, { number: '1', uri: 'sip:a@b' })).not.toEqual([]);
    expect(schemas.errors(S.PushCaller, { name: 'Bob' })).not.toEqual([]);
  });

  it('a display name too long for the push is shortened, never the push dropped', async () => {
    const { h, phone, pad } = household();
    await h.ring(h.request({ from: { number: '+1555', displayName: '\u{1F4DE}'.repeat(2000) } }));
    const voip = JSON.parse(h.to(phone.pushToken)[0]!.payload);
    const alert = JSON.parse(h.to(pad.pushToken)[0]!.payload);
    expect([...voip.callwake.caller.displayName].length).toBe(256);
    expect(Buffer.byteLength(h.to(pad.pushToken)[0]!.payload)).toBeLessThanOrEqual(P.incomingAlert.maxBytes);
    expect(schemas.errors(S.AlertPush, alert)).toEqual([]);
  });

  it('missed-call alert after the caller hung up: to the alert token and the alert-mode device, 24 h, on the collapse id', async () => {
    const { h, phone, pad, old } = household();
    const inlineVoip = newToken();
    const inlineRemote = newToken();
    const r = await h.ring(
      h.request({
        devices: [
          {
            pnProvider: 'apns.dev',
            pnPrid: `${inlineRemote}:remote&${inlineVoip}:voip`,
            pnParam: `${TEAM}.${BUNDLE}.remote&voip`,
          },
        ],
      }),
    );
    const rang = h.sent.length;
    h.now += 9000;
    const endedAt = h.now;
    await h.change(r.answer.callId, () => cancelCall(h.deps, TENANT, r.answer.callId, 'caller_hangup'));
    const call = await h.call(r.answer.callId);
    const vars = { bundleId: BUNDLE, callUuid: call.callUuid, alertExpirySeconds: Math.floor(endedAt / 1000) + DAY_S };
    const after = h.sent.slice(rang);
    expect(after.map((p) => p.token).sort()).toEqual([phone.alertPushToken!, pad.pushToken, inlineRemote].sort());
    for (const req of after) {
      const p = expectPush('missedCall', req, vars);
      expect(p.callwake).toEqual({
        v: 1,
        type: 'missed',
        callId: call.callId,
        callUuid: call.callUuid,
        caller: { number: '+15551230000', displayName: 'Bob Smith' },
        createdAt: call.createdAt,
        endedAt,
      });
      expect(p.aps.alert['loc-args']).toEqual(['Bob Smith']);
    }
    // Each alert token goes to its device's environment.
    expect(after.map((p) => [p.token, p.environment]).sort()).toEqual(
      [
        [phone.alertPushToken!, 'production'],
        [pad.pushToken, 'sandbox'],
        [inlineRemote, 'sandbox'],
      ].sort(),
    );
    expect(h.to(old.pushToken)).toHaveLength(1);
  });

  it('missed-call alert after the ring timeout: the end is the ring end (expiresAt)', async () => {
    const { h, phone } = household();
    const r = await h.ring(h.request({ callerInPush: false }));
    const call = await h.call(r.answer.callId);
    h.now = call.expiresAt + 1700;
    const events = await h.change(r.answer.callId, (uuid) => h.calls.markExpired(uuid, h.now));
    expect(events.map((e) => e.type)).toEqual(['call.expired']);
    const [alert] = h.to(phone.alertPushToken!);
    const p = expectPush('missedCall', alert!, {
      bundleId: BUNDLE,
      callUuid: call.callUuid,
      alertExpirySeconds: Math.floor(call.expiresAt / 1000) + DAY_S,
    });
    expect(p.callwake.endedAt).toBe(call.expiresAt);
    // callerInPush false: no caller in the alert either.
    expect([p.aps.alert['loc-args'], p.callwake.caller]).toEqual([[], {}]);
  });

  it('Do Not Disturb: the passive missed-call alert at once, to the registered devices with an alert token, alert-mode ones included', async () => {
    const dnd = { ...DEFAULT_SETTINGS, doNotDisturb: { enabled: true, until: null, allowedCallers: [] } };
    const { h, phone, pad, old } = household(dnd);
    const inlineRemote = newToken();
    const r = await h.ring(
      h.request({
        devices: [
          {
            pnProvider: 'apns',
            pnPrid: `${inlineRemote}:remote&${newToken()}:voip`,
            pnParam: `${TEAM}.${BUNDLE}.remote&voip`,
          },
        ],
      }),
    );
    expect(r.answer.status).toBe('rejected');
    const call = await h.call(r.answer.callId);
    expect(h.sent.map((p) => p.token).sort()).toEqual([phone.alertPushToken!, pad.pushToken].sort());
    for (const req of h.sent) {
      const p = expectPush('passiveMissedCall', req, {
        bundleId: BUNDLE,
        callUuid: call.callUuid,
        alertExpirySeconds: Math.floor(call.createdAt / 1000) + DAY_S,
      });
      expect(p.callwake.endedAt).toBe(call.createdAt);
      expect(p.aps).not.toHaveProperty('sound');
    }
    expect(h.to(old.pushToken)).toEqual([]);
    expect(h.to(inlineRemote)).toEqual([]);

    // None for a blocked caller; none with missedCallPush off.
    for (const settings of [
      { ...DEFAULT_SETTINGS, blockedCallers: ['+15551230000'] },
      { ...dnd, missedCallPush: false },
    ]) {
      const other = household(settings);
      expect((await other.h.ring(other.h.request())).answer.status).toBe('rejected');
      expect(other.h.sent).toEqual([]);
    }
  });

  it('the passive "call ended" alert replaces the alert-mode alert when the call did not end as a missed call', async () => {
    /** The household plus a second alert-mode device; `end` ends the ringing call; what the end sent. */
    async function ended(
      end: (h: PushHarness, callId: string, slotOf: (id: string) => string) => Promise<unknown>,
      settings = DEFAULT_SETTINGS,
    ) {
      const { h, phone, pad } = household(settings);
      const pad2 = registered('pad-2', { pushType: 'alert' });
      h.user.devices.push(pad2);
      const r = await h.ring(h.request());
      const rang = h.sent.length;
      const ringing = await h.call(r.answer.callId);
      const slotOf = (id: string) => Object.entries(ringing.devices).find(([, d]) => d.deviceId === id)![0];
      h.now += 4000;
      const endedAt = h.now;
      await end(h, r.answer.callId, slotOf);
      const call = await h.call(r.answer.callId);
      const vars = {
        bundleId: BUNDLE,
        callUuid: call.callUuid,
        alertExpirySeconds: Math.floor(endedAt / 1000) + DAY_S,
      };
      const sent = h.sent.slice(rang);
      /** The kind and endReason of what each device's alert token (or own, for alert mode) got. */
      const got = (kind: Kind) =>
        Object.fromEntries(
          [
            ['phone', phone.alertPushToken!],
            ['pad', pad.pushToken],
            ['pad-2', pad2.pushToken],
          ].map(([name, token]) => [
            name,
            sent
              .filter((p) => p.token === token)
              .map((p) => {
                const payload = expectPush(kind, p, vars);
                expect(payload.callwake.endedAt).toBe(endedAt);
                return payload.callwake.endReason ?? null;
              }),
          ]),
        );
      return { h, got };
    }
    const answer = (h: PushHarness, id: string, slot: string) =>
      h.change(id, (uuid) => h.calls.answer(uuid, slot, h.now));

    // Answered on the phone: both pads get "call ended", without endReason; the phone's alert token nothing.
    let e = await ended((h, id, slotOf) => answer(h, id, slotOf('phone')));
    expect(e.got('callEnded')).toEqual({ phone: [], pad: [null], 'pad-2': [null] });
    // A later cancel of the answered call sends nothing more.
    const before = e.h.sent.length;
    await e.h.change('a84b4c76e66710@pbx.example.com', () =>
      cancelCall(e.h.deps, TENANT, 'a84b4c76e66710@pbx.example.com', 'caller_hangup'),
    );
    expect(e.h.sent.length).toBe(before);

    // Answered on a pad: the other pad only.
    e = await ended((h, id, slotOf) => answer(h, id, slotOf('pad')));
    expect(e.got('callEnded')).toEqual({ phone: [], pad: [], 'pad-2': [null] });

    // Declined on a pad: the other pad only.
    e = await ended((h, id, slotOf) => h.change(id, (uuid) => h.calls.decline(uuid, slotOf('pad-2'), h.now)));
    expect(e.got('callEnded')).toEqual({ phone: [], pad: [null], 'pad-2': [] });

    // Cancelled as answered elsewhere (or failed): both pads, with the endReason; no missed call.
    for (const [reason, endReason] of [
      ['answered_elsewhere', 'answeredElsewhere'],
      ['declined_elsewhere', 'declinedElsewhere'],
      ['error', 'failed'],
    ] as const) {
      e = await ended((h, id) => h.change(id, () => cancelCall(h.deps, TENANT, id, reason)));
      expect([reason, e.got('callEnded')]).toEqual([reason, { phone: [], pad: [endReason], 'pad-2': [endReason] }]);
    }

    // missedCallPush off: an unanswered end is "call ended" too, and the phone gets nothing.
    e = await ended((h, id) => h.change(id, () => cancelCall(h.deps, TENANT, id, 'caller_hangup')), {
      ...DEFAULT_SETTINGS,
      missedCallPush: false,
    });
    expect(e.got('callEnded')).toEqual({ phone: [], pad: ['remoteEnded'], 'pad-2': ['remoteEnded'] });

    // With it on (the default), the same end is the missed-call alert for all three.
    e = await ended((h, id) => h.change(id, () => cancelCall(h.deps, TENANT, id, 'timeout')));
    expect(e.got('missedCall')).toEqual({ phone: [null], pad: [null], 'pad-2': [null] });
  });

  it('the push schemas can fail: each member and constant the code sets is required as set', () => {
    // The code's own builders, on a call ringing two devices.
    const content = { call: ringing, token: 'cw1.AbCdEf.payload.mac', apiUrl: API_URL, sentAt: CREATED + 20 };
    const voip = JSON.parse(buildPushPayload('voip', content));
    const incoming = JSON.parse(buildPushPayload('alert', content));
    const missed = JSON.parse(endAlertPayload('missed', ringing, CREATED + 9000));
    const passive = JSON.parse(endAlertPayload('missedPassive', ringing, CREATED));
    const ended = JSON.parse(endAlertPayload('ended', ringing, CREATED + 9000, 'answeredElsewhere'));
    // The unmutated payloads are valid: each mutation below is what fails.
    for (const [kind, p] of [
      ['voip', voip],
      ['incomingAlert', incoming],
      ['missedCall', missed],
      ['passiveMissedCall', passive],
      ['callEnded', ended],
    ] as const)
      expect([kind, schemas.errors(P[kind].payload, p)]).toEqual([kind, []]);
    const bad: [Kind, string, Json][] = [
      ['voip', 'aps not empty', { ...voip, aps: { sound: 'default' } }],
      ['voip', 'an unknown member', { ...voip, metadata: {} }],
      ['voip', 'a token over 200 characters', { ...voip, callwake: { ...voip.callwake, token: 'x'.repeat(201) } }],
      ['voip', 'type missed', { ...voip, callwake: { ...voip.callwake, type: 'missed' } }],
      [
        'incomingAlert',
        'another title',
        { ...incoming, aps: { ...incoming.aps, alert: { title: 'Call', body: 'x' } } },
      ],
      [
        'incomingAlert',
        'active, not time-sensitive',
        { ...incoming, aps: { ...incoming.aps, 'interruption-level': 'active' } },
      ],
      ['incomingAlert', 'no category', { ...incoming, aps: without(incoming.aps, 'category') }],
      [
        'missedCall',
        'two loc-args',
        { ...missed, aps: { ...missed.aps, alert: { ...missed.aps.alert, 'loc-args': ['a', 'b'] } } },
      ],
      ['missedCall', 'no thread-id', { ...missed, aps: without(missed.aps, 'thread-id') }],
      ['missedCall', 'mutable-content true', { ...missed, aps: { ...missed.aps, 'mutable-content': true } }],
      ['missedCall', 'a call token', { ...missed, callwake: { ...missed.callwake, token: 't' } }],
      ['missedCall', 'no endedAt', { ...missed, callwake: without(missed.callwake, 'endedAt') }],
      ['missedCall', 'passive and audible', { ...missed, aps: { ...missed.aps, 'interruption-level': 'passive' } }],
      ['passiveMissedCall', 'with a sound', { ...passive, aps: { ...passive.aps, sound: 'default' } }],
      [
        'passiveMissedCall',
        'time-sensitive',
        { ...passive, aps: { ...passive.aps, 'interruption-level': 'time-sensitive' } },
      ],
      ['callEnded', 'with a sound', { ...ended, aps: { ...ended.aps, sound: 'default' } }],
      ['callEnded', 'a cancel reason', { ...ended, callwake: { ...ended.callwake, endReason: 'answered_elsewhere' } }],
      ['callEnded', 'a caller', { ...ended, callwake: { ...ended.callwake, caller: {} } }],
      [
        'callEnded',
        'the missed title',
        { ...ended, aps: { ...ended.aps, alert: { 'title-loc-key': 'CALLWAKE_MISSED_CALL_TITLE' } } },
      ],
    ];
    for (const [kind, what, p] of bad)
      expect([kind, what, schemas.errors(P[kind].payload, p).length > 0]).toEqual([kind, what, true]);
  });

  it('an unreachable call sends no end-of-call alert', async () => {
    const { h, phone, pad } = household();
    h.answer = (token) => (token === phone.alertPushToken ? 'accept' : REFUSE.DeviceTokenNotForTopic);
    const r = await h.ring(h.request());
    expect(r.answer.status).toBe('unreachable');
    const rang = h.sent.length;
    h.now = (await h.call(r.answer.callId)).expiresAt + 10;
    await h.change(r.answer.callId, (uuid) => h.calls.markExpired(uuid, h.now));
    expect(h.sent.length).toBe(rang);
    expect(h.to(pad.pushToken)).toHaveLength(1);
  });

  it('an empty display name is no label: the alerts show the number (else the uri); the payloads keep it', async () => {
    const { h, phone, pad } = household();
    const r = await h.ring(h.request({ from: { number: '+15551230000', displayName: '' } }));
    const call = await h.call(r.answer.callId);
    const vars = { bundleId: BUNDLE, callUuid: call.callUuid, ringEndSeconds: Math.floor(call.expiresAt / 1000) };
    const voip = expectPush('voip', h.to(phone.pushToken)[0]!, vars);
    expect(voip.callwake.caller).toEqual({ number: '+15551230000', displayName: '' });
    expect(expectPush('incomingAlert', h.to(pad.pushToken)[0]!, vars).aps.alert.body).toBe('+15551230000');
    h.now += 5000;
    const endedAt = h.now;
    await h.change(r.answer.callId, () => cancelCall(h.deps, TENANT, r.answer.callId, 'caller_hangup'));
    for (const token of [phone.alertPushToken!, pad.pushToken]) {
      const missed = expectPush('missedCall', h.to(token).at(-1)!, {
        bundleId: BUNDLE,
        callUuid: call.callUuid,
        alertExpirySeconds: Math.floor(endedAt / 1000) + DAY_S,
      });
      expect([missed.aps.alert['loc-args'], missed.callwake.caller]).toEqual([
        ['+15551230000'],
        { number: '+15551230000', displayName: '' },
      ]);
    }
    // Without a number, the uri.
    const uriOnly = household();
    await uriOnly.h.ring(uriOnly.h.request({ from: { uri: 'sip:bob@example.com', displayName: '' } }));
    expect(JSON.parse(uriOnly.h.to(uriOnly.pad.pushToken)[0]!.payload).aps.alert.body).toBe('sip:bob@example.com');
    expect(S.AlertPush.properties.aps.properties.alert.properties.body.description).toContain(
      'an empty display name is none',
    );
    expect(S.MissedCallText.description).toContain('an empty display name is none');
  });

  it("a token found in the other environment takes that call's end-of-call alerts there", async () => {
    const { h, phone, pad, old } = household();
    // The phone's VoIP token is a sandbox one registered as production; the pad's the reverse.
    h.answer = (t, env) =>
      (t === phone.pushToken && env === 'production') || (t === pad.pushToken && env === 'sandbox')
        ? REFUSE.BadDeviceToken
        : 'accept';
    const r = await h.ring(h.request());
    expect(r.answer.deliveries.map((d) => [d.deviceId, d.result])).toEqual([
      ['phone', 'sent'],
      ['pad', 'sent'],
      ['old-phone', 'sent'],
    ]);
    expect([...h.corrected].sort((a, b) => a.deviceId.localeCompare(b.deviceId))).toEqual([
      { deviceId: 'pad', environment: 'production' },
      { deviceId: 'phone', environment: 'sandbox' },
    ]);
    const rang = h.sent.length;
    h.now += 7000;
    await h.change(r.answer.callId, () => cancelCall(h.deps, TENANT, r.answer.callId, 'caller_hangup'));
    const alerts = h.sent.slice(rang);
    expect(alerts.map((p) => [p.token, p.environment]).sort()).toEqual(
      [
        [phone.alertPushToken!, 'sandbox'],
        [pad.pushToken, 'production'],
      ].sort(),
    );
    // One attempt each: an end-of-call alert is not retried in the other environment.
    expect(alerts).toHaveLength(2);
    expect(h.to(old.pushToken)).toHaveLength(1);
    expect(P.description.replace(/\s+/g, ' ')).toContain(
      "go to the environment that call's ring reached it in: the device's, or the other one when the wrong-environment retry found its token there",
    );
  });

  it('an alert token APNs calls dead is cleared from its device, which is not pruned', async () => {
    const { h, phone, pad } = household();
    const r = await h.ring(h.request());
    h.answer = (token) =>
      token === phone.alertPushToken ? REFUSE.Unregistered : token === pad.pushToken ? REFUSE.BadDeviceToken : 'accept';
    h.now += 3000;
    await h.change(r.answer.callId, () => cancelCall(h.deps, TENANT, r.answer.callId, 'caller_hangup'));
    // One attempt each: an end-of-call alert is never tried in the other environment.
    expect([h.to(phone.alertPushToken!).length, h.to(pad.pushToken).length]).toEqual([1, 2]);
    // The store is asked to forget the alert token (it forgets only a device's alertPushToken equal to it,
    // so the alert-mode device's own token stays); nothing is pruned.
    expect(h.clearedAlertTokens).toEqual(
      expect.arrayContaining([{ deviceId: 'phone', alertPushToken: phone.alertPushToken }]),
    );
    expect(h.clearedAlertTokens.filter((c) => c.deviceId !== 'phone')).toEqual([
      { deviceId: 'pad', alertPushToken: pad.pushToken },
    ]);
    expect(h.pruned).toEqual([]);
    // A refusal that is not a dead token clears nothing.
    const other = household();
    const r2 = await other.h.ring(other.h.request());
    other.h.answer = () => REFUSE.DeviceTokenNotForTopic;
    await other.h.change(r2.answer.callId, () => cancelCall(other.h.deps, TENANT, r2.answer.callId, 'caller_hangup'));
    expect(other.h.clearedAlertTokens).toEqual([]);
  });
});

describe('v1.1 a push token in the wrong environment', () => {
  it('a registered token refused BadDeviceToken is tried in the other environment, inside the same deadline', async () => {
    const h = new PushHarness();
    const phone = registered('phone', { environment: 'production' });
    h.user = { devices: [phone], settings: DEFAULT_SETTINGS };
    h.answer = (_t, env) => (env === 'production' ? REFUSE.BadDeviceToken : 'accept');
    const r = await h.ring(h.request());
    expect(r.answer.status).toBe('ringing');
    expect(r.answer.deliveries).toEqual([
      { deviceId: 'phone', pushType: 'voip', result: 'sent', apnsId: expect.any(String) },
    ]);
    const tries = h.to(phone.pushToken);
    expect(tries.map((t) => t.environment)).toEqual(['production', 'sandbox']);
    // The same push, the same deadline.
    expect(tries[1]!.payload).toBe(tries[0]!.payload);
    expect(tries[1]!.deadline).toBe(tries[0]!.deadline);
    expect(h.corrected).toEqual([{ deviceId: 'phone', environment: 'sandbox' }]);
    expect(h.pruned).toEqual([]);
    expect(schemas.errors(S.RingAnswer, r.answer)).toEqual([]);
  });

  it.each([
    ['both refuse BadDeviceToken', REFUSE.BadDeviceToken, 'BadDeviceToken'],
    ['the other says Unregistered', REFUSE.Unregistered, 'Unregistered'],
  ])('%s: failed with the second answer, and only then pruned', async (_what, second, reason) => {
    const h = new PushHarness();
    const phone = registered('phone', { environment: 'sandbox' });
    h.user = { devices: [phone], settings: DEFAULT_SETTINGS };
    h.answer = (_t, env) => (env === 'sandbox' ? REFUSE.BadDeviceToken : second);
    const r = await h.ring(h.request());
    expect(r.answer.deliveries).toEqual([{ deviceId: 'phone', pushType: 'voip', result: 'failed', reason }]);
    expect(h.to(phone.pushToken).map((t) => t.environment)).toEqual(['sandbox', 'production']);
    expect(h.pruned).toEqual([{ deviceId: 'phone', pushToken: phone.pushToken, reason }]);
    expect(h.corrected).toEqual([]);
  });

  it('a retry that times out leaves the device as it was', async () => {
    const h = new PushHarness({ pushDeadlineMs: 300 });
    const phone = registered('phone');
    h.user = { devices: [phone], settings: DEFAULT_SETTINGS };
    h.answer = (_t, env) => (env === 'production' ? REFUSE.BadDeviceToken : 'timeout');
    const r = await h.ring(h.request());
    expect(r.answer.deliveries).toEqual([{ deviceId: 'phone', pushType: 'voip', result: 'failed', reason: 'Timeout' }]);
    expect([h.pruned, h.corrected]).toEqual([[], []]);
  });

  it('no retry for other refusals, nor for inline devices; an alert-mode device is retried like a VoIP one', async () => {
    const h = new PushHarness();
    const [gone, topic, pad] = [
      registered('gone'),
      registered('topic'),
      registered('pad', { pushType: 'alert', environment: 'production' }),
    ];
    const inline = newToken();
    h.user = { devices: [gone, topic, pad], settings: DEFAULT_SETTINGS };
    h.answer = (t, env) =>
      t === gone.pushToken
        ? REFUSE.Unregistered
        : t === topic.pushToken
          ? REFUSE.DeviceTokenNotForTopic
          : env === 'production'
            ? REFUSE.BadDeviceToken
            : 'accept';
    const r = await h.ring(
      h.request({ devices: [{ pnProvider: 'apns', pnPrid: inline, pnParam: `${TEAM}.${BUNDLE}.voip` }] }),
    );
    const envs = (t: string) => h.to(t).map((p) => p.environment);
    expect([envs(gone.pushToken), envs(topic.pushToken), envs(inline), envs(pad.pushToken)]).toEqual([
      ['production'],
      ['production'],
      ['production'],
      ['production', 'sandbox'],
    ]);
    expect(r.answer.deliveries.map((d) => [d.deviceId, d.result, d.reason ?? null])).toEqual([
      ['gone', 'failed', 'Unregistered'],
      ['topic', 'failed', 'DeviceTokenNotForTopic'],
      ['pad', 'sent', null],
      [inlineDeviceIdOf(inline), 'failed', 'BadDeviceToken'],
    ]);
    expect(h.pruned.map((p) => p.deviceId).sort()).toEqual(['gone', 'topic']);
    expect(h.corrected).toEqual([{ deviceId: 'pad', environment: 'sandbox' }]);
  });
});

/** A real answer of the PBX API is one its operation declares: status, problem code, body and headers. */
function expectDeclaredAnswer(operationId: string, reply: PbxReply, status: number, code?: string): void {
  const o = ops.find((x) => x.operationId === operationId)!;
  const what = `${operationId} ${reply.status} ${reply.body?.code ?? ''}`;
  expect([what, reply.status, reply.body?.code]).toEqual([what, status, code]);
  const response = deref(o.op.responses[String(status)]);
  expect([what, response !== undefined]).toEqual([what, true]);
  const declared = Object.fromEntries(
    Object.entries<Json>(response.headers ?? {}).map(([name, h]) => [name.toLowerCase(), deref(h)]),
  );
  const sent = Object.keys(reply.headers).filter((k) => k !== 'content-type');
  expect([what, sent.filter((k) => !declared[k])]).toEqual([what, []]);
  for (const [name, h] of Object.entries<Json>(declared)) {
    if (h.required) expect([what, name, reply.headers[name] !== undefined]).toEqual([what, name, true]);
    if (reply.headers[name] !== undefined)
      expect([what, name, schemas.errors(h.schema, reply.headers[name])]).toEqual([what, name, []]);
  }
  const type = code ? 'application/problem+json' : 'application/json';
  if (reply.body === undefined) expect([what, response.content]).toEqual([what, undefined]);
  else {
    expect([what, reply.headers['content-type']]).toEqual([what, type]);
    expect([what, schemas.errors(response.content[type].schema, reply.body)]).toEqual([what, []]);
    if (code) expect([what, problemCodesOf(response).codes]).toEqual([what, expect.arrayContaining([code])]);
  }
}

const decisionsText = (): string => doc['x-callwake-decisions'].join('\n');
const registration = (pushToken: string, over: Record<string, unknown> = {}) => ({
  platform: 'ios',
  pushToken,
  bundleId: BUNDLE,
  teamId: TEAM,
  environment: 'production',
  ...over,
});

describe('v1.1 registry, settings and webhook changes are ordered by their signed time', () => {
  const devicePath = (user: string, id: string) => `/v1/pbx/users/${user}/devices/${id}`;
  const tokenSuffixes = async (h: PbxHarness, user: string) =>
    Object.fromEntries(
      ((await h.send('GET', `/v1/pbx/users/${user}/devices`)).body.devices as Json[]).map((d) => [
        d.deviceId,
        d.tokenSuffix,
      ]),
    );

  it('a device PUT or DELETE signed before the last change is 409 stale_request and changes nothing; the same second applies', async () => {
    const h = new PbxHarness();
    const T = h.nowSeconds();
    const put = (token: string, signedAt: number) =>
      h.send('PUT', devicePath('alice', 'phone'), registration(token), { signedAt });
    const del = (signedAt: number) => h.send('DELETE', devicePath('alice', 'phone'), undefined, { signedAt });
    const [t1, t2, t3] = [newToken(), newToken(), newToken()];
    expectDeclaredAnswer('putDevice', await put(t1, T), 201);
    expectDeclaredAnswer('putDevice', await put(t2, T - 1), 409, 'stale_request');
    expectDeclaredAnswer('deleteDevice', await del(T - 1), 409, 'stale_request');
    expect(await tokenSuffixes(h, 'alice')).toEqual({ phone: t1.slice(-8) });
    // The same second applies, in arrival order.
    expectDeclaredAnswer('putDevice', await put(t3, T), 200);
    expect(await tokenSuffixes(h, 'alice')).toEqual({ phone: t3.slice(-8) });
    expectDeclaredAnswer('deleteDevice', await del(T), 204);
    // The DELETE's marker: a PUT signed before it cannot bring the device back; a later one can.
    expectDeclaredAnswer('putDevice', await put(t1, T - 5), 409, 'stale_request');
    expect(await tokenSuffixes(h, 'alice')).toEqual({});
    expectDeclaredAnswer('putDevice', await put(t1, T), 201);
    // Another device's order is its own.
    expectDeclaredAnswer(
      'putDevice',
      await h.send('PUT', devicePath('alice', 'pad'), registration(newToken()), { signedAt: T - 100 }),
      201,
    );
    expect(S.DeviceRegistration).toBeDefined();
  });

  it('a DELETE of an absent device leaves a marker too; a token moving away removes the old device as of the move', async () => {
    const h = new PbxHarness();
    const T = h.nowSeconds();
    expectDeclaredAnswer('deleteDevice', await h.send('DELETE', devicePath('alice', 'ghost'), undefined), 204);
    const ghost = (signedAt: number) =>
      h.send('PUT', devicePath('alice', 'ghost'), registration(newToken()), { signedAt });
    expectDeclaredAnswer('putDevice', await ghost(T - 1), 409, 'stale_request');
    expectDeclaredAnswer('putDevice', await ghost(T), 201);

    // Another user's device takes the token: the old device is removed as of that PUT's signed time.
    const shared = newToken();
    await h.send('PUT', devicePath('alice', 'old-phone'), registration(shared), { signedAt: T - 20 });
    await h.send('PUT', devicePath('bob', 'new-phone'), registration(shared), { signedAt: T - 10 });
    expect(await tokenSuffixes(h, 'alice')).toEqual({ ghost: expect.any(String) });
    const back = (signedAt: number) =>
      h.send('PUT', devicePath('alice', 'old-phone'), registration(newToken()), { signedAt });
    expectDeclaredAnswer('putDevice', await back(T - 11), 409, 'stale_request');
    expectDeclaredAnswer('putDevice', await back(T - 10), 201);
    // The same within one user.
    const twin = newToken();
    await h.send('PUT', devicePath('carol', 'a'), registration(twin), { signedAt: T - 30 });
    await h.send('PUT', devicePath('carol', 'b'), registration(twin), { signedAt: T - 5 });
    expectDeclaredAnswer(
      'deleteDevice',
      await h.send('DELETE', devicePath('carol', 'a'), undefined, { signedAt: T - 6 }),
      409,
      'stale_request',
    );
    const d = decisionsText();
    expect(d).toContain('A `DELETE` of a device or of the webhook, present or not, leaves a removal marker');
    expect(d).toContain('A push token moving to another device');
    expect(d).toContain('removes the old device as a `DELETE` signed with that `PUT`');
  });

  it('a stale PUT is told after the 400s and before too_many_devices; a prune leaves no marker', async () => {
    const h = new PbxHarness();
    const T = h.nowSeconds();
    for (let i = 0; i < MAX_DEVICES_PER_USER; i++)
      await h.send('PUT', devicePath('dave', `d${i}`), registration(newToken()), { signedAt: T });
    await h.send('DELETE', devicePath('dave', 'extra'), undefined, { signedAt: T });
    const extra = (signedAt: number, over: Record<string, unknown> = {}) =>
      h.send('PUT', devicePath('dave', 'extra'), registration(newToken(), over), { signedAt });
    expectDeclaredAnswer('putDevice', await extra(T - 1), 409, 'stale_request');
    expectDeclaredAnswer('putDevice', await extra(T), 409, 'too_many_devices');
    expectDeclaredAnswer('putDevice', await extra(T - 1, { teamId: 'NOSUCHTEAM' }), 400, 'unknown_team');
    // A prune is no signed change: a PUT signed before it registers the device again.
    const dead = (await h.devices.list(TENANT, 'dave'))[0]!;
    await h.devices.prune(TENANT, 'dave', dead.deviceId, dead.pushToken, {
      reason: 'Unregistered',
      callId: 'c',
      callUuid: callUuidOf(TENANT, 'c'),
      at: h.clock.now(),
    });
    expectDeclaredAnswer(
      'putDevice',
      await h.send('PUT', devicePath('dave', dead.deviceId), registration(newToken()), { signedAt: T - 1 }),
      201,
    );
    expect(decisionsText()).toContain('a prune leaves no marker');
  });

  it('settings: signed before the last settings is 409 stale_request and changes nothing; the same second applies', async () => {
    const h = new PbxHarness();
    const T = h.nowSeconds();
    const path = '/v1/pbx/users/alice/settings';
    expectDeclaredAnswer('putSettings', await h.send('PUT', path, { blockedCallers: ['+1555'] }, { signedAt: T }), 200);
    expectDeclaredAnswer('putSettings', await h.send('PUT', path, {}, { signedAt: T - 1 }), 409, 'stale_request');
    expect((await h.send('GET', path)).body.blockedCallers).toEqual(['+1555']);
    expectDeclaredAnswer('putSettings', await h.send('PUT', path, {}, { signedAt: T }), 200);
    expect((await h.send('GET', path)).body.blockedCallers).toEqual([]);
    // Settings and devices of one user are ordered apart.
    expectDeclaredAnswer(
      'putDevice',
      await h.send('PUT', devicePath('alice', 'phone'), registration(newToken()), { signedAt: T - 50 }),
      201,
    );
  });

  it('the webhook: PUT and DELETE ordered; a DELETE with no webhook leaves a marker for a day', async () => {
    const h = new PbxHarness();
    const T = h.nowSeconds();
    const put = (url: string, signedAt: number) => h.send('PUT', '/v1/pbx/webhook', { url }, { signedAt });
    const del = (signedAt: number) => h.send('DELETE', '/v1/pbx/webhook', undefined, { signedAt });
    const started = Date.now();
    expectDeclaredAnswer('deleteWebhook', await del(T - 10), 204);
    const marker = h.doc.item(TABLE, webhookKey(TENANT))!;
    expect(marker).toMatchObject({ deleted: true, changedAt: T - 10 });
    // Kept a day: DynamoDB's TTL (epoch seconds) a day after the DELETE.
    const ttl = marker.ttl as number;
    expect(ttl).toBeGreaterThanOrEqual(Math.floor((started + MARKER_KEPT_MS) / 1000));
    expect(ttl).toBeLessThanOrEqual(Math.ceil((Date.now() + MARKER_KEPT_MS) / 1000));
    expectDeclaredAnswer('putWebhook', await put('https://a.example.com/cw', T - 11), 409, 'stale_request');
    expectDeclaredAnswer('getWebhook', await h.send('GET', '/v1/pbx/webhook'), 404, 'webhook_not_found');
    expectDeclaredAnswer('putWebhook', await put('https://a.example.com/cw', T - 10), 200);
    expectDeclaredAnswer('putWebhook', await put('https://b.example.com/cw', T - 5), 200);
    expectDeclaredAnswer('putWebhook', await put('https://c.example.com/cw', T - 6), 409, 'stale_request');
    expectDeclaredAnswer('deleteWebhook', await del(T - 6), 409, 'stale_request');
    expect((await h.send('GET', '/v1/pbx/webhook')).body.url).toBe('https://b.example.com/cw');
    expectDeclaredAnswer('deleteWebhook', await del(T - 5), 204);
    expectDeclaredAnswer('getWebhook', await h.send('GET', '/v1/pbx/webhook'), 404, 'webhook_not_found');
  });

  it("a device's removal marker lasts a day from its signed time, then goes at the item's next write", async () => {
    expect(MARKER_KEPT_MS).toBe(24 * 60 * 60 * 1000);
    const h = new PbxHarness();
    const T = h.nowSeconds();
    await h.send('DELETE', devicePath('erin', 'gone'), undefined, { signedAt: T });
    const markers = () =>
      userModelOf(h.doc.item(TABLE, userKey(TENANT, 'erin')) as never).removed.get('gone') ?? 'none';
    const write = () => h.send('PUT', devicePath('erin', `w${h.nowSeconds()}`), registration(newToken()));
    h.clock.advance(MARKER_KEPT_MS - 1000);
    await write();
    expect(markers()).toBe(T);
    h.clock.advance(1000);
    await write();
    expect(markers()).toBe('none');
    // The pure rule the adapter writes with.
    const model = {
      ...userModelOf(undefined),
      removed: new Map([
        ['old', T],
        ['new', T + 1],
      ]),
    };
    const item = itemOfUserModel(model, (T + 1) * 1000 + MARKER_KEPT_MS - 1);
    expect(item.removed).toEqual([{ deviceId: 'new', at: T + 1 }]);
    expect(decisionsText()).toContain('for a day (24 h, far longer than a signature stays valid)');
  });

  it('a PBX whose clock ran ahead is refused until its clock catches up, at most 300 s', async () => {
    const h = new PbxHarness();
    const ahead = h.nowSeconds() + MAX_SKEW_SECONDS - 1;
    const put = (signedAt?: number) =>
      h.send('PUT', devicePath('alice', 'phone'), registration(newToken()), signedAt ? { signedAt } : {});
    expectDeclaredAnswer('putDevice', await put(ahead), 201);
    expectDeclaredAnswer('putDevice', await put(), 409, 'stale_request');
    h.clock.advance((MAX_SKEW_SECONDS - 2) * 1000);
    expectDeclaredAnswer('putDevice', await put(), 409, 'stale_request');
    h.clock.advance(1000);
    expectDeclaredAnswer('putDevice', await put(), 200);
    // Further ahead, the signature itself is refused: the bound is the signature's.
    expectDeclaredAnswer('putDevice', await put(h.nowSeconds() + MAX_SKEW_SECONDS + 1), 401, 'stale_signature');
    expect(decisionsText()).toContain('until its clock catches up, at most 300 s later');
  });

  it('creates and cancels are not ordered: a replayed create is the same create, a replayed cancel the same cancel', async () => {
    const h = new PbxHarness();
    const T = h.nowSeconds();
    const create = {
      callId: 'replayed@pbx.example.com',
      from: { number: '+1555' },
      devices: [{ pnProvider: 'apns', pnPrid: newToken(), pnParam: `${TEAM}.${BUNDLE}.voip` }],
    };
    const first = await h.send('POST', '/v1/pbx/calls', create, { signedAt: T });
    expectDeclaredAnswer('ringCall', first, 201);
    const replay = await h.send('POST', '/v1/pbx/calls', create, { signedAt: T - 60 });
    expectDeclaredAnswer('ringCall', replay, 200);
    expect(replay.body).toEqual(first.body);
    const cancel = '/v1/pbx/calls/replayed%40pbx.example.com/cancel';
    expectDeclaredAnswer('cancelCall', await h.send('POST', cancel, undefined, { signedAt: T }), 200);
    const again = await h.send('POST', cancel, undefined, { signedAt: T - 60 });
    expectDeclaredAnswer('cancelCall', again, 200);
    expect(again.body.status).toBe('cancelled');
    expect(decisionsText()).toContain('Reads, creates and cancels are not ordered');
  });
});

describe('v1.1 tenants bound to their apps', () => {
  const OTHER_TEAM = 'FGHIJ67890';
  const secrets = (tenant: string) => [`${tenant}-secret-of-at-least-thirty-two-bytes`];
  /** acme bound to one app; globex to one bundle under two teams; initech in the v1 form. */
  const harness = () =>
    new PbxHarness({
      teams: [TEAM, OTHER_TEAM],
      tenants: {
        acme: { secrets: secrets('acme'), apps: [{ teamId: TEAM, bundleId: BUNDLE }] },
        globex: {
          secrets: secrets('globex'),
          apps: [
            { teamId: TEAM, bundleId: 'com.globex.phone' },
            { teamId: OTHER_TEAM, bundleId: 'com.globex.phone' },
          ],
        },
        initech: secrets('initech'),
      },
    });
  const put = (h: PbxHarness, tenant: string, over: Record<string, unknown>, user = 'alice', id = 'phone') =>
    h.send('PUT', `/v1/pbx/users/${user}/devices/${id}`, registration(newToken(), over), { tenant });

  it('the documented configuration is what the code reads; secrets of 32 bytes or more, never shared, refused by tenant name', () => {
    const scheme = doc.components.securitySchemes.pbxSignature;
    const example = scheme['x-callwake-tenant-configuration'].example;
    const tenants = parseTenants(JSON.stringify(example));
    expect(tenants.get('acme')).toEqual(example.acme);
    expect(tenants.get('globex')).toEqual({ secrets: example.globex });
    const text = scheme.description.replace(/\s+/g, ' ');
    expect(MIN_TENANT_SECRET_BYTES).toBe(32);
    for (const words of [
      'at least 32 bytes (UTF-8) and belongs to one tenant only',
      'naming the tenant (both, for a shared secret), never the secret',
      '`apps` and `limits` exist only in this form',
    ])
      expect(text).toContain(words);
    // Exactly 32 bytes is enough (in UTF-8 bytes, not characters); one fewer is refused, by the tenant's name.
    const refusal = (config: object): string => {
      try {
        parseTenants(JSON.stringify(config));
        return 'accepted';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(refusal({ acme: ['x'.repeat(32)] })).toBe('accepted');
    expect(refusal({ acme: ['\u00e9'.repeat(16)] })).toBe('accepted');
    const short = 'y'.repeat(31);
    expect(refusal({ acme: { secrets: [short] } })).toMatch(/tenant acme/);
    expect(refusal({ acme: { secrets: [short] } })).not.toContain(short);
    const shared = 'z'.repeat(40);
    const both = refusal({ acme: [shared], globex: { secrets: [shared] } });
    expect([both.includes('acme'), both.includes('globex'), both.includes(shared)]).toEqual([true, true, false]);
    expect(refusal({ acme: { apps: [] } })).toMatch(/tenant acme/);
    // `limits` and `apps` only in the object form: the v1 form has neither.
    expect(parseTenants(JSON.stringify({ initech: secrets('initech') })).get('initech')).toEqual({
      secrets: secrets('initech'),
    });
  });

  it('registering another app is 400 app_not_allowed, even for a team that does not exist; teamId may come from the apps', async () => {
    const h = harness();
    expectDeclaredAnswer('putDevice', await put(h, 'acme', { bundleId: 'com.globex.phone' }), 400, 'app_not_allowed');
    // No probing for teams: a team that does not exist and one that does look the same.
    for (const teamId of ['NOSUCHTEAM', OTHER_TEAM])
      expectDeclaredAnswer('putDevice', await put(h, 'acme', { teamId }), 400, 'app_not_allowed');
    expect(await h.devices.list('acme', 'alice')).toEqual([]);
    // teamId left out: the one team the tenant's apps give for the bundle…
    expectDeclaredAnswer('putDevice', await put(h, 'acme', { teamId: undefined }), 201);
    expect((await h.devices.list('acme', 'alice')).map((d) => d.teamId)).toEqual([TEAM]);
    // …several: validation_failed on teamId; none: app_not_allowed.
    const several = await put(h, 'globex', { teamId: undefined, bundleId: 'com.globex.phone' });
    expectDeclaredAnswer('putDevice', several, 400, 'validation_failed');
    expect(several.body.errors.map((e: Json) => e.path)).toEqual(['teamId']);
    expectDeclaredAnswer('putDevice', await put(h, 'globex', { teamId: undefined }), 400, 'app_not_allowed');
    expectDeclaredAnswer(
      'putDevice',
      await put(h, 'globex', { teamId: OTHER_TEAM, bundleId: 'com.globex.phone' }),
      201,
    );
    // A tenant of the v1 form keeps v1's answers.
    expectDeclaredAnswer('putDevice', await put(h, 'initech', { teamId: 'NOSUCHTEAM' }), 400, 'unknown_team');
    const initech = await put(h, 'initech', { teamId: undefined });
    expectDeclaredAnswer('putDevice', initech, 400, 'validation_failed');
    expectDeclaredAnswer('putDevice', await put(h, 'initech', { teamId: OTHER_TEAM, bundleId: 'com.any.app' }), 201);
    const d = decisionsText();
    expect(d).toContain('gets 400 `app_not_allowed`, never `unknown_team`');
    expect(d).toContain('the one team its apps give for the `bundleId`');
  });

  it('a target outside the apps, inline or registered, fails AppNotAllowed (before UnknownTeam): nothing pushed, nothing pruned', async () => {
    const NO_KEY_TEAM = 'NOKEYTEAM1';
    const h = new PbxHarness({
      tenants: { acme: { secrets: secrets('acme'), apps: [{ teamId: TEAM, bundleId: BUNDLE }] } },
    });
    // Registered while the tenant was not bound yet.
    const acme = h.tenants.get('acme')!;
    h.tenants.set('acme', { secrets: acme.secrets });
    const foreign = newToken();
    await h.send('PUT', '/v1/pbx/users/alice/devices/foreign', registration(foreign, { bundleId: 'com.other.app' }));
    const own = newToken();
    await h.send('PUT', '/v1/pbx/users/alice/devices/own', registration(own));
    h.tenants.set('acme', { ...acme, apps: [...acme.apps!, { teamId: NO_KEY_TEAM, bundleId: BUNDLE }] });
    const [inlineForeign, inlineNoKey, inlineOwn, outsideNoKey] = [newToken(), newToken(), newToken(), newToken()];
    const contact = (token: string, param: string) => ({ pnProvider: 'apns', pnPrid: token, pnParam: param });
    const r = await h.send('POST', '/v1/pbx/calls', {
      callId: 'bound@pbx.example.com',
      from: { number: '+15550000000', displayName: 'Your Bank' },
      to: { userId: 'alice' },
      devices: [
        contact(inlineForeign, `${TEAM}.com.other.app.voip`),
        contact(inlineNoKey, `${NO_KEY_TEAM}.${BUNDLE}.voip`),
        contact(inlineOwn, `${TEAM}.${BUNDLE}.voip`),
        contact(outsideNoKey, `NOSUCHTEAM.${BUNDLE}.voip`),
      ],
    });
    expectDeclaredAnswer('ringCall', r, 201);
    expect(r.body.deliveries.map((d: Json) => [d.deviceId, d.result, d.reason ?? null])).toEqual([
      ['foreign', 'failed', 'AppNotAllowed'],
      ['own', 'sent', null],
      [inlineDeviceIdOf(inlineForeign), 'failed', 'AppNotAllowed'],
      [inlineDeviceIdOf(inlineNoKey), 'failed', 'UnknownTeam'],
      [inlineDeviceIdOf(inlineOwn), 'sent', null],
      [inlineDeviceIdOf(outsideNoKey), 'failed', 'AppNotAllowed'],
    ]);
    for (const t of [foreign, inlineForeign, inlineNoKey, outsideNoKey]) expect(h.pusher.sentTo(t)).toEqual([]);
    expect(h.pusher.sentTo(own)).toHaveLength(1);
    // The registered device outside the apps stays registered.
    expect((await h.devices.list('acme', 'alice')).map((d) => d.deviceId)).toEqual(['foreign', 'own']);
    const reason = deref(S.Delivery.properties.reason);
    expect(reason.examples).toContain('AppNotAllowed');
    expect(reason.description).toContain('`AppNotAllowed` for a device, inline or registered');
    expect(decisionsText()).toContain('`AppNotAllowed` is decided before `UnknownTeam`');
  });

  it('Do Not Disturb: the passive alert goes only to the devices of the tenant’s apps', async () => {
    const h = new PushHarness();
    const phone = registered('phone', { alertPushToken: newToken() });
    const pad = registered('pad', { pushType: 'alert' });
    const foreign = registered('foreign', { pushType: 'alert', bundleId: 'com.other.app' });
    const foreignVoip = registered('foreign-voip', { bundleId: 'com.other.app', alertPushToken: newToken() });
    h.user = {
      devices: [phone, pad, foreign, foreignVoip],
      settings: { ...DEFAULT_SETTINGS, doNotDisturb: { enabled: true, until: null, allowedCallers: [] } },
    };
    const r = await h.ring(h.request(), { apps: [{ teamId: TEAM, bundleId: BUNDLE }] });
    expect(r.answer.status).toBe('rejected');
    expect(h.sent.map((p) => p.token).sort()).toEqual([phone.alertPushToken!, pad.pushToken].sort());
    // Unbound, all four would get it: the binding is what left two out.
    const unbound = new PushHarness();
    unbound.user = structuredClone(h.user);
    await unbound.ring(unbound.request());
    expect(unbound.sent).toHaveLength(4);
    expect(decisionsText()).toContain(
      "A Do Not Disturb rejection's passive alert goes only to the user's registered devices of the tenant's apps.",
    );
  });
});

describe('v1.1 per-tenant limits and the early timeout', () => {
  const L = doc['x-callwake-limits'];
  /** Moves the harness clock to `offset` seconds into a fresh request window. */
  const intoWindow = (h: PbxHarness, offset: number): number => {
    const windowMs = REQUEST_WINDOW_SECONDS * 1000;
    h.clock.advance(windowMs - (h.clock.now() % windowMs) + offset * 1000);
    return h.nowSeconds() - offset;
  };
  const list = (h: PbxHarness, tenant = 'acme') => h.send('GET', '/v1/pbx/users/alice/devices', undefined, { tenant });

  it('x-callwake-limits is the code’s: the window, the defaults and the variables that set them', () => {
    expect(L.requestWindowSeconds).toBe(REQUEST_WINDOW_SECONDS);
    expect({ requestsPerSecond: L.requestsPerSecond.default, ringingCalls: L.ringingCalls.default }).toEqual(
      DEFAULT_TENANT_LIMITS,
    );
    const env = { TABLE_NAME: 't', TOKEN_KEYS_SECRET_NAME: 'k' };
    expect(functionConfig(env).tenantLimits).toEqual(DEFAULT_TENANT_LIMITS);
    expect(
      functionConfig({ ...env, [L.requestsPerSecond.environment]: '7', [L.ringingCalls.environment]: '9' })
        .tenantLimits,
    ).toEqual({ requestsPerSecond: 7, ringingCalls: 9 });
    expect(L.retryAfterSeconds.ringingCalls).toBe(2);
    const info = doc.info.description.replace(/\s+/g, ' ');
    expect(info).toContain(
      `Each tenant may make ${DEFAULT_TENANT_LIMITS.requestsPerSecond} PBX requests a second (counted in ${REQUEST_WINDOW_SECONDS} s windows: ${DEFAULT_TENANT_LIMITS.requestsPerSecond * REQUEST_WINDOW_SECONDS} a window) and have ${DEFAULT_TENANT_LIMITS.ringingCalls} calls ringing at once`,
    );
  });

  it('requests: 500 a window by default, then 429 with Retry-After to the window’s end; a 429 does not count', async () => {
    const h = new PbxHarness({ tenants: { acme: [secretFor('acme')], globex: [secretFor('globex')] } });
    const start = intoWindow(h, 3);
    const max = DEFAULT_TENANT_LIMITS.requestsPerSecond * REQUEST_WINDOW_SECONDS;
    h.limits.windows.set(`acme|${start}`, max - 1);
    expectDeclaredAnswer('listDevices', await list(h), 200);
    for (const [operationId, reply] of [
      ['listDevices', await list(h)],
      ['putSettings', await h.send('PUT', '/v1/pbx/users/alice/settings', {})],
      ['getWebhook', await h.send('GET', '/v1/pbx/webhook')],
      ['cancelCall', await h.send('POST', '/v1/pbx/calls/c1/cancel')],
      ['ringCall', await h.send('POST', '/v1/pbx/calls', { callId: 'c2', from: { number: '1' }, to: { userId: 'a' } })],
    ] as const) {
      expectDeclaredAnswer(operationId, reply, 429, 'rate_limited');
      expect([operationId, reply.headers['retry-after']]).toEqual([operationId, '7']);
    }
    expect(h.limits.counted('acme')).toBe(max);
    // Nothing was done: no settings, no tombstone.
    expect((await h.devices.lookup('acme', 'alice')).settings).toEqual(DEFAULT_SETTINGS);
    expect(await h.calls.get(callUuidOf('acme', 'c1'))).toBeUndefined();
    // Another tenant's count is its own; the next window starts afresh (Retry-After 1 on its last second).
    expectDeclaredAnswer('listDevices', await list(h, 'globex'), 200);
    h.clock.advance(6000);
    expect((await list(h)).headers['retry-after']).toBe('1');
    h.clock.advance(1000);
    expectDeclaredAnswer('listDevices', await list(h), 200);
  });

  it('what never counts: unsigned, unknown, invalid or refused requests (401, 413, 415, 400, 404, 405)', async () => {
    const h = new PbxHarness();
    intoWindow(h, 0);
    const refused = [
      await h.send('GET', '/v1/pbx/users/alice/devices', undefined, { unsigned: true }),
      await h.send('GET', '/v1/pbx/users/alice/devices', undefined, { secret: 'x'.repeat(40) }),
      await h.send('GET', '/v1/pbx/users/alice/devices', undefined, { signedAt: h.nowSeconds() - 400 }),
      await h.send('PUT', '/v1/pbx/users/alice/settings', { blockedCallers: ['x'.repeat(20_000)] }),
      await h.send('PUT', '/v1/pbx/users/alice/settings', {}, { contentType: 'text/plain' }),
      await h.send('PUT', '/v1/pbx/users/alice/settings', undefined, { rawBody: '{"blockedCallers": [' }),
      await h.send('PUT', '/v1/pbx/users/alice/settings', { blockedCallers: [''] }),
      await h.send('PUT', '/v1/pbx/users/a%2Fb/settings', {}),
      await h.send('GET', '/v1/pbx/nothing-here'),
      await h.send('PATCH', '/v1/pbx/webhook'),
    ];
    expect(refused.map((r) => [r.status, r.body?.code])).toEqual([
      [401, 'bad_signature'],
      [401, 'bad_signature'],
      [401, 'stale_signature'],
      [413, 'payload_too_large'],
      [415, 'unsupported_media_type'],
      [400, 'malformed_json'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [404, 'not_found'],
      [405, 'method_not_allowed'],
    ]);
    expect(h.limits.counted('acme')).toBe(0);
    // Whatever the answer once past them: a 404 call_not_found and a 409 count.
    await h.send('GET', '/v1/pbx/calls/nope');
    await h.send('DELETE', '/v1/pbx/webhook', undefined, { signedAt: h.nowSeconds() });
    await h.send('PUT', '/v1/pbx/webhook', { url: 'https://x.example.com' }, { signedAt: h.nowSeconds() - 1 });
    expect(h.limits.counted('acme')).toBe(3);
    expect(decisionsText()).toContain('never counts, so unsigned or invalid traffic cannot use up a tenant');
  });

  it('a tenant’s own limits (the object form) override the deployment’s', async () => {
    const h = new PbxHarness({
      tenants: {
        acme: { secrets: [secretFor('acme')], limits: { requestsPerSecond: 1 } },
        globex: [secretFor('globex')],
      },
      defaultLimits: { requestsPerSecond: 2, ringingCalls: 5 },
    });
    intoWindow(h, 0);
    const statuses = async (tenant: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await list(h, tenant)).status);
      return out;
    };
    expect(await statuses('acme', 11)).toEqual([...Array(10).fill(200), 429]);
    expect(await statuses('globex', 21)).toEqual([...Array(20).fill(200), 429]);
  });

  it('ringing calls: a create past them is 429 with Retry-After 2 (a retry keeps its stored answer); a slot comes back for a retry, a rejection, and at the call’s first end', async () => {
    const h = new PbxHarness();
    intoWindow(h, 0);
    const max = DEFAULT_TENANT_LIMITS.ringingCalls;
    const body = (callId: string, over: object = {}) => ({
      callId,
      from: { number: '+1555' },
      devices: [{ pnProvider: 'apns', pnPrid: newToken(), pnParam: `${TEAM}.${BUNDLE}.voip` }],
      ...over,
    });
    const a = body('a@pbx');
    h.limits.ringing.set('acme', max - 1);
    expectDeclaredAnswer('ringCall', await h.send('POST', '/v1/pbx/calls', a), 201);
    expect(h.limits.ringing.get('acme')).toBe(max);
    const full = await h.send('POST', '/v1/pbx/calls', body('b@pbx'));
    expectDeclaredAnswer('ringCall', full, 429, 'rate_limited');
    expect(full.headers['retry-after']).toBe(String(L.retryAfterSeconds.ringingCalls));
    // A retry of a create already made keeps its stored answer, and takes no slot.
    expectDeclaredAnswer('ringCall', await h.send('POST', '/v1/pbx/calls', a), 200);
    expectDeclaredAnswer(
      'ringCall',
      await h.send('POST', '/v1/pbx/calls', { ...a, hasVideo: true }),
      409,
      'call_id_conflict',
    );
    expect(h.limits.ringing.get('acme')).toBe(max);

    // The call's first end gives its slot back, through the events path, once.
    const uuid = callUuidOf('acme', 'a@pbx');
    const before = await h.calls.get(uuid);
    expectDeclaredAnswer('cancelCall', await h.send('POST', '/v1/pbx/calls/a%40pbx/cancel'), 200);
    const after = (await h.calls.get(uuid))!;
    const dispatchDeps = {
      publisher: { publish: async () => undefined },
      webhooks: { get: async () => undefined },
      callbacks: { enqueue: async () => undefined, deadLetter: async () => undefined },
      ringTimers: { schedule: async () => undefined },
      alerts: { pusher: h.pusher, devices: h.devices, clock: h.clock, log: silentLog, pushDeadlineMs: 5000 },
      limits: h.limits,
      log: silentLog,
    } as unknown as DispatchDeps;
    await dispatchChanges(dispatchDeps, [{ kind: 'call', before, after }]);
    await dispatchChanges(dispatchDeps, [{ kind: 'call', before, after }]);
    expect(h.limits.ringing.get('acme')).toBe(max - 1);
    expectDeclaredAnswer('ringCall', await h.send('POST', '/v1/pbx/calls', body('b@pbx')), 201);

    // A retry, a conflict, a cancelled callId and a rejection give their slot back at once.
    h.limits.ringing.set('acme', 50);
    expectDeclaredAnswer('ringCall', await h.send('POST', '/v1/pbx/calls', a), 410, 'call_ended');
    const c = body('c@pbx');
    expectDeclaredAnswer('ringCall', await h.send('POST', '/v1/pbx/calls', c), 201);
    expectDeclaredAnswer('ringCall', await h.send('POST', '/v1/pbx/calls', c), 200);
    expectDeclaredAnswer(
      'ringCall',
      await h.send('POST', '/v1/pbx/calls', { ...c, hasVideo: true }),
      409,
      'call_id_conflict',
    );
    await h.send('PUT', '/v1/pbx/users/bob/settings', { blockedCallers: ['+1555'] });
    const rejected = await h.send('POST', '/v1/pbx/calls', body('d@pbx', { to: { userId: 'bob' } }));
    expectDeclaredAnswer('ringCall', rejected, 201);
    expect(rejected.body.status).toBe('rejected');
    expect(h.limits.ringing.get('acme')).toBe(51);

    // Over both limits: the request limit's Retry-After.
    h.limits.ringing.set('acme', max);
    h.limits.windows.set(`acme|${h.nowSeconds() - (h.nowSeconds() % REQUEST_WINDOW_SECONDS)}`, 10_000);
    expect((await h.send('POST', '/v1/pbx/calls', body('e@pbx'))).headers['retry-after']).toBe('10');
    expect(h.limits.ringing.get('acme')).toBe(max);
    const d = decisionsText();
    expect(d).toContain('a create already made keeps its stored answer (200, 409 or 410), only a new call gets 429');
    expect(d).toContain('A create over both is told the request limit');
  });

  it('503 timed_out: both APIs answer before the function’s time runs out, with Retry-After 1', async () => {
    const timedOut = doc.components.responses.TimedOut.description.replace(/\s+/g, ' ');
    expect(timedOut).toContain(`${TIMEOUT_EARLY_MS / 1000} s before its ${API_FUNCTION_TIMEOUT_SECONDS} s timeout`);
    const hang = () => new Promise<never>(() => undefined);
    const h = new PbxHarness({ override: { devices: { list: hang } as never } });
    const started = Date.now();
    const r = await h.send('GET', '/v1/pbx/users/alice/devices', undefined, { remainingMs: TIMEOUT_EARLY_MS + 150 });
    expect(Date.now() - started).toBeLessThan(TIMEOUT_EARLY_MS);
    expectDeclaredAnswer('listDevices', r, 503, 'timed_out');

    // The app API, with a genuine token, on a call store that never answers.
    const keys = new FakeTokenKeys();
    const token = mintCallToken(keys.tokenKeys().current, {
      callUuid: callUuidOf('acme', 'c'),
      callIdHash: callIdHashOf('c'),
      slot: 0,
      lifetimeEnd: h.clock.now() + 3_600_000,
    });
    const app = createAppApi(
      async () => ({ ...h.deps, tokenKeys: keys.tokenKeys, calls: { get: hang, confirm: hang } }) as never,
    );
    const deadline = Date.now() + TIMEOUT_EARLY_MS + 150;
    const a = await app(
      {
        version: '2.0',
        routeKey: '$default',
        rawPath: '/v1/app/calls/c/confirm',
        rawQueryString: '',
        headers: { authorization: `Bearer ${token}` },
        requestContext: { http: { method: 'POST', path: '/v1/app/calls/c/confirm' }, domainName: 'api.example.com' },
        isBase64Encoded: false,
      } as never,
      { getRemainingTimeInMillis: () => deadline - Date.now() } as never,
      { signal: new AbortController().signal } as never,
    );
    expectDeclaredAnswer(
      'confirmCall',
      { status: a!.statusCode!, headers: a!.headers as Record<string, string>, body: JSON.parse(a!.body!) },
      503,
      'timed_out',
    );
    expect(decisionsText()).toContain('so it never gets it');
  });
});

describe('v1.1 one path per signature', () => {
  it('only spellings that decode back to the path received are accepted', async () => {
    const h = new PbxHarness();
    await h.send('POST', '/v1/pbx/calls', {
      callId: 'abc%40pbx',
      from: { number: '1' },
      devices: [{ pnProvider: 'apns', pnPrid: newToken(), pnParam: `${TEAM}.${BUNDLE}.voip` }],
    });
    // Signed for the callId abc@pbx, sent for the callId abc%40pbx: refused, and nothing cancelled.
    const other = await h.send('POST', '/v1/pbx/calls/abc%2540pbx/cancel', undefined, {
      signedPath: '/v1/pbx/calls/abc%40pbx/cancel',
    });
    expectDeclaredAnswer('cancelCall', other, 401, 'bad_signature');
    expect((await h.calls.get(callUuidOf('acme', 'abc%40pbx')))?.status).toBe('ringing');
    // Signed as sent, in any of the documented encodings, it passes.
    for (const sent of ['/v1/pbx/calls/abc%2540pbx/cancel', '/v1/pbx/calls/%61%62%63%25%34%30%70%62%78/cancel'])
      expectDeclaredAnswer('cancelCall', await h.send('POST', sent), 200);
    // The rule itself: every spelling decodes back; the id's unencoded spelling is not among them.
    const spellings = pathSpellings('/v1/pbx/calls/abc%40pbx/cancel', new Set([4]));
    expect(spellings).not.toContain('/v1/pbx/calls/abc%40pbx/cancel');
    expect(spellings).toContain('/v1/pbx/calls/abc%2540pbx/cancel');
    expect(pathSpellings('/v1/pbx/calls/abc@pbx/cancel', new Set([4]))).toEqual(
      expect.arrayContaining(['/v1/pbx/calls/abc@pbx/cancel', '/v1/pbx/calls/abc%40pbx/cancel']),
    );
    const d = decisionsText();
    expect(d).toContain('Only the spellings that decode back to the path received count');
    expect(doc.components.securitySchemes.pbxSignature.description.replace(/\s+/g, ' ')).toContain(
      'keeping only those that decode back to that very path',
    );
  });
});
