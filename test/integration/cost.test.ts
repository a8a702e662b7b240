/**
 * What a call costs, counted (docs/cost.md). Typical calls run on the real stack (the real
 * handlers over real HTTP, DynamoDB Local, the APNs simulator, the events path with a real
 * callback receiver) while this file counts what each one makes AWS do: API requests, DynamoDB
 * requests with the capacity they consume, stream records, events, callbacks, pushes, and the
 * log lines and metrics the functions write, replayed through the deployed functions' own logger
 * and metrics (functions/adapters/observability.ts) to weigh them as CloudWatch Logs takes them.
 * The counted tables of docs/cost.md must equal what is counted here, and its dollars what its
 * prices make of the counts: a change that changes what a call costs fails here until the
 * document says so.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { DescribeTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import middy from '@middy/core';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import { lambdaObservability, type Observability } from '../../functions/adapters/observability.js';
import { changesOfRecords } from '../../functions/adapters/stream-changes.js';
import { PREFIX } from '../../functions/adapters/table-layout.js';
import { eventsOfChange, type TableChange } from '../../functions/core/events.js';
import type { Log, MetricDimensions, MetricName, Metrics } from '../../functions/core/ports.js';
import { DEFAULT_WAIT_POLL_MS } from '../../functions/wiring.js';
import {
  ACCESS_LOG_FIELDS,
  APP_API_MEMORY_MB,
  CALLBACKS_MEMORY_MB,
  EVENTS_MEMORY_MB,
  PBX_API_MEMORY_MB,
  RING_TIMER_MEMORY_MB,
} from '../../lib/callwake.js';
import { serviceNameOf } from '../../lib/monitoring.js';
import { CallbackReceiver } from '../../local/callback-receiver.js';
import { deviceBody, newToken, uniqueCallId } from '../support/contract-helpers.js';
import { pushFor, startTestStack, type TestStack } from '../support/stack.js';

type Fn = 'pbx-api' | 'app-api' | 'events' | 'callbacks' | 'ring-timer';
const MEMORY_MB: Record<Fn, number> = {
  'pbx-api': PBX_API_MEMORY_MB,
  'app-api': APP_API_MEMORY_MB,
  events: EVENTS_MEMORY_MB,
  callbacks: CALLBACKS_MEMORY_MB,
  'ring-timer': RING_TIMER_MEMORY_MB,
};

interface LogCall {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | undefined;
}
interface MetricCall {
  kind: 'count' | 'time';
  name: MetricName;
  value: number;
  dimensions: MetricDimensions | undefined;
}
/** One function invocation and what it logged and measured. */
interface Invocation {
  fn: Fn;
  lines: LogCall[];
  metrics: MetricCall[];
}
/** An API request: the invocation of the function behind its route. */
interface ApiInvocation extends Invocation {
  fn: 'pbx-api' | 'app-api';
  method: string;
  route: string;
  status: number;
  responseBytes: number;
  ms: number;
}
interface DynamoCall {
  fn: Fn;
  op: string;
  /** The item's partition key (the first item's, for a transaction). */
  pk: string;
  conditionFailed: boolean;
  readUnits: number;
  writeUnits: number;
}
/** Everything one call made happen while it was counted. */
interface Recording {
  api: ApiInvocation[];
  dynamo: DynamoCall[];
  /** What the events path logged and measured, by the function that did. */
  background: { fn: Fn; line?: LogCall; metric?: MetricCall }[];
}

const als = new AsyncLocalStorage<ApiInvocation>();
let recording: Recording | undefined;

// ---- Who did it: an API function by its request, the events path by what it does ------------

/**
 * The events path's log lines by function. The local stand-ins for SNS, SQS and the stream's
 * event source log lines of their own: no deployed function writes them.
 */
const BACKGROUND_LINES: readonly [RegExp, Fn | 'local'][] = [
  [/^event [a-z.]+( #\d+)? tenant=/, 'local'], // the local publisher's print (SNS, deployed)
  [/^local /, 'local'],
  [/^events handler failed a stream batch/, 'local'],
  [/^callback /, 'callbacks'],
  [/^call expired$|^ring timer |^a ring-timer message/, 'ring-timer'],
  [/./, 'events'],
];
const BACKGROUND_METRICS: Partial<Record<MetricName, Fn>> = {
  CallbacksDelivered: 'callbacks',
  CallbacksRetried: 'callbacks',
  CallbacksDeadLettered: 'callbacks',
  Expiries: 'ring-timer',
};

function logHere(line: LogCall) {
  if (!recording) return;
  const inv = als.getStore();
  if (inv) inv.lines.push(line);
  else {
    const fn = BACKGROUND_LINES.find(([re]) => re.test(line.message))![1];
    if (fn !== 'local') recording.background.push({ fn, line });
  }
}

function metricHere(metric: MetricCall) {
  if (!recording) return;
  const inv = als.getStore();
  if (inv) inv.metrics.push(metric);
  else recording.background.push({ fn: BACKGROUND_METRICS[metric.name] ?? 'events', metric });
}

const countingMetrics: Metrics = {
  count: (name, value = 1, dimensions) => metricHere({ kind: 'count', name, value, dimensions }),
  time: (name, value, dimensions) => metricHere({ kind: 'time', name, value, dimensions }),
};

/** Every line the stack logs is also kept with the function that wrote it. */
function meterLog(log: Log) {
  for (const level of ['info', 'warn', 'error'] as const) {
    const original = log[level].bind(log);
    log[level] = (message, fields) => {
      logHere({ level, message, fields });
      original(message, fields);
    };
  }
}

/** Each request the local API Gateway front takes runs as its function's invocation. */
function meterRequests(server: Server) {
  const listeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const started = Date.now();
    const inv: ApiInvocation = {
      fn: path.startsWith('/v1/pbx/') ? 'pbx-api' : 'app-api',
      method: req.method ?? '',
      route: `${req.method} ${routeOf(path)}`,
      status: 0,
      responseBytes: 0,
      ms: 0,
      lines: [],
      metrics: [],
    };
    const size = (chunk: unknown) =>
      typeof chunk === 'string' || chunk instanceof Uint8Array ? Buffer.byteLength(chunk) : 0;
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      inv.responseBytes += size(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      inv.responseBytes += size(chunk);
      return end(chunk, ...rest);
    }) as typeof res.end;
    res.on('finish', () => {
      inv.status = res.statusCode;
      inv.ms = Date.now() - started;
    });
    if (recording && !path.startsWith('/_local/')) recording.api.push(inv);
    als.run(inv, () => {
      for (const listener of listeners) listener.call(server, req, res);
    });
  });
}

