/**
 * What openapi.test.ts needs to hold the v1.1 "tenants bound to their apps; requests are
 * ordered" rules and the per-tenant limits to the code: the real PBX API (`createPbxApi`: the
 * signature check, the routes, the problem mapping, the early timeout) called as API Gateway
 * calls it, on the real tenant configuration reader (`tenantsFrom`), the real registry and
 * webhook adapters (over memory-dynamo.ts: their ordering lives in their conditions and item
 * layout), the call store and pusher fakes, and an in-memory LimitStore with
 * DynamoLimitStore's semantics (a conditional counter per tenant and window, one per tenant's
 * ringing calls, a call's slot given back once).
 */
import { createHmac } from 'node:crypto';
import { DynamoDeviceStore } from '../../functions/adapters/dynamo-device-store.js';
import { DynamoWebhookStore } from '../../functions/adapters/dynamo-webhook-store.js';
import { tenantsFrom } from '../../functions/adapters/secret-formats.js';
import { DEFAULT_TENANT_LIMITS } from '../../functions/config.js';
import type { LimitStore } from '../../functions/core/limits.js';
import type { TenantConfig, TenantLimits } from '../../functions/core/tenants.js';
import { decodePathLikeApiGateway } from '../../functions/http/path-encoding.js';
import { createPbxApi } from '../../functions/pbx-api/api.js';
import type { PbxDeps } from '../../functions/pbx-api/deps.js';
import { FakeCallStore } from '../support/fakes/call-store.js';
import { VirtualClock } from '../support/fakes/clock.js';
import { CapturedLog } from '../support/fakes/log.js';
import { FakePusher } from '../support/fakes/pusher.js';
import { FakeTokenKeys } from '../support/fakes/token-keys.js';
import { MemoryDynamo } from './memory-dynamo.js';

export const TABLE = 'callwake';
/** A secret of the 32 bytes a tenant's secret must have at least. */
export const secretFor = (tenant: string): string => `${tenant}-secret-`.padEnd(40, '0');

/** LimitStore as DynamoLimitStore keeps it: each change one conditional write. */
export class MemoryLimitStore implements LimitStore {
  readonly windows = new Map<string, number>();
  readonly ringing = new Map<string, number>();
  private readonly ended = new Set<string>();

  async countRequest(tenantId: string, windowStartSeconds: number, max: number): Promise<boolean> {
    const k = `${tenantId}|${windowStartSeconds}`;
    const n = this.windows.get(k) ?? 0;
    if (n >= max) return false;
    this.windows.set(k, n + 1);
    return true;
  }

  async startRinging(tenantId: string, max: number): Promise<boolean> {
    const n = this.ringing.get(tenantId) ?? 0;
    if (n >= max) return false;
    this.ringing.set(tenantId, n + 1);
    return true;
  }

  async stopRinging(tenantId: string): Promise<void> {
    const n = this.ringing.get(tenantId) ?? 0;
    if (n > 0) this.ringing.set(tenantId, n - 1);
  }

  /** The adapter removes the call's `countsRinging` in the same transaction: once per call. */
  async endRinging(tenantId: string, callUuid: string): Promise<boolean> {
    const n = this.ringing.get(tenantId) ?? 0;
    if (this.ended.has(callUuid) || n <= 0) return false;
    this.ended.add(callUuid);
    this.ringing.set(tenantId, n - 1);
    return true;
  }

  /** Requests a tenant has had counted, over every window. */
  counted(tenantId: string): number {
    return [...this.windows].filter(([k]) => k.startsWith(`${tenantId}|`)).reduce((a, [, n]) => a + n, 0);
  }
}

export interface PbxReply {
  status: number;
  headers: Record<string, string>;
  body: any;
}

export interface SendOptions {
  tenant?: string;
  /** The signed time (unix seconds): now unless said. */
  signedAt?: number;
  /** The secret to sign with: the tenant's first unless said. */
  secret?: string;
  /** The path as signed, when it is not the one sent. */
  signedPath?: string;
  /** No X-Callwake-* headers at all. */
  unsigned?: boolean;
  /** What the function has left when the request arrives. @default 25000 */
  remainingMs?: number;
  /** The body bytes as sent, instead of `body` as JSON. */
  rawBody?: string;
  /** @default application/json when there is a body */
  contentType?: string;
}

