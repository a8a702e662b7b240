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
 * Local and APNs simulator, with nothing of callwake in between. Every API request also crosses
 * one loopback HTTP exchange, so each floor includes one, to a bare server.
 */
export interface Floors {
  /** The webhook: its first read with the tenant's two limit counters alongside, the conditional
   *  put, one APNs request, the update that records it; and the HTTP exchange. */
  ring(i: number): Promise<void>;
  /** confirm / answer: one conditional update returning the item; and the HTTP exchange. */
  update(i: number): Promise<void>;
  /** A waiter learning of a change: one consistent read; and the HTTP exchange. */
  read(callKey: { pk: string; sk: string }): Promise<void>;
  httpHop(): Promise<void>;
  close(): Promise<void>;
}

export async function startFloors(o: {
  doc: DynamoDBDocumentClient;
  table: string;
  sim: ApnsSimulator;
  pushToken: string;
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
  const bare = createServer((_q, r) => r.writeHead(204).end());
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const httpHop = async () => {
    await (await fetch(bareUrl)).arrayBuffer();
  };
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
  return {
    async ring(i) {
      const k = floorKey(i);
      last = k;
      await Promise.all([
        doc.send(new GetCommand({ TableName: table, Key: userKey('bench', 'u'), ConsistentRead: true })),
        counter(rateKey('floor', Math.floor(Date.now() / 10_000))),
        counter(ringingKey('floor')),
      ]);
      await doc.send(
        new PutCommand({
          TableName: table,
          Item: { ...k, status: 'ringing', lifetimeEnd: Date.now() + 1e6 },
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
          UpdateExpression: 'SET delivery = :d',
          ExpressionAttributeValues: { ':d': 'sent' },
        }),
      );
      await httpHop();
    },
    async update() {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: last,
          UpdateExpression: 'SET confirmedAt = if_not_exists(confirmedAt, :n)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':n': Date.now() },
          ReturnValues: 'ALL_NEW',
        }),
      );
      await httpHop();
    },
    async read(k) {
      await doc.send(new GetCommand({ TableName: table, Key: k, ConsistentRead: true }));
      await httpHop();
    },
    httpHop,
    async close() {
      apns.close();
      await new Promise<void>((r) => bare.close(() => r()));
    },
  };
}