/** The route without its ids. */
const routeOf = (path: string): string =>
  path
    .replace(/^\/v1\/(pbx|app)\/calls\/[^/]+/, '/v1/$1/calls/{callId}')
    .replace(/\/users\/[^/]+/, '/users/{userId}')
    .replace(/\/devices\/[^/]+$/, '/devices/{deviceId}');

// ---- DynamoDB: every request of the stack's client, and the capacity it consumed --------------

const ITEM_OPERATIONS = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems']);

type AttributeValue = Record<string, unknown>;
type Item = Record<string, AttributeValue>;

/** An item's size by DynamoDB's rules: the UTF-8 bytes of attribute names and values. */
const itemSize = (item: Item): number =>
  Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueSize(value), 0);

function valueSize(v: AttributeValue): number {
  const [type, value] = Object.entries(v)[0]!;
  switch (type) {
    case 'S':
      return Buffer.byteLength(value as string);
    case 'N':
      return numberSize(value as string);
    case 'B':
      return (value as Uint8Array).length;
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'SS':
      return (value as string[]).reduce((s, x) => s + Buffer.byteLength(x), 0);
    case 'NS':
      return (value as string[]).reduce((s, x) => s + numberSize(x), 0);
    // A list or map: 3 bytes, and 1 more per element besides the element itself.
    case 'L':
      return 3 + (value as AttributeValue[]).reduce((s, x) => s + 1 + valueSize(x), 0);
    case 'M':
      return 3 + Object.entries(value as Item).reduce((s, [k, x]) => s + 1 + Buffer.byteLength(k) + valueSize(x), 0);
    default:
      throw new Error(`an attribute type this sizer does not know: ${type}`);
  }
}
/** A number: about a byte per two significant digits, and one more. */
const numberSize = (n: string): number =>
  Math.ceil(
    n
      .replace(/^-|\.|e.*$/gi, '')
      .replace(/^0+|0+$/g, '')
      .replace(/^$/, '0').length / 2,
  ) + 1;

/** Write units of one item: 1 KB each, at least 1. */
const writeUnitsOf = (bytes: number): number => Math.max(1, Math.ceil(bytes / 1024));

/**
 * A middleware on the stack's DynamoDB client, ahead of the document client's marshalling (it
 * sees keys as the stores write them). Each item request asks for its consumed capacity, which
 * DynamoDB Local reports as DynamoDB does for single-item requests; the answer is taken back out,
 * so the code sees what it sees deployed. Two cases are sized here instead, by DynamoDB's rules,
 * from the items as they stood before the request (read with another client):
 * - a write whose condition fails reports nothing but is billed for the item it found (at least 1);
 * - a transaction is billed 2 units per item's 1 KB (the larger of before and after), where
 *   DynamoDB Local reports 2 units per KB of all its items together.
 */
function meterDynamo(doc: DynamoDBDocumentClient, raw: DynamoDBClient, tableName: string) {
  const sizeNow = async (key: { pk: string; sk: string }): Promise<number> => {
    const found = await raw.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: key.pk }, sk: { S: key.sk } }, ConsistentRead: true }),
    );
    return found.Item ? itemSize(found.Item as unknown as Item) : 0;
  };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const op = context.commandName?.replace(/Command$/, '') ?? '';
      const rec = recording;
      if (!rec || !ITEM_OPERATIONS.has(op)) return next(args);
      const input = args.input as Record<string, unknown>;
      input['ReturnConsumedCapacity'] = 'TOTAL';
      const fn = whoSent(op, input);
      const transaction =
        op === 'TransactWriteItems'
          ? await Promise.all(
              (input['TransactItems'] as Record<string, { Key?: never; Item?: never }>[]).map(async (entry) => {
                const action = Object.values(entry)[0]!;
                const key = (action.Key ?? action.Item) as unknown as { pk: string; sk: string };
                return writeUnitsOf(await sizeNow(key));
              }),
            )
          : undefined;
      try {
        const out = await next(args);
        const output = out.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] };
        const reported = [output.ConsumedCapacity ?? []].flat().reduce((s, c) => s + (c.CapacityUnits ?? 0), 0);
        delete output.ConsumedCapacity;
        const units = transaction ? 2 * transaction.reduce((a, b) => a + b, 0) : reported;
        rec.dynamo.push({
          fn,
          op,
          pk: pkOf(input),
          conditionFailed: false,
          readUnits: op === 'GetItem' ? units : 0,
          writeUnits: op === 'GetItem' ? 0 : units,
        });
        return out;
      } catch (e) {
        const name = (e as Error).name;
        if (name !== 'ConditionalCheckFailedException') {
          rec.dynamo.push({
            fn,
            op: `${op} (${name})`,
            pk: pkOf(input),
            conditionFailed: true,
            readUnits: 0,
            writeUnits: 0,
          });
          throw e;
        }
        const key = (input['Key'] ?? input['Item']) as { pk: string; sk: string };
        rec.dynamo.push({
          fn,
          op,
          pk: pkOf(input),
          conditionFailed: true,
          readUnits: 0,
          writeUnits: writeUnitsOf(await sizeNow(key)),
        });
        throw e;
      }
    },
    { step: 'serialize', priority: 'high', name: 'costMeter' },
  );
}

