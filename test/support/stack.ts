import { randomBytes, randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../functions/adapters/dynamo-table.js';
import { PREFIX } from '../../functions/adapters/table-layout.js';
import type { TokenKeyRing } from '../../functions/core/call-token.js';
import type { Clock } from '../../functions/core/clock.js';
import type { RetryPolicy } from '../../functions/core/deliver-callback.js';
import type { Metrics } from '../../functions/core/ports.js';
import type { AppRef, TenantConfig, TenantLimits } from '../../functions/core/tenants.js';
import { ApnsSimulator } from '../../local/apns-simulator/index.js';
import { AppClient, PbxClient } from '../../local/clients.js';
import { type RunningStack, startStack } from '../../local/stack.js';
import { CapturedLog } from './fakes/log.js';

/** A clock tests can move forward; it follows real time otherwise. */
export class ShiftableClock implements Clock {
  offsetMs = 0;
  now() {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number) {
    this.offsetMs += ms;
  }
}

export interface TestStack {
  url: string;
  /** The APNs simulator (sandbox only, with `twoEnvironments`). */
  sim: ApnsSimulator;
  /** With `twoEnvironments`: the simulator playing production. */
  simProduction?: ApnsSimulator;
  stack: RunningStack;
  clock: ShiftableClock;
  log: CapturedLog;
  tableName: string;
  /** Tenant `acme` (two secrets: rotation) and tenant `globex`. */
  pbx: PbxClient;
  pbxRotated: PbxClient;
  other: PbxClient;
  app: AppClient;
  secrets: { acme: [string, string]; globex: string };
  scanTable(): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/**
 * The per-tenant limits' counters (requests in a window, calls ringing): every authenticated
 * request counts, whatever its answer, so "nothing was written" means nothing but these.
 */
const isAccounting = (item: Record<string, unknown>): boolean =>
  String(item.pk).startsWith(PREFIX.rate) || (String(item.pk).startsWith(PREFIX.tenant) && item.sk === 'RINGING');

/** The real handlers over real HTTP, on DynamoDB Local and the APNs simulator over real sockets. */
export async function startTestStack(
  o: {
    pushDeadlineMs?: number;
    tokenKeys?: () => TokenKeyRing;
    /** Run the events path (stream, events, callbacks, ring timers), with this retry policy. */
    events?: { retry?: RetryPolicy };
    waitPollMs?: number;
    /** A second APNs simulator plays production (`t.simProduction`); tokens can belong to one. */
    twoEnvironments?: boolean;
    /** Where inline `apns` devices go. @default 'sandbox' */
    defaultEnvironment?: 'sandbox' | 'production';
    /**
     * Per-tenant limits. @default far above what any test sends: the limits are tested on their
     * own (test/security), the other tests must never meet them by accident.
     */
    tenantLimits?: TenantLimits;
    /** Bind a tenant to these apps (the object form of the tenants' configuration). */
    apps?: { acme?: AppRef[]; globex?: AppRef[] };
    /** Where the stack's metrics go. */
    metrics?: Metrics;
  } = {},
): Promise<TestStack> {
  const endpoint = process.env.DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('DYNAMODB_ENDPOINT is not set: run through jest (global setup starts DynamoDB Local)');
  const pair = o.twoEnvironments ? await ApnsSimulator.startPair() : undefined;
  const sim = pair?.sandbox ?? (await ApnsSimulator.start());
  const clock = new ShiftableClock();
  const log = new CapturedLog();
  const tableName = `t-${randomUUID()}`;
  const secrets = {
    acme: [randomBytes(24).toString('base64url'), randomBytes(24).toString('base64url')] as [string, string],
    globex: randomBytes(24).toString('base64url'),
  };
  const stack = await startStack({
    host: '127.0.0.1',
    port: 0,
    tenants: new Map<string, TenantConfig>([
      ['acme', { secrets: [...secrets.acme], ...(o.apps?.acme ? { apps: o.apps.acme } : {}) }],
      ['globex', { secrets: [secrets.globex], ...(o.apps?.globex ? { apps: o.apps.globex } : {}) }],
    ]),
    dynamoEndpoint: endpoint,
    tableName,
    apns: { kind: 'simulator', simulator: sim, ...(pair ? { production: pair.production } : {}) },
    defaultEnvironment: o.defaultEnvironment ?? 'sandbox',
    pushDeadlineMs: o.pushDeadlineMs ?? 3000,
    log,
    clock,
    ...(o.tokenKeys ? { tokenKeys: o.tokenKeys } : {}),
    ...(o.waitPollMs === undefined ? {} : { waitPollMs: o.waitPollMs }),
    events: o.events ? { ...o.events, print: (line) => log.info(line) } : false,
    tenantLimits: o.tenantLimits ?? { requestsPerSecond: 100_000, ringingCalls: 100_000 },
    ...(o.metrics ? { metrics: o.metrics } : {}),
  });
  const doc = documentClient({ endpoint });
  return {
    url: stack.url,
    sim,
    ...(pair ? { simProduction: pair.production } : {}),
    stack,
    clock,
    log,
    tableName,
    pbx: new PbxClient(stack.url, 'acme', secrets.acme[0]),
    pbxRotated: new PbxClient(stack.url, 'acme', secrets.acme[1]),
    other: new PbxClient(stack.url, 'globex', secrets.globex),
    app: new AppClient(stack.url),
    secrets,
    async scanTable() {
      const out = await doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
      return (out.Items ?? [])
        .filter((i) => !isAccounting(i))
        .sort((a, b) => `${a.pk}${a.sk}`.localeCompare(`${b.pk}${b.sk}`));
    },
    async stop() {
      await stack.stop();
      await sim.stop();
      await pair?.production.stop();
      doc.destroy();
    },
  };
}

/** The callwake member of the first push the simulator accepted for this token (waits for it). */
export async function pushFor(sim: ApnsSimulator, token: string): Promise<any> {
  const push = await sim.waitForPush(token, 5000);
  return (push.payload as { callwake: unknown }).callwake;
}
