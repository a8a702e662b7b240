/**
 * Small helpers for the contract tests: independent re-computations of what the contract fixes
 * (UUID v5, the PBX signature), a raw HTTP sender for paths fetch would normalise, a PBX client
 * that signs with the server's (shiftable) clock, and problem-details assertions.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { expect } from '@jest/globals';
import { PbxClient, type Reply, type SignOptions } from '../../local/clients.js';
import type { ShiftableClock, TestStack } from './stack.js';

export const CALL_UUID_NAMESPACE = '699e35b5-27c0-4dae-afc1-140c9ab06c2a';
export const TEAM_ID = 'LOCALTEAM1';
export const BUNDLE = 'com.example.phone';
export const VOIP_PARAM = `${TEAM_ID}.${BUNDLE}.voip`;
export const ALERT_PARAM = `${TEAM_ID}.${BUNDLE}`;

/** RFC 9562 UUID v5, written here from the RFC rather than imported from the code under test. */
export function uuidV5(namespace: string, name: string): string {
  const h = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(Buffer.from(name, 'utf8'))
    .digest();
  const b = Buffer.from(h.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const callUuidOf = (tenantId: string, callId: string): string =>
  uuidV5(CALL_UUID_NAMESPACE, `${tenantId}/${callId}`);

/** The contract's signature, computed independently. */
export function signature(
  secret: string,
  timestamp: string,
  method: string,
  path: string,
  body: Buffer | string = '',
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.${method}.${path}.`);
  mac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return `v1=${mac.digest('hex')}`;
}

/** A PBX that signs with the server's clock, so tests can move time without going stale. */
export class ClockedPbx extends PbxClient {
  constructor(
    base: PbxClient,
    private readonly clock: ShiftableClock,
  ) {
    super(base.baseUrl, base.tenantId, base.secret);
  }
  override send(method: string, path: string, body?: unknown, o: SignOptions = {}): Promise<Reply> {
    return super.send(method, path, body, { timestamp: Math.floor(this.clock.now() / 1000), ...o });
  }
}

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  text: string;
  body: any;
  ms: number;
}

/** One HTTP/1.1 request with the path exactly as given (no URL normalisation of `.` or `%2E`). */
export function rawSend(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string | undefined>,
  body?: Buffer | string,
): Promise<RawReply> {
  const url = new URL(baseUrl);
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) clean[k] = v;
  if (bytes) clean['content-length'] = String(bytes.length);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, headers: clean, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 0, headers: h, text, body: parsed, ms: performance.now() - started });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (bytes) req.write(bytes);
    req.end();
  });
}

export interface SignedRawOptions {
  tenant?: string | undefined;
  secret?: string;
  /** Unix seconds as a string or number; default: the server's clock now. */
  timestamp?: string | number;
  /** Path to sign, when it should differ from the one sent. */
  signPath?: string;
  signMethod?: string;
  signBody?: Buffer | string;
  contentType?: string | undefined;
  /** Header values to send as given (undefined: leave the header out). */
  override?: Record<string, string | undefined>;
}

/** A PBX request built by hand, so any header can be wrong or missing. */
export function signedRaw(
  t: TestStack,
  method: string,
  path: string,
  body: Buffer | string | undefined,
  o: SignedRawOptions = {},
): Promise<RawReply> {
  const bytes = body === undefined ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const ts = String(o.timestamp ?? Math.floor(t.clock.now() / 1000));
  const signBody = o.signBody ?? bytes;
  const sig = signature(o.secret ?? t.secrets.acme[0], ts, o.signMethod ?? method, o.signPath ?? path, signBody);
  const headers: Record<string, string | undefined> = {
    'x-callwake-tenant': 'tenant' in o ? o.tenant : 'acme',
    'x-callwake-timestamp': ts,
    'x-callwake-signature': sig,
    ...(bytes.length > 0 ? { 'content-type': 'contentType' in o ? o.contentType : 'application/json' } : {}),
    ...o.override,
  };
  return rawSend(t.url, method, path, headers, bytes.length > 0 ? bytes : undefined);
}

const contentTypeOf = (r: Reply | RawReply): string | null =>
  r.headers instanceof Headers
    ? r.headers.get('content-type')
    : ((r.headers as Record<string, string>)['content-type'] ?? null);

/** An RFC 9457 problem with the contract's members and the given status and code. */
export function expectProblem(r: Reply | RawReply, status: number, code: string): any {
  const detail = `${r.status} ${JSON.stringify(r.body)}`;
  expect({ status: r.status, code: r.body?.code, detail }).toEqual({ status, code, detail });
  expect(contentTypeOf(r)?.split(';')[0]?.trim()).toBe('application/problem+json');
  expect(r.body).toEqual(
    expect.objectContaining({
      type: expect.any(String),
      title: expect.any(String),
      status,
      detail: expect.any(String),
      code,
    }),
  );
  expect(r.body.type.length).toBeGreaterThan(0);
  expect(r.body.title.length).toBeGreaterThan(0);
  return r.body;
}

/** 400 validation_failed whose errors name the given fields (each `path` contains the text). */
export function expectValidation(r: Reply | RawReply, ...paths: string[]): any {
  const body = expectProblem(r, 400, 'validation_failed');
  expect(Array.isArray(body.errors)).toBe(true);
  expect(body.errors.length).toBeGreaterThan(0);
  for (const e of body.errors) {
    expect(e).toEqual(expect.objectContaining({ path: expect.any(String), message: expect.any(String) }));
    expect(e.message.length).toBeGreaterThan(0);
  }
  for (const p of paths) {
    expect({ wanted: p, got: body.errors.map((e: any) => e.path) }).toEqual({
      wanted: p,
      got: expect.arrayContaining([expect.stringContaining(p)]),
    });
  }
  return body;
}

/** A fresh random APNs device token (hex, 64 digits by default). */
export const newToken = (bytes = 32): string => randomBytes(bytes).toString('hex');

export const uniqueCallId = (): string => `${randomUUID()}@pbx.example.com`;

export const inline = (pnPrid: string, pnParam = VOIP_PARAM) => ({ pnProvider: 'apns', pnPrid, pnParam });

export const deviceBody = (pushToken: string, extra: Record<string, unknown> = {}) => ({
  platform: 'ios',
  pushToken,
  bundleId: BUNDLE,
  environment: 'sandbox',
  ...extra,
});

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The pushes the simulator received for a device token and call (any status). */
export function pushesForCall(t: TestStack, token: string, callId: string) {
  return t.sim.pushesFor(token).filter((p) => (p.payload as any)?.callwake?.callId === callId);
}

/** The call token in the push a device got for a call (accepted or not). */
export function callTokenOf(t: TestStack, pushToken: string, callId: string): string {
  const pushes = pushesForCall(t, pushToken, callId);
  if (pushes.length === 0) throw new Error(`no push for ${pushToken.slice(-8)} / ${callId}`);
  return (pushes[0]!.payload as any).callwake.token as string;
}

export const snapshot = async (t: TestStack): Promise<string> => JSON.stringify(await t.scanTable());

/** Asserts that `action` leaves the table exactly as it was. */
export async function writesNothing<T>(t: TestStack, action: () => Promise<T>): Promise<T> {
  const before = await snapshot(t);
  const out = await action();
  const after = await snapshot(t);
  expect(after).toEqual(before);
  return out;
}

export const codePoints = (s: string): number => Array.from(s).length;