/**
 * Who sent a request: an API request's function; on the events path the ring-timer function for
 * its two kinds of request (a GetItem or an UpdateItem of a call: the events function reads no
 * call and updates calls only in transactions), and the events function for the rest (callbacks
 * never touch the table).
 */
function whoSent(op: string, input: Record<string, unknown>): Fn {
  const inv = als.getStore();
  if (inv) return inv.fn;
  const pk = pkOf(input);
  return (op === 'UpdateItem' || op === 'GetItem') && pk.startsWith(PREFIX.call) ? 'ring-timer' : 'events';
}

function pkOf(input: Record<string, unknown>): string {
  const first = (input['TransactItems'] as Record<string, { Key?: { pk?: string }; Item?: { pk?: string } }>[])?.[0];
  const action = first ? Object.values(first)[0] : undefined;
  const key = (input['Key'] ?? input['Item'] ?? action?.Key ?? action?.Item) as { pk?: string } | undefined;
  return key?.pk ?? '';
}

/** A ring timer's invocation reads its call, and writes it only if it still rings: one per call. */
const timerInvocations = (calls: readonly DynamoCall[]): number =>
  new Set(calls.filter((d) => d.fn === 'ring-timer').map((d) => d.pk)).size;

// ---- The table's stream: the events function's input ------------------------------------------

