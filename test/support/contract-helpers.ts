/**
 * The helpers every contract test shares, one of each: what the contract fixes (the callUuid's
 * namespace, the PBX signature), a raw sender for paths fetch would normalise (a hang is a
 * failure, not a jest timeout), a signer, a PBX client that signs with the server's (shiftable)
 * clock, the problem-details checks, and a guard that nothing was written or pushed.
 * Failures throw plain Errors with the reply in the message, so they read the same under jest
 * and inside fast-check properties.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { uuidV5 } from '../../functions/core/ids.js';
import { PbxClient, type Reply, type SignOptions } from '../../local/clients.js';
import type { ShiftableClock, TestStack } from './stack.js';

/** The contract's namespace for callUuids (test/unit/ids.test.ts holds the core's uuidV5 to the RFC's vector). */
export const CALL_UUID_NAMESPACE = '699e35b5-27c0-4dae-afc1-140c9ab06c2a';
export const TEAM_ID = 'LOCALTEAM1';
export const BUNDLE = 'com.example.phone';
export const VOIP_PARAM = `${TEAM_ID}.${BUNDLE}.voip`;
export const ALERT_PARAM = `${TEAM_ID}.${BUNDLE}`;

/** What the contract says a call's UUID is: UUID v5 of `<tenantId>/<callId>` in its namespace. */
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

export const REQUEST_DEADLINE_MS = 8000;

/**
 * One HTTP/1.1 request exactly as given (no URL normalisation of `.` or `%2E`, headers as they
 * are); a reply that does not come within the deadline is a hang, and fails.
 */
export async function send(
  t: Pick<TestStack, 'url'>,
  method: string,
  path: string,
  headers: Record<string, string | undefined>,
  body?: Buffer | string,
  deadlineMs = REQUEST_DEADLINE_MS,
): Promise<RawReply> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`HANG: ${method} ${path.slice(0, 200)} got no answer within ${deadlineMs} ms`)),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([request(t.url, method, path, headers, body), hang]);
  } finally {
    clearTimeout(timer);
  }
}

function request(
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
  /** The content-type header (undefined: none); default application/json when there is a body. */
  contentType?: string | undefined;
  /** Header values to send as given (undefined: leave the header out). */
  override?: Record<string, string | undefined>;
}

const bytesOf = (body: Buffer | string | undefined): Buffer =>
  body === undefined ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;

/** The three PBX headers for exactly this method, path (query included) and body. */
export function pbxHeaders(
  t: Pick<TestStack, 'clock' | 'secrets'>,
  method: string,
  path: string,
  body: Buffer | string | undefined,
  o: Pick<SignedRawOptions, 'tenant' | 'secret' | 'timestamp'> = {},
): Record<string, string | undefined> {
  const ts = String(o.timestamp ?? Math.floor(t.clock.now() / 1000));
  return {
    'x-callwake-tenant': 'tenant' in o ? o.tenant : 'acme',
    'x-callwake-timestamp': ts,
    'x-callwake-signature': signature(o.secret ?? t.secrets.acme[0], ts, method, path, bytesOf(body)),
  };
}

/** A PBX request built by hand (signed for tenant acme unless told otherwise), so any part of it can be wrong. */
export function signedRaw(
  t: TestStack,
  method: string,
  path: string,
  body: Buffer | string | undefined,
  o: SignedRawOptions = {},
): Promise<RawReply> {
  const bytes = bytesOf(body);
  const signed = pbxHeaders(t, o.signMethod ?? method, o.signPath ?? path, o.signBody ?? bytes, o);
  const contentType = 'contentType' in o ? o.contentType : bytes.length > 0 ? 'application/json' : undefined;
  return send(
    t,
    method,
    path,
    { ...signed, 'content-type': contentType, ...o.override },
    bytes.length > 0 ? bytes : undefined,
  );
}

const show = (r: Reply | RawReply): string =>
  `${r.status} ${contentTypeOf(r) ?? '(no content-type)'} ${JSON.stringify(r.body)?.slice(0, 600)}`;

const contentTypeOf = (r: Reply | RawReply): string | null =>
  r.headers instanceof Headers
    ? r.headers.get('content-type')
    : ((r.headers as Record<string, string>)['content-type'] ?? null);

