import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ApnsConnection } from '../functions/adapters/apns-connection.js';
import { mintProviderToken, teamKeyOf } from '../functions/adapters/apns-jwt.js';
import { documentClient } from '../functions/adapters/dynamo-table.js';
import { userKey } from '../functions/adapters/table-layout.js';
import { silentLog } from '../functions/core/ports.js';
import { ApnsSimulator, createSimulatorKey } from '../local/apns-simulator/index.js';
import { AppClient, PbxClient } from '../local/clients.js';
import { startDynamoLocal } from '../local/dynamo-local.js';
import { startStack } from '../local/stack.js';
import { measureWakes } from './wake.js';

/**
 * `npm run bench`: each path's latency as a ratio to its I/O floor, measured in the same run
 * with the same kind of clients against the same DynamoDB Local and APNs simulator:
 * - ring (webhook): floor = GetItem (devices) + PutItem (call) + one APNs request + UpdateItem;
 * - confirm / answer (app API): floor = one UpdateItem.
 * The difference is what callwake itself costs: HTTP front, signature, validation, tokens, JSON.
 */
const N = Number(process.env.BENCH_N ?? 200);
const WARMUP = 30;
const WAKE_N = Number(process.env.BENCH_WAKE_N ?? 40);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
/** Runs paths alternately, request by request, so drift (JIT, GC, a busy core) hits them alike. */
async function interleaved(n: number, fns: ((i: number) => Promise<unknown>)[]): Promise<number[][]> {
  for (let i = 0; i < WARMUP; i++) for (const fn of fns) await fn(-1 - i);
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < n; i++) for (const [k, fn] of fns.entries()) out[k]!.push(await time(() => fn(i)));
  return out;
}