/** Every record of the table's stream so far, read from its start. */
async function streamRecords(): Promise<_Record[]> {
  const arn = (await raw.send(new DescribeTableCommand({ TableName: t.tableName }))).Table!.LatestStreamArn!;
  const shards = (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription!.Shards!;
  const records: _Record[] = [];
  for (const shard of shards) {
    let iterator = (
      await streams.send(
        new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    // An open shard always has a next iterator: read on until pages come back empty twice.
    for (let empty = 0; iterator && empty < 2; ) {
      const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      records.push(...(out.Records ?? []));
      empty = (out.Records ?? []).length === 0 ? empty + 1 : 0;
      iterator = out.NextShardIterator;
    }
  }
  return records;
}

/** A Streams API record as Lambda hands it over (the SDK reads an empty map as `{}`: the `M` is put back). */
function lambdaRecordOf(r: _Record): DynamoDBRecord {
  const fix = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(fix);
    const entries = Object.entries(v);
    return entries.length === 0 ? { M: {} } : Object.fromEntries(entries.map(([k, x]) => [k, fix(x)]));
  };
  const image = (i: unknown) =>
    i === undefined ? undefined : Object.fromEntries(Object.entries(i as object).map(([k, v]) => [k, fix(v)]));
  const { NewImage, OldImage, ApproximateCreationDateTime: _, ...rest } = r.dynamodb ?? {};
  return {
    eventName: r.eventName,
    dynamodb: { ...rest, NewImage: image(NewImage), OldImage: image(OldImage) },
  } as unknown as DynamoDBRecord;
}

/** A call item that just came to be, ringing: the events function schedules its ring timer. */
const startsRinging = (c: TableChange): boolean =>
  c.kind === 'call' &&
  c.after.status === 'ringing' &&
  !c.after.tombstone &&
  (c.before === undefined || c.before.createdAt !== c.after.createdAt);

// ---- The stack -------------------------------------------------------------------------------

let t: TestStack;
let raw: DynamoDBClient;
let streams: DynamoDBStreamsClient;
let hook: CallbackReceiver;

beforeAll(async () => {
  t = await startTestStack({ events: {}, metrics: countingMetrics });
  const local = {
    endpoint: process.env.DYNAMODB_ENDPOINT!,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  raw = new DynamoDBClient(local);
  streams = new DynamoDBStreamsClient(local);
  meterLog(t.log);
  meterRequests(t.stack.server);
  meterDynamo(t.stack.doc, raw, t.tableName);
  hook = await CallbackReceiver.start({ secrets: (tenant) => (tenant === 'acme' ? [t.secrets.acme[0]] : undefined) });
  // The tenant's webhook takes every event type (its default).
  expect((await t.pbx.putWebhook({ url: `${hook.url}/callwake` })).status).toBe(200);
}, 30_000);

afterAll(async () => {
  await hook?.stop();
  await t?.stop();
  raw?.destroy();
  streams?.destroy();
});

// ---- The calls -------------------------------------------------------------------------------

/** Calls ring 5 s (the least a PBX may ask), so each ring timer fires within the test; no count depends on it. */
const RING_SECONDS = 5;

interface Phone {
  voip: string;
  alert: string;
}
interface User {
  userId: string;
  phones: Phone[];
}

/** A user whose phones registered with a VoIP and an alert token each (set up, not counted). */
async function userWith(devices: number): Promise<User> {
  const userId = `u-${randomUUID().slice(0, 8)}`;
  const phones = Array.from({ length: devices }, () => ({ voip: newToken(), alert: newToken() }));
  for (const [i, p] of phones.entries()) {
    const r = await t.pbx.putDevice(userId, `phone-${i}`, deviceBody(p.voip, { alertPushToken: p.alert }));
    expect(r.status).toBe(201);
  }
  return { userId, phones };
}

async function ring(userId: string) {
  const callId = uniqueCallId();
  const r = await t.pbx.ring({
    callId,
    from: { number: '+15551230000', displayName: 'Front Desk' },
    to: { userId },
    ringTimeoutSeconds: RING_SECONDS,
  });
  expect(r.status).toBe(201);
  return { callId, callUuid: r.body.callUuid as string };
}

const tokenOf = async (p: Phone): Promise<string> => (await pushFor(t.sim, p.voip)).token as string;

/** The calls counted, each by the column that holds it in docs/cost.md. */
const SCENARIOS = {
  /** One phone: it confirms, reads its view once, answers; the PBX reads the call once. */
  answered: {
    column: 'answered',
    devices: 1,
    run: async ({ userId, phones }: User) => {
      const { callId, callUuid } = await ring(userId);
      const token = await tokenOf(phones[0]!);
      expect((await t.app.confirm(callId, token)).status).toBe(200);
      expect((await t.app.view(callId, token)).status).toBe(200);
      expect((await t.app.answer(callId, token)).status).toBe(200);
      expect((await t.pbx.view(callId)).body.status).toBe('answered');
      return callUuid;
    },
  },
  /** One phone: it confirms; the caller hangs up, the PBX cancels; the phone gets a missed-call alert. */
  missed: {
    column: 'missed',
    devices: 1,
    run: async ({ userId, phones }: User) => {
      const { callId, callUuid } = await ring(userId);
      const token = await tokenOf(phones[0]!);
      expect((await t.app.confirm(callId, token)).status).toBe(200);
      expect((await t.pbx.cancel(callId)).status).toBe(200);
      await t.sim.waitForPush(phones[0]!.alert, 5000);
      return callUuid;
    },
  },
  /** Three phones: each confirms, one answers, the other two read their view once (ended); the PBX reads once. */
  threePhones: {
    column: 'three phones',
    devices: 3,
    run: async ({ userId, phones }: User) => {
      const { callId, callUuid } = await ring(userId);
      const tokens = await Promise.all(phones.map(tokenOf));
      for (const token of tokens) expect((await t.app.confirm(callId, token)).status).toBe(200);
      expect((await t.app.answer(callId, tokens[0]!)).status).toBe(200);
      for (const token of tokens.slice(1)) expect((await t.app.view(callId, token)).body.status).toBe('ended');
      expect((await t.pbx.view(callId)).body.status).toBe('answered');
      return callUuid;
    },
  },
} as const;
type Scenario = keyof typeof SCENARIOS;

interface Measured {
  rec: Recording;
  pushes: { voip: number; alert: number };
  published: number;
  callbacks: number;
  /** The stream records of the call (and of the user's item), as the events function gets them. */
  records: DynamoDBRecord[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a call and waits until everything it set off is done: its ring timer, its events and callbacks. */
async function measure(name: Scenario): Promise<Measured> {
  const scenario = SCENARIOS[name];
  const user = await userWith(scenario.devices);
  await t.stack.events!.settled();
  const before = new Set((await streamRecords()).map((r) => r.dynamodb?.SequenceNumber));
  const rec: Recording = { api: [], dynamo: [], background: [] };
  const pushesBefore = t.sim.received.length;
  recording = rec;
  const callUuid = await scenario.run(user);
  const deadline = Date.now() + (RING_SECONDS + 5) * 1000;
  while (!rec.dynamo.some((d) => d.fn === 'ring-timer') && Date.now() < deadline) await sleep(50);
  await t.stack.events!.settled();
  recording = undefined;
  const pushes = t.sim.received.slice(pushesBefore);
  const records = (await streamRecords())
    .filter((r) => !before.has(r.dynamodb?.SequenceNumber))
    .filter((r) => r.eventName === 'INSERT' || r.eventName === 'MODIFY')
    // The event source's filter: call and user items only.
    .filter((r) => [PREFIX.call, PREFIX.user].some((p) => r.dynamodb?.Keys?.['pk']?.S?.startsWith(p)))
    .map(lambdaRecordOf);
  return {
    rec,
    pushes: {
      voip: pushes.filter((p) => p.headers['apns-push-type'] === 'voip').length,
      alert: pushes.filter((p) => p.headers['apns-push-type'] === 'alert').length,
    },
    published: t.stack.events!.publisher.events.filter((e) => e.callUuid === callUuid).length,
    callbacks: hook.received.filter((c) => c.event.callUuid === callUuid).length,
    records,
  };
}

// ---- From what was counted to what AWS bills -------------------------------------------------

/**
 * The events function, deployed: Lambda hands it the stream's records in batches, which hold one
 * record or a few (4 polls a second, no batching window); priced at one invocation per record, the
 * most there can be. Per invocation with events: one GetItem of the tenant's webhook, one SNS
 * PublishBatch per 10 events, one SQS SendMessageBatch per 10 callbacks; per new ringing call one
 * SQS SendMessage (its ring timer). Locally the stream is read every 50 ms in batches of whatever
 * came, so these are derived from the records, by the events function's own code, and checked
 * against what came out (events published, callbacks received, ring timers fired).
 */
function eventsPathOf(m: Measured) {
  const perRecord = m.records.map((r) => {
    const changes = changesOfRecords([r]).changes;
    const events = changes.flatMap(eventsOfChange);
    return { events: events.length, timers: changes.filter(startsRinging).length };
  });
  const withEvents = perRecord.filter((r) => r.events > 0);
  return {
    invocations: perRecord.length,
    events: perRecord.reduce((s, r) => s + r.events, 0),
    webhookReads: withEvents.length,
    publishBatches: withEvents.reduce((s, r) => s + Math.ceil(r.events / 10), 0),
    // The webhook takes every type: each event is a delivery.
    callbackBatches: withEvents.reduce((s, r) => s + Math.ceil(r.events / 10), 0),
    timers: perRecord.reduce((s, r) => s + r.timers, 0),
  };
}

/** The rows of the counted table (docs/cost.md), per call. */
async function countsOf(m: Measured): Promise<Record<string, number>> {
  const path = eventsPathOf(m);
  const timers = timerInvocations(m.rec.dynamo);
  // What came out of the events path is what the derivation says went in.
  expect({ published: m.published, callbacks: m.callbacks, timers }).toEqual({
    published: path.events,
    callbacks: path.events,
    timers: path.timers,
  });
  // The events function's webhook reads, one per invocation with events, replace the local batches' ones.
  const localWebhookReads = m.rec.dynamo.filter((d) => d.fn === 'events' && d.op === 'GetItem');
  expect(localWebhookReads.length).toBeGreaterThan(0);
  expect(localWebhookReads.length).toBeLessThanOrEqual(path.webhookReads);
  const dynamo = [
    ...m.rec.dynamo.filter((d) => !localWebhookReads.includes(d)),
    ...Array.from({ length: path.webhookReads }, () => localWebhookReads[0]!),
  ];
  const ops = (op: string, failed = false) => dynamo.filter((d) => d.op === op && d.conditionFailed === failed).length;
  const api = (fn: Fn) => m.rec.api.filter((a) => a.fn === fn).length;
  const sqsSends = path.callbackBatches + path.timers;
  const logs = await logBytesOf(m, path.invocations);
  return {
    'API requests: pbx-api': api('pbx-api'),
    'API requests: app-api': api('app-api'),
    'events invocations (stream records, at most)': path.invocations,
    'callbacks invocations (deliveries)': m.callbacks,
    'ring-timer invocations': timers,
    'DynamoDB GetItem': ops('GetItem'),
    'DynamoDB PutItem': ops('PutItem'),
    'DynamoDB UpdateItem': ops('UpdateItem'),
    'DynamoDB UpdateItem, condition failed': ops('UpdateItem', true),
    'DynamoDB TransactWriteItems': ops('TransactWriteItems'),
    'DynamoDB other requests': dynamo.filter(
      (d) => !['GetItem', 'PutItem', 'UpdateItem', 'TransactWriteItems'].includes(d.op),
    ).length,
    'DynamoDB read request units': dynamo.reduce((s, d) => s + d.readUnits, 0),
    'DynamoDB write request units': dynamo.reduce((s, d) => s + d.writeUnits, 0),
    'events published (SNS messages)': m.published,
    'SNS PublishBatch requests': path.publishBatches,
    'SQS send requests': sqsSends,
    'SQS messages received and deleted': m.callbacks + timers,
    'APNs VoIP pushes': m.pushes.voip,
    'APNs alert pushes': m.pushes.alert,
    'log events': logs.events,
    'log bytes: function log lines': logs.lines,
    'log bytes: EMF metrics': logs.emf,
    'log bytes: Powertools warnings': logs.warnings,
    'log bytes: Lambda START/END/REPORT': logs.platform,
    'log bytes: API Gateway access log': logs.access,
    'log bytes, total': logs.lines + logs.emf + logs.warnings + logs.platform + logs.access,
  };
}

// ---- Log bytes: the lines replayed through the deployed logger and metrics --------------------

/**
 * Function names as CloudFormation gives them: stack `Callwake`, the construct's logical ids, a
 * 12-character suffix.
 */
const FUNCTION_NAMES: Record<Fn, string> = {
  'pbx-api': 'Callwake-CallwakePbxApiFunction7A52CE44-AbCdEfGh1234',
  'app-api': 'Callwake-CallwakeAppApiFunction2FCFCB0C-AbCdEfGh1234',
  events: 'Callwake-CallwakeEventsFunctionC24C2328-AbCdEfGh1234',
  callbacks: 'Callwake-CallwakeCallbacksFunction3D3D0E27-AbCdEfGh1234',
  'ring-timer': 'Callwake-CallwakeRingTimerFunctionAB283A5D-AbCdEfGh1234',
};
const REQUEST_ID = 'c6af9ac6-7b61-11e6-9a41-93e812345678';
/** API Gateway's request ids are 16 characters. */
const API_REQUEST_ID = 'Xk3jLgH5oAMEbXw=';
/** Lambda sets a trace header on every invocation, traced or not. */
const TRACE_HEADER = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=1:8a5e0d7e:0';
/** Timings are replayed as 3 digits (ms): what a call's own vary by. */
const REPLAYED_MS = 100;

const contextOf = (fn: Fn): Context =>
  ({
    functionName: FUNCTION_NAMES[fn],
    functionVersion: '$LATEST',
    memoryLimitInMB: String(MEMORY_MB[fn]),
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION_NAMES[fn]}`,
    awsRequestId: REQUEST_ID,
    getRemainingTimeInMillis: () => 20_000,
  }) as unknown as Context;

/** One observability per function, as a warm container has it (its cold start behind it). */
const observabilities = new Map<Fn, Observability>();

async function replay(inv: Invocation): Promise<string[]> {
  let obs = observabilities.get(inv.fn);
  const handlerOf = (o: Observability, i: Invocation) =>
    middy(async () => {
      for (const l of i.lines) o.log[l.level](l.message, l.fields);
      for (const m of i.metrics) {
        if (m.kind === 'count') o.metrics.count(m.name, m.value, m.dimensions);
        else o.metrics.time(m.name, REPLAYED_MS, m.dimensions);
      }
    }).use(o.middlewares);
  const event = inv.fn === 'pbx-api' || inv.fn === 'app-api' ? { requestContext: { requestId: API_REQUEST_ID } } : {};
  const written: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  const trace = process.env._X_AMZN_TRACE_ID;
  process.env._X_AMZN_TRACE_ID = TRACE_HEADER;
  try {
    if (!obs) {
      obs = lambdaObservability(serviceNameOf(inv.fn), { METRICS_BY_TENANT: 'false' });
      observabilities.set(inv.fn, obs);
      await handlerOf(obs, { fn: inv.fn, lines: [], metrics: [] })(event, contextOf(inv.fn));
      written.length = 0;
    }
    await handlerOf(obs, inv)(event, contextOf(inv.fn));
  } finally {
    out.mockRestore();
    err.mockRestore();
    if (trace === undefined) delete process.env._X_AMZN_TRACE_ID;
    else process.env._X_AMZN_TRACE_ID = trace;
  }
  // CloudWatch Logs takes each line as a log event, without its line break.
  const lines = written
    .join('')
    .split('\n')
    .filter((l) => l.length > 0);
  if (process.env.SHOW_LOGS) console.log(`${inv.fn}:\n${lines.join('\n')}`);
  return lines;
}

/** What Lambda writes for every invocation (the Text log format; durations and memory as 3 digits). */
const platformLines = (fn: Fn): string[] => [
  `START RequestId: ${REQUEST_ID} Version: $LATEST`,
  `END RequestId: ${REQUEST_ID}`,
  [
    `REPORT RequestId: ${REQUEST_ID}`,
    'Duration: 100.00 ms',
    'Billed Duration: 100 ms',
    `Memory Size: ${MEMORY_MB[fn]} MB`,
    'Max Memory Used: 100 MB\t',
  ].join('\t'),
];

/** API Gateway's access log line of a request (ACCESS_LOG_FIELDS; latencies as 3 digits, an IPv4 caller). */
function accessLine(a: ApiInvocation): string {
  const values: Record<string, string> = {
    '$context.requestId': API_REQUEST_ID,
    '$context.integration.requestId': REQUEST_ID,
    '$context.requestTimeEpoch': '1796526548245',
    '$context.httpMethod': a.method,
    '$context.routeKey': a.fn === 'pbx-api' ? 'ANY /v1/pbx/{proxy+}' : 'ANY /v1/app/{proxy+}',
    '$context.protocol': 'HTTP/1.1',
    '$context.status': String(a.status),
    '$context.responseLength': String(a.responseBytes),
    '$context.responseLatency': String(REPLAYED_MS),
    '$context.integration.status': '200',
    '$context.integration.latency': String(REPLAYED_MS),
    '$context.integration.error': '-',
    '$context.error.message': '-',
    '$context.identity.sourceIp': '203.0.113.10',
  };
  return JSON.stringify(
    Object.fromEntries(
      Object.entries(ACCESS_LOG_FIELDS).map(([k, v]) => {
        if (values[v] === undefined) throw new Error(`no sample value for ${v}`);
        return [k, values[v]];
      }),
    ),
  );
}

/**
 * The invocations of a call with what each logged and measured: the API requests as they ran;
 * the events path's functions at one invocation per stream record, delivery or ring timer, their
 * lines and metrics handed out in the order they came (each delivery logs and counts once; the
 * events function's metrics, the alerts of the call's end, all come from one record).
 */
function invocationsOf(m: Measured, eventsInvocations: number): Invocation[] {
  const spread = (fn: Fn, count: number): Invocation[] => {
    const invs: Invocation[] = Array.from({ length: count }, () => ({ fn, lines: [], metrics: [] }));
    const own = m.rec.background.filter((b) => b.fn === fn);
    const lines = own.flatMap((b) => (b.line ? [b.line] : []));
    const metrics = own.flatMap((b) => (b.metric ? [b.metric] : []));
    for (const [i, l] of lines.entries()) invs[Math.min(i, count - 1)]!.lines.push(l);
    for (const [i, x] of metrics.entries()) invs[fn === 'events' ? 0 : Math.min(i, count - 1)]!.metrics.push(x);
    return invs;
  };
  // The events function logs nothing when all goes well. A line per record would have to be
  // counted per record: locally, batches merge records (see eventsPathOf).
  expect(m.rec.background.filter((b) => b.fn === 'events' && b.line).map((b) => b.line!.message)).toEqual([]);
  return [
    ...m.rec.api,
    ...spread('events', eventsInvocations),
    ...spread('callbacks', m.callbacks),
    ...spread('ring-timer', timerInvocations(m.rec.dynamo)),
  ];
}

async function logBytesOf(m: Measured, eventsInvocations: number) {
  const bytes = { events: 0, lines: 0, emf: 0, warnings: 0, platform: 0, access: 0 };
  for (const inv of invocationsOf(m, eventsInvocations)) {
    for (const line of await replay(inv)) {
      const n = Buffer.byteLength(line);
      bytes.events++;
      if (line.startsWith('{"_aws"')) bytes.emf += n;
      else if (line.startsWith('{')) bytes.lines += n;
      else bytes.warnings += n;
    }
    for (const line of platformLines(inv.fn)) {
      bytes.events++;
      bytes.platform += Buffer.byteLength(line);
    }
  }
  for (const a of m.rec.api) {
    bytes.events++;
    bytes.access += Buffer.byteLength(accessLine(a));
  }
  return bytes;
}

// ---- docs/cost.md -----------------------------------------------------------------------------

const DOC = new URL('../../docs/cost.md', import.meta.url);

/** The markdown table between `<!-- cost-test:<name> -->` and `<!-- /cost-test:<name> -->`: header and rows. */
function docTable(name: string): { header: string[]; rows: Map<string, string[]> } {
  const text = readFileSync(DOC, 'utf8');
  const m = new RegExp(`<!-- cost-test:${name} -->\\n([\\s\\S]*?)<!-- /cost-test:${name} -->`).exec(text);
  if (!m) throw new Error(`docs/cost.md has no table cost-test:${name}`);
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const lines = m[1]!.trim().split('\n');
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(2)) {
    const [label, ...rest] = cells(line);
    rows.set(label!.replace(/`/g, ''), rest);
  }
  return { header: cells(lines[0]!), rows };
}

/** A number as the document writes it: `1,234`, `0.125`, `$0.50`. */
const numberIn = (cell: string): number => Number(cell.replace(/[$,*]/g, ''));

// ---- Prices (docs/cost.md): what the counts cost ------------------------------------------------

interface Assumed {
  prices: Record<string, number>;
  /** Billed ms per invocation, by kind. */
  ms: Record<string, number>;
}

function assumed(): Assumed {
  const prices = Object.fromEntries([...docTable('prices').rows].map(([k, v]) => [k, numberIn(v[0]!)]));
  const durations = docTable('durations');
  const ms: Record<string, number> = {};
  for (const [kind, [memory, billed]] of durations.rows) {
    const fn = kind.split(':')[0] as Fn;
    // The memory the document prices with is the construct's.
    expect([kind, numberIn(memory!)]).toEqual([kind, MEMORY_MB[fn]]);
    ms[kind] = numberIn(billed!);
  }
  return { prices, ms };
}

/** USD per million calls, by service, from a call's counts and its invocations. */
function costPerMillion(c: Record<string, number>, m: Measured, a: Assumed): Record<string, number> {
  const p = (k: string) => {
    if (a.prices[k] === undefined) throw new Error(`docs/cost.md prices lack "${k}"`);
    return a.prices[k]!;
  };
  const rings = m.rec.api.filter((x) => x.route === 'POST /v1/pbx/calls').length;
  const gbSeconds =
    (rings * a.ms['pbx-api: ring']! * PBX_API_MEMORY_MB +
      (c['API requests: pbx-api']! - rings) * a.ms['pbx-api: other request']! * PBX_API_MEMORY_MB +
      c['API requests: app-api']! * a.ms['app-api: request']! * APP_API_MEMORY_MB +
      c['events invocations (stream records, at most)']! * a.ms['events: per invocation']! * EVENTS_MEMORY_MB +
      c['callbacks invocations (deliveries)']! * a.ms['callbacks: per delivery']! * CALLBACKS_MEMORY_MB +
      c['ring-timer invocations']! * a.ms['ring-timer: per timer']! * RING_TIMER_MEMORY_MB) /
    1000 /
    1024;
  const invocations =
    c['API requests: pbx-api']! +
    c['API requests: app-api']! +
    c['events invocations (stream records, at most)']! +
    c['callbacks invocations (deliveries)']! +
    c['ring-timer invocations']!;
  const cost: Record<string, number> = {
    'API Gateway': (c['API requests: pbx-api']! + c['API requests: app-api']!) * p('API Gateway HTTP API request'),
    'Lambda requests': invocations * p('Lambda request'),
    'Lambda duration': gbSeconds * 1e6 * p('Lambda arm64 GB-second'),
    DynamoDB:
      c['DynamoDB read request units']! * p('DynamoDB read request unit') +
      c['DynamoDB write request units']! * p('DynamoDB write request unit'),
    SNS: c['SNS PublishBatch requests']! * p('SNS publish request'),
    // Lambda's poller receives and deletes each message: two requests each (an estimate).
    SQS: (c['SQS send requests']! + 2 * c['SQS messages received and deleted']!) * p('SQS request'),
    'CloudWatch Logs': (c['log bytes, total']! / 2 ** 30) * 1e6 * p('CloudWatch Logs ingestion (GB)'),
  };
  cost['total'] = Object.values(cost).reduce((s, x) => s + x, 0);
  return cost;
}

// ---- The tests ---------------------------------------------------------------------------------

describe('what a call costs (docs/cost.md)', () => {
  const counted = new Map<Scenario, { counts: Record<string, number>; m: Measured }>();

  it('warms up: a container signs its APNs provider token once, before the calls counted', async () => {
    await measure('answered');
  }, 30_000);

  for (const name of Object.keys(SCENARIOS) as Scenario[]) {
    it(`counts a call: ${SCENARIOS[name].column}`, async () => {
      const m = await measure(name);
      counted.set(name, { counts: await countsOf(m), m });
    }, 30_000);
  }

  it('the counted table of docs/cost.md is what was counted', () => {
    const { header, rows } = docTable('counted');
    const names = Object.keys(SCENARIOS) as Scenario[];
    expect(header.slice(1)).toEqual(names.map((n) => SCENARIOS[n].column));
    const labels = Object.keys(counted.get(names[0]!)!.counts);
    const inDoc = Object.fromEntries(labels.map((l) => [l, (rows.get(l) ?? []).map(numberIn)]));
    const measured = Object.fromEntries(labels.map((l) => [l, names.map((n) => counted.get(n)!.counts[l])]));
    if (JSON.stringify(inDoc) !== JSON.stringify(measured)) {
      console.log(
        `counted (paste into docs/cost.md):\n${labels
          .map((l) => `| ${l} | ${measured[l]!.map((x) => x!.toLocaleString('en-US')).join(' | ')} |`)
          .join('\n')}`,
      );
      console.log(
        `local timings (ms): ${names
          .map(
            (n) =>
              `${n}: ${counted
                .get(n)!
                .m.rec.api.map((a) => `${a.route} ${a.ms}`)
                .join(', ')}`,
          )
          .join('; ')}`,
      );
    }
    expect(inDoc).toEqual(measured);
    expect([...rows.keys()].filter((l) => !labels.includes(l))).toEqual([]);
  });

  it("the document's dollars are its prices times the counts", () => {
    const a = assumed();
    const { header, rows } = docTable('cost');
    const names = Object.keys(SCENARIOS) as Scenario[];
    expect(header.slice(1)).toEqual(names.map((n) => SCENARIOS[n].column));
    const costs = names.map((n) => costPerMillion(counted.get(n)!.counts, counted.get(n)!.m, a));
    // Per million calls to the cent, by service; and the total per call.
    const computed: Record<string, string[]> = Object.fromEntries(
      Object.keys(costs[0]!).map((s) => [s, costs.map((c) => c[s]!.toFixed(2))]),
    );
    computed['per call'] = costs.map((c) => (c['total']! / 1e6).toFixed(7));
    const inDoc = Object.fromEntries(
      [...rows].map(([s, cells]) => [
        s,
        cells.map((x) => (s === 'per call' ? numberIn(x).toFixed(7) : numberIn(x).toFixed(2))),
      ]),
    );
    if (JSON.stringify(inDoc) !== JSON.stringify(computed)) {
      console.log(
        `USD per million calls:\n${Object.entries(computed)
          .map(([s, v]) => `| ${s} | ${v.join(' | ')} |`)
          .join('\n')}`,
      );
    }
    expect(inDoc).toEqual(computed);
  });
});

describe('what a waiting second costs (docs/cost.md)', () => {
  const title = `a held read (Prefer: wait) reads its call every ${DEFAULT_WAIT_POLL_MS} ms, a read unit each`;
  it(title, async () => {
    const user = await userWith(1);
    const callId = uniqueCallId();
    // Rings long enough not to turn while it is held.
    const r = await t.pbx.ring({ callId, from: { number: '+15551230000' }, to: { userId: user.userId } });
    expect(r.status).toBe(201);
    const token = await tokenOf(user.phones[0]!);
    const etag = (await t.app.confirm(callId, token)).headers.get('etag')!;
    await t.stack.events!.settled();
    const held = 2;
    const rec: Recording = { api: [], dynamo: [], background: [] };
    recording = rec;
    const started = Date.now();
    const reply = await t.app.view(callId, token, { etag, waitSeconds: held });
    const seconds = (Date.now() - started) / 1000;
    recording = undefined;
    expect(reply.status).toBe(304);
    expect(seconds).toBeGreaterThanOrEqual(held);
    const reads = rec.dynamo.filter((d) => d.fn === 'app-api' && d.op === 'GetItem');
    expect(rec.dynamo.filter((d) => d.fn === 'app-api').length).toBe(reads.length);
    // The first read, then one per poll: at most one every WAIT_POLL_MS; fewer only by the reads'
    // own time (generous here: DynamoDB Local may be busy with other test files).
    const perSecond = 1000 / DEFAULT_WAIT_POLL_MS;
    expect(reads.length).toBeLessThanOrEqual(1 + perSecond * held);
    expect(reads.length).toBeGreaterThanOrEqual(1 + 0.5 * perSecond * held);
    expect(reads.every((d) => d.readUnits === 1)).toBe(true);

    const { rows } = docTable('waiting');
    const a = assumed();
    const read = a.prices['DynamoDB read request unit']! / 1e6;
    const gbSecond = a.prices['Lambda arm64 GB-second']!;
    const perHeldSecond = (fn: Fn) => perSecond * read + (MEMORY_MB[fn] / 1024) * gbSecond;
    expect(Object.fromEntries(rows)).toEqual({
      'reads of the call (at most)': [String(perSecond), String(perSecond)],
      'read request units': [String(perSecond), String(perSecond)],
      'GB-seconds': [String(APP_API_MEMORY_MB / 1024), String(PBX_API_MEMORY_MB / 1024)],
      'USD per million held seconds': [
        (perHeldSecond('app-api') * 1e6).toFixed(2),
        (perHeldSecond('pbx-api') * 1e6).toFixed(2),
      ],
    });
    expect((await t.pbx.cancel(callId)).status).toBe(200);
  }, 30_000);
});