/**
 * An RFC 9457 problem as the contract gives it: a 4xx, `application/problem+json`, non-empty
 * `type`, `title`, `detail` and a snake_case `code`, `status` equal to the HTTP status, and for
 * `validation_failed` a non-empty `errors` of `{ path, message }`. Either exactly this status and
 * code, or one of the `allowed` "status code" pairs (any 4xx problem when none is given; `what`
 * says which case failed). Returns the body.
 */
export function expectProblem(r: Reply | RawReply, status: number, code: string): any;
export function expectProblem(r: Reply | RawReply, allowed?: readonly string[], what?: string): any;
export function expectProblem(r: Reply | RawReply, expected?: number | readonly string[], codeOrWhat?: string): any {
  const allowed = typeof expected === 'number' ? [`${expected} ${codeOrWhat}`] : expected;
  const what = typeof expected === 'number' ? '' : (codeOrWhat ?? '');
  const fail = (why: string): never => {
    throw new Error(
      `${why}${what ? ` [${what}]` : ''}\n  expected: ${allowed ? allowed.join(' | ') : 'any 4xx problem'}\n  got: ${show(r)}`,
    );
  };
  if (r.status < 400 || r.status > 499) fail(`not a 4xx (${r.status})`);
  if (contentTypeOf(r)?.split(';')[0]?.trim() !== 'application/problem+json') fail('not application/problem+json');
  const b = r.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) fail('body is not a JSON object');
  for (const k of ['type', 'title', 'detail', 'code'])
    if (typeof b[k] !== 'string' || b[k].length === 0) fail(`member ${k} missing or empty`);
  if (b.status !== r.status) fail('member status differs from the HTTP status');
  if (!/^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/.test(b.code)) fail('code is not snake_case');
  if (allowed && !allowed.includes(`${r.status} ${b.code}`)) fail('wrong status or code');
  if (b.code === 'validation_failed') {
    if (!Array.isArray(b.errors) || b.errors.length === 0) fail('validation_failed without errors');
    for (const e of b.errors)
      if (typeof e?.path !== 'string' || typeof e?.message !== 'string' || e.message.length === 0)
        fail('an error without path and message');
  }
  return b;
}

/** 400 validation_failed whose errors name each of `names` (an error `path` containing it). */
export function expectValidation(r: Reply | RawReply, names?: string | readonly string[], what = ''): any {
  const b = expectProblem(r, ['400 validation_failed'], what);
  for (const name of typeof names === 'string' ? [names] : (names ?? [])) {
    if (!b.errors.some((e: any) => e.path.includes(name))) {
      throw new Error(
        `validation errors do not name ${name}${what ? ` [${what}]` : ''}: ${JSON.stringify(b.errors).slice(0, 600)}`,
      );
    }
  }
  return b;
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

/**
 * "Nothing is written, nothing is pushed": the whole table, compared as JSON before and after a
 * request, and the APNs simulator's count of pushes received. The "before" of one check is the
 * "after" of the previous one, verified equal to the table then, so each request costs one scan;
 * `refresh()` after a request that may legitimately write.
 */
export class TableGuard {
  private before: string | undefined;
  constructor(private readonly t: TestStack) {}

  async refresh(): Promise<void> {
    this.before = JSON.stringify(await this.t.scanTable());
  }

  /** Runs `action` and throws when the table afterwards is not byte-for-byte what it was, or a push went out. */
  async unchanged<T>(action: () => Promise<T>, what = ''): Promise<T> {
    if (this.before === undefined) await this.refresh();
    const before = this.before!;
    const pushesBefore = this.t.sim.received.length;
    const out = await action();
    const after = JSON.stringify(await this.t.scanTable());
    const pushed = this.t.sim.received.length - pushesBefore;
    if (pushed !== 0) {
      this.before = after;
      throw new Error(`A PUSH WAS SENT (${pushed})${what ? ` [${what}]` : ''}`);
    }
    if (after !== before) {
      this.before = after; // the next case starts from what is there now
      throw new Error(
        `THE TABLE CHANGED${what ? ` [${what}]` : ''}\n  before: ${before.slice(0, 1500)}\n  after:  ${after.slice(0, 1500)}`,
      );
    }
    return out;
  }
}

/** Runs `action` and asserts it wrote nothing to the table and pushed nothing. */
export const writesNothing = <T>(t: TestStack, action: () => Promise<T>): Promise<T> =>
  new TableGuard(t).unchanged(action);

export const codePoints = (s: string): number => Array.from(s).length;
