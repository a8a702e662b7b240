import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ApnsConnection } from '../functions/adapters/apns-connection.js';
import { mintProviderToken, teamKeyOf } from '../functions/adapters/apns-jwt.js';
import { rateKey, ringingKey, userKey } from '../functions/adapters/table-layout.js';
import { type ApnsSimulator, createSimulatorKey } from '../local/apns-simulator/index.js';

/**
 * The I/O each path cannot avoid, done with clients of the same kind, against the same DynamoDB
 * Local and APNs simulator, with nothing of callwake in between: the same requests the path makes,
 * on items of the same size (a copy of a call the stack stored), so a ratio measures callwake's
 * own work (HTTP handling, authentication, validation, the use case, mapping) and not the size of
 * what it must store. Every API request also crosses one loopback HTTP exchange, so each floor
 * is one exchange with a bare HTTP server whose request handler does that I/O.
 */
export interface Floors {
  /** The webhook: its first read with the tenant's two limit counters alongside, the conditional
   *  put of the call, one APNs request, the update that records it (returning the item); and the
   *  HTTP exchange. */
  ring(i: number, userId?: string): Promise<void>;
  /** confirm: one conditional update of a device's slot returning the item; and the HTTP exchange. */
  update(i: number): Promise<void>;
  /** answer / decline: the conditional update that decides the call, returning it; and the HTTP exchange. */
  decide(i: number): Promise<void>;
  /** A waiter learning of a change: one consistent read; and the HTTP exchange. */
  read(callKey: { pk: string; sk: string }): Promise<void>;
  /** The HTTP exchange alone. */
  httpHop(): Promise<void>;
  close(): Promise<void>;
}

export async function startFloors(o: {
  doc: DynamoDBDocumentClient;
  table: string;
  sim: ApnsSimulator;
  pushToken: string;
  /** A call item as the stack stored it (one device, slot d0): what the floors write copies of. */
  callItem: Record<string, unknown>;
}): Promise<Floors> {
  const { doc, table } = o;
  const key = createSimulatorKey('FLOORTEAM1', 'FLOORKEY01');
  o.sim.trustKey(key.teamId, key.keyId, key.publicKey);
  const jwt = mintProviderToken(teamKeyOf(key.teamId, key.keyId, key.privateKeyPem), Date.now());
  const apns = new ApnsConnection(`https://${o.sim.address}`, { ca: o.sim.caPem });
  const payload = JSON.stringify({
    aps: {},
    callwake: { v: 1, token: 'x'.repeat(73), caller: { number: '+15551230000' } },
  });
  const floorKey = (i: number) => ({ pk: `FLOOR#${i}#${Math.random()}`, sk: 'CALL' });
  const counter = (k: { pk: string; sk: string }) =>
    doc.send(
      new UpdateCommand({
        TableName: table,
        Key: k,
        UpdateExpression: 'ADD n :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  let last = floorKey(0);
  const io = {
    async ring(i: number, userId: string) {
      const k = floorKey(i);
      last = k;
      await Promise.all([
        doc.send(new GetCommand({ TableName: table, Key: userKey('bench', userId), ConsistentRead: true })),
        counter(rateKey('floor', Math.floor(Date.now() / 10_000))),
        counter(ringingKey('floor')),
      ]);
      await doc.send(
        new PutCommand({
          TableName: table,
          Item: { ...o.callItem, ...k, lifetimeEnd: Date.now() + 1e6 },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      const r = await apns.send(
        `/3/device/${o.pushToken}`,
        {
          authorization: `bearer ${jwt}`,
          'apns-push-type': 'voip',
          'apns-topic': 'com.example.phone.voip',
          'apns-priority': '10',
          'apns-expiration': '0',
        },
        payload,
        Date.now() + 5000,
      );
      if (r.kind !== 'response' || r.status !== 200) throw new Error(`floor push failed: ${JSON.stringify(r)}`);
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: k,
          UpdateExpression: 'SET answerStatus = :s, deliveredAt = :t, devices.#d.delivery = :d, devices.#d.apnsId = :a',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#d': 'd0' },
          ExpressionAttributeValues: { ':s': 'ringing', ':t': Date.now(), ':d': 'sent', ':a': r.apnsId },
          ReturnValues: 'ALL_NEW',
        }),
      );
    },
    async update() {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: last,
          UpdateExpression: 'SET devices.#d.confirmedAt = if_not_exists(devices.#d.confirmedAt, :n)',
          ConditionExpression: 'attribute_exists(pk) AND attribute_exists(devices.#d)',
          ExpressionAttributeNames: { '#d': 'd0' },
          ExpressionAttributeValues: { ':n': Date.now() },
          ReturnValues: 'ALL_NEW',
        }),
      );
    },
    async decide() {
      const now = Date.now();
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: last,
          UpdateExpression:
            'SET #status = :to, answeredBy = devices.#d.deviceId, answeredAt = if_not_exists(answeredAt, :n), devices.#d.answeredAt = if_not_exists(devices.#d.answeredAt, :n)',
          ConditionExpression:
            'attribute_exists(pk) AND lifetimeEnd > :n AND attribute_exists(devices.#d) AND ((#status = :ringing AND expiresAt > :n) OR (#status = :to AND answeredBy = devices.#d.deviceId))',
          ExpressionAttributeNames: { '#d': 'd0', '#status': 'status' },
          ExpressionAttributeValues: { ':n': now, ':to': 'answered', ':ringing': 'ringing' },
          ReturnValues: 'ALL_NEW',
        }),
      );
    },
    async read(k: { pk: string; sk: string }) {
      await doc.send(new GetCommand({ TableName: table, Key: k, ConsistentRead: true }));
    },
  };

  // The I/O runs inside a bare server's request handler, as a path's runs inside its request:
  // the floor is that exchange with nothing of callwake around the I/O.
  const bare = createServer((q, r) => {
    const url = new URL(q.url ?? '/', 'http://floor');
    const n = Number(url.searchParams.get('i') ?? 0);
    const work =
      url.pathname === '/ring'
        ? io.ring(n, url.searchParams.get('user') ?? 'u')
        : url.pathname === '/update'
          ? io.update()
          : url.pathname === '/decide'
            ? io.decide()
            : url.pathname === '/read'
              ? io.read({ pk: url.searchParams.get('pk') ?? '', sk: url.searchParams.get('sk') ?? '' })
              : Promise.resolve();
    q.resume();
    work.then(
      () => r.writeHead(204).end(),
      (e: Error) => r.writeHead(500).end(e.message),
    );
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
  const exchange = async (path: string) => {
    const res = await fetch(`${base}${path}`, { method: 'POST' });
    const text = await res.text();
    if (res.status !== 204) throw new Error(`floor ${path} failed: ${text}`);
  };
  return {
    ring: (i, userId = 'u') => exchange(`/ring?i=${i}&user=${encodeURIComponent(userId)}`),
    update: () => exchange('/update'),
    decide: () => exchange('/decide'),
    read: (k) => exchange(`/read?pk=${encodeURIComponent(k.pk)}&sk=${encodeURIComponent(k.sk)}`),
    httpHop: () => exchange('/'),
    async close() {
      apns.close();
      await new Promise<void>((r) => bare.close(() => r()));
    },
  };
}