async function main() {
  const dynamo = process.env.DYNAMODB_ENDPOINT ? undefined : await startDynamoLocal();
  const endpoint = process.env.DYNAMODB_ENDPOINT ?? dynamo!.endpoint;
  const sim = await ApnsSimulator.start();
  const secret = randomBytes(16).toString('hex');
  const table = `bench-${randomUUID()}`;
  const stack = await startStack({
    host: '127.0.0.1',
    port: 0,
    tenants: new Map([['bench', [secret]]]),
    dynamoEndpoint: endpoint,
    tableName: table,
    apns: { kind: 'simulator', simulator: sim },
    defaultEnvironment: 'sandbox',
    pushDeadlineMs: 5000,
    log: silentLog,
    // The events path runs as on `npm start` (its lines are not printed).
    events: { print: () => undefined },
    // A bench sends one tenant's requests back to back: far past a real tenant's limit.
    tenantLimits: { requestsPerSecond: 1_000_000, ringingCalls: 1_000_000 },
  });
  const pbx = new PbxClient(stack.url, 'bench', secret);
  const app = new AppClient(stack.url);
  const token = randomBytes(32).toString('hex');
  await pbx.putDevice('u', 'd', {
    platform: 'ios',
    pushToken: token,
    bundleId: 'com.example.phone',
    environment: 'sandbox',
  });

  // The floor: the same I/O in sequence, with clients of the same kind, no callwake in between.
  const doc = documentClient({ endpoint });
  const key = createSimulatorKey('FLOORTEAM1', 'FLOORKEY01');
  sim.trustKey(key.teamId, key.keyId, key.publicKey);
  const jwt = mintProviderToken(teamKeyOf(key.teamId, key.keyId, key.privateKeyPem), Date.now());
  const apns = new ApnsConnection(`https://${sim.address}`, { ca: sim.caPem });
  const floorPayload = JSON.stringify({
    aps: {},
    callwake: { v: 1, token: 'x'.repeat(73), caller: { number: '+15551230000' } },
  });
  const floorKey = (i: number) => ({ pk: `FLOOR#${i}`, sk: 'CALL' });
  const ringFloorOnce = async (i: number) => {
    await doc.send(new GetCommand({ TableName: table, Key: userKey('bench', 'u'), ConsistentRead: true }));
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: { ...floorKey(i), status: 'ringing', lifetimeEnd: Date.now() + 1e6 },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    const r = await apns.send(
      `/3/device/${token}`,
      {
        authorization: `bearer ${jwt}`,
        'apns-push-type': 'voip',
        'apns-topic': 'com.example.phone.voip',
        'apns-priority': '10',
        'apns-expiration': '0',
      },
      floorPayload,
      Date.now() + 5000,
    );
    if (r.kind !== 'response' || r.status !== 200) throw new Error(`floor push failed: ${JSON.stringify(r)}`);
    await doc.send(
      new UpdateCommand({
        TableName: table,
        Key: floorKey(i),
        UpdateExpression: 'SET delivery = :d',
        ExpressionAttributeValues: { ':d': 'sent' },
      }),
    );
  };
  const updateFloorOnce = (i: number) =>
    doc.send(
      new UpdateCommand({
        TableName: table,
        Key: floorKey(i),
        UpdateExpression: 'SET confirmedAt = if_not_exists(confirmedAt, :n)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':n': Date.now() },
        ReturnValues: 'ALL_NEW',
      }),
    );
  // What any HTTP API on this machine pays for one loopback request with the same client (fetch).
  const bare = createServer((_q, r) => r.writeHead(204).end());
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const httpHopOnce = () => fetch(bareUrl).then((r) => r.arrayBuffer());

  const callIds: string[] = [];
  const ringOnce = async (i: number) => {
    const callId = `${randomUUID()}@bench`;
    if (i >= 0) callIds[i] = callId;
    const r = await pbx.ring({ callId, from: { number: '+15551230000', displayName: 'Bench' }, to: { userId: 'u' } });
    if (r.status !== 201 || r.body.status !== 'ringing')
      throw new Error(`ring failed: ${r.status} ${JSON.stringify(r.body)}`);
  };
  const [ring, ringFloor] = await interleaved(N, [ringOnce, ringFloorOnce]);
  const tokens = callIds.map(
    (_, i) =>
      (
        sim
          .pushesFor(token)
          .find((p) => (p.payload as { callwake: { callId: string } }).callwake.callId === callIds[i])!.payload as {
          callwake: { token: string };
        }
      ).callwake.token,
  );
  let w = 0;
  const confirmOnce = async (i: number) => {
    const k = i >= 0 ? i : w++ % N;
    const r = await app.confirm(callIds[k]!, tokens[k]!);
    if (r.status !== 200) throw new Error(`confirm failed: ${r.status}`);
  };
  const answerOnce = async (i: number) => {
    const k = i >= 0 ? i : w++ % N;
    const r = await app.answer(callIds[k]!, tokens[k]!);
    if (r.status !== 200 && i >= 0) throw new Error(`answer failed: ${r.status}`);
  };
  const [confirm, answer, updateFloor, httpHop] = await interleaved(N, [
    confirmOnce,
    answerOnce,
    updateFloorOnce,
    httpHopOnce,
  ]);

  const row = (name: string, xs: number[], floor: number[]) =>
    `${name.padEnd(22)} p50 ${pct(xs, 50).toFixed(2).padStart(7)} ms  p99 ${pct(xs, 99).toFixed(2).padStart(7)} ms   floor p50 ${pct(floor, 50).toFixed(2).padStart(6)} ms   ratio p50 ${(pct(xs, 50) / pct(floor, 50)).toFixed(2)}x`;
  console.log(
    `callwake bench: ${N} sequential requests per path after ${WARMUP} warm-up, DynamoDB Local + APNs simulator on loopback\n`,
  );
  console.log(row('ring (POST /calls)', ring!, ringFloor!));
  console.log(row('confirm (app)', confirm!, updateFloor!));
  console.log(row('answer (app)', answer!, updateFloor!));
  console.log(
    `\nfloor: ring = GetItem + PutItem + 1 APNs request + UpdateItem; app = 1 UpdateItem (same clients, same run, interleaved)`,
  );
  console.log(
    `one loopback HTTP request to a bare server (part of every API call, not of the floor): p50 ${pct(httpHop!, 50).toFixed(2)} ms`,
  );

  const wakes = await measureWakes({
    n: WAKE_N,
    pbx,
    app,
    sim,
    doc,
    table,
    tenantSecret: secret,
    httpHop: httpHopOnce,
    newToken: () => randomBytes(32).toString('hex'),
  });
  const wakeRow = (name: string, xs: number[], target: number) =>
    `${row(name, xs, wakes.floor)}   p95 ${pct(xs, 95).toFixed(1)} ms (target ${target} ms)`;
  console.log(`\nthe loop back (${WAKE_N} calls each; delay from the change's answer):`);
  console.log(wakeRow('decline -> PBX waiter', wakes.declineToPbxWaiter, 300));
  console.log(wakeRow('cancel -> app waiter', wakes.cancelToAppWaiter, 300));
  console.log(wakeRow('cancel -> callback', wakes.changeToCallback, 1000));
  console.log(
    'floor: one consistent GetItem + one loopback HTTP answer. A waiter reads every 100 ms; the local stream is read every 50 ms.',
  );
  bare.close();

  apns.close();
  doc.destroy();
  await stack.stop();
  await sim.stop();
  await dynamo?.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