export class PbxHarness {
  readonly clock = new VirtualClock();
  readonly doc = new MemoryDynamo();
  readonly devices: DynamoDeviceStore;
  readonly webhooks: DynamoWebhookStore;
  readonly calls: FakeCallStore;
  readonly limits = new MemoryLimitStore();
  readonly pusher: FakePusher;
  readonly tenants: Map<string, TenantConfig>;
  readonly log = new CapturedLog();
  readonly deps: PbxDeps;
  readonly api: ReturnType<typeof createPbxApi>;

  constructor(
    o: {
      /** The tenant configuration, as the deployment's secret holds it (either form). */
      tenants?: Record<string, unknown>;
      /** The Apple teams the deployment has keys for. */
      teams?: string[];
      defaultLimits?: TenantLimits;
      /** Ports to replace (a store that hangs, say). */
      override?: Partial<PbxDeps>;
    } = {},
  ) {
    this.tenants = tenantsFrom(Object.entries(o.tenants ?? { acme: [secretFor('acme')] }));
    this.devices = new DynamoDeviceStore(this.doc as never, TABLE, () => this.clock.now());
    this.webhooks = new DynamoWebhookStore(this.doc as never, TABLE);
    this.calls = new FakeCallStore(this.clock);
    this.pusher = new FakePusher(o.teams ?? ['ABCDE12345'], this.clock);
    this.deps = {
      calls: this.calls,
      devices: this.devices,
      pusher: this.pusher,
      clock: this.clock,
      timer: this.clock,
      tokenKeys: new FakeTokenKeys().tokenKeys,
      defaultEnvironment: 'production',
      pushDeadlineMs: 5000,
      waitPollMs: 100,
      log: this.log,
      limits: this.limits,
      webhooks: this.webhooks,
      allowHttpCallbacks: false,
      tenant: async (tenantId) => this.tenants.get(tenantId),
      defaultLimits: o.defaultLimits ?? DEFAULT_TENANT_LIMITS,
      publicBaseUrl: 'https://api.example.com',
      ...o.override,
    };
    this.api = createPbxApi(async () => this.deps);
  }

  nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /**
   * A PBX request: `path` exactly as sent (percent-encoded, with `?query`), signed over that
   * spelling (or `signedPath`); API Gateway hands the function the decoded path.
   */
  async send(method: string, path: string, body?: unknown, o: SendOptions = {}): Promise<PbxReply> {
    const tenant = o.tenant ?? 'acme';
    const raw = o.rawBody ?? (body === undefined ? '' : JSON.stringify(body));
    const timestamp = String(o.signedAt ?? this.nowSeconds());
    const secret = o.secret ?? this.tenants.get(tenant)?.secrets[0] ?? secretFor(tenant);
    const mac = createHmac('sha256', secret)
      .update(`${timestamp}.${method}.${o.signedPath ?? path}.${raw}`)
      .digest('hex');
    const headers: Record<string, string> = {
      ...(raw === '' ? {} : { 'content-type': o.contentType ?? 'application/json' }),
      ...(o.unsigned
        ? {}
        : { 'x-callwake-tenant': tenant, 'x-callwake-timestamp': timestamp, 'x-callwake-signature': `v1=${mac}` }),
    };
    const [rawPath = '', query = ''] = path.split(/\?(.*)/s);
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: decodePathLikeApiGateway(rawPath),
      rawQueryString: query,
      headers,
      requestContext: { http: { method, path: rawPath }, domainName: 'api.example.com' },
      ...(raw === '' ? {} : { body: raw }),
      isBase64Encoded: false,
    };
    const deadline = Date.now() + (o.remainingMs ?? 25_000);
    const context = { getRemainingTimeInMillis: () => deadline - Date.now() };
    const r = await this.api(event as never, context as never, { signal: new AbortController().signal } as never);
    if (!r) throw new Error('no answer');
    return {
      status: r.statusCode ?? 0,
      headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])),
      body: r.body ? JSON.parse(r.body) : undefined,
    };
  }
}
