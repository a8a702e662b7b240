import { randomBytes, randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../functions/adapters/dynamo-table.js';
import { callKey } from '../functions/adapters/table-layout.js';
import { callUuidOf } from '../functions/core/ids.js';
import { silentLog } from '../functions/core/ports.js';
import { ApnsSimulator } from '../local/apns-simulator/index.js';
import { AppClient, PbxClient } from '../local/clients.js';
import { startDynamoLocal } from '../local/dynamo-local.js';
import { type RunningStack, startStack } from '../local/stack.js';
import { measureBundles } from './bundles.js';
import { startFloors } from './floors.js';
import { delayRow, interleaved, row } from './stats.js';
import { measureWakes } from './wake.js';

/**
 * `npm run bench`: each path's latency as a ratio to the I/O it cannot avoid (its floor), measured
 * in the same run with the same kind of clients against the same DynamoDB Local and APNs
 * simulator, interleaved request by request; then the loop back (waiters, callbacks, missed-call
 * alerts) on a stack running the events path; then each function's bundle and import time.
 * The request paths are measured on a stack without the events path: deployed, it runs in
 * functions of its own and never shares a core with a request.
 */
const N = Number(process.env.BENCH_N ?? 200);
const WAKE_N = Number(process.env.BENCH_WAKE_N ?? 30);
const WARMUP = 30;
const token = () => randomBytes(32).toString('hex');
/** A bench sends one tenant's requests back to back: far past a real tenant's limits. */
const NO_LIMITS = { requestsPerSecond: 1_000_000, ringingCalls: 1_000_000 };

async function stackOn(endpoint: string, sim: ApnsSimulator, secret: string, events: boolean): Promise<RunningStack> {
  return startStack({
    host: '127.0.0.1',
    port: 0,
    tenants: new Map([['bench', [secret]]]),
    dynamoEndpoint: endpoint,
    tableName: `bench-${randomUUID()}`,
    apns: { kind: 'simulator', simulator: sim },
    defaultEnvironment: 'sandbox',
    pushDeadlineMs: 5000,
    log: silentLog,
    tenantLimits: NO_LIMITS,
    events: events ? { print: () => undefined } : false,
  });
}

const device = (pushToken: string, extra: object = {}) => ({
  platform: 'ios',
  pushToken,
  bundleId: 'com.example.phone',
  environment: 'sandbox',
  ...extra,
});

/** A call as the stack stores it, rung to the user's one device: the item the floors copy. */
async function storedCall(pbx: PbxClient, doc: DynamoDBDocumentClient, table: string, userId: string) {
  const callId = `${randomUUID()}@bench`;
  await pbx.ring({ callId, from: { number: '+15551230000', displayName: 'Bench' }, to: { userId } });
  const key = callKey(callUuidOf('bench', callId));
  const item = (await doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
  if (!item) throw new Error('the call the floors copy was not stored');
  return item;
}

async function requestPaths(endpoint: string, sim: ApnsSimulator, secret: string) {
  const stack = await stackOn(endpoint, sim, secret, false);
  const pbx = new PbxClient(stack.url, 'bench', secret);
  const app = new AppClient(stack.url);
  const t = token();
  await pbx.putDevice('u', 'd', device(t));
  // The same user, with 1000 blocked callers (none of them this caller) and Do Not Disturb off.
  await pbx.putDevice('s', 'd', device(token()));
  await pbx.putSettings('s', {
    blockedCallers: Array.from({ length: 1000 }, (_, i) => `+1555${String(i).padStart(7, '0')}`),
    doNotDisturb: { enabled: false, allowedCallers: ['+15551230000'] },
  });
  const doc = documentClient({ endpoint });
  const callItem = await storedCall(pbx, doc, stack.tableName, 'u');
  const floors = await startFloors({ doc, table: stack.tableName, sim, pushToken: t, callItem });

  const callIds: string[] = [];
  const ring = (userId: string, keep: boolean) => async (i: number) => {
    const callId = `${randomUUID()}@bench`;
    if (keep && i >= 0) callIds[i] = callId;
    const r = await pbx.ring({ callId, from: { number: '+15551230000', displayName: 'Bench' }, to: { userId } });
    if (r.status !== 201 || r.body.status !== 'ringing')
      throw new Error(`ring failed: ${r.status} ${JSON.stringify(r.body)}`);
  };
  const [ringPlain, ringFloor, ringWithSettings, ringSettingsFloor] = await interleaved(N, WARMUP, [
    ring('u', true),
    (i) => floors.ring(i),
    ring('s', false),
    (i) => floors.ring(i, 's'),
  ]);

  const tokens = callIds.map(
    (id) =>
      (
        sim.pushesFor(t).find((p) => (p.payload as { callwake: { callId: string } }).callwake.callId === id)!
          .payload as {
          callwake: { token: string };
        }
      ).callwake.token,
  );
  let w = 0;
  const act = (action: 'confirm' | 'answer') => async (i: number) => {
    const k = i >= 0 ? i : w++ % N;
    const r = await app[action](callIds[k]!, tokens[k]!);
    if (r.status !== 200 && i >= 0) throw new Error(`${action} failed: ${r.status}`);
  };
  const [confirm, updateFloor, answer, decideFloor] = await interleaved(N, WARMUP, [
    act('confirm'),
    (i) => floors.update(i),
    act('answer'),
    (i) => floors.decide(i),
  ]);

  // Fan-out: APNs takes 20 ms a push; 20 devices are pushed at once, so cost what one does.
  const one = token();
  const twenty = Array.from({ length: 20 }, token);
  for (const tk of [one, ...twenty]) sim.injectFault({ token: tk, delayMs: 20, times: 1_000_000 });
  await pbx.putDevice('f1', 'd', device(one));
  for (const [i, tk] of twenty.entries()) await pbx.putDevice('f20', `d${i}`, device(tk));
  const [fanOne, fanTwenty] = await interleaved(Math.ceil(N / 2), 10, [ring('f1', false), ring('f20', false)]);
  sim.clearFaults();

  await floors.close();
  doc.destroy();
  await stack.stop();
  return {
    ringPlain,
    ringWithSettings,
    ringFloor,
    ringSettingsFloor,
    confirm,
    answer,
    updateFloor,
    decideFloor,
    fanOne,
    fanTwenty,
  };
}

async function loopBack(endpoint: string, sim: ApnsSimulator, secret: string) {
  const stack = await stackOn(endpoint, sim, secret, true);
  const pbx = new PbxClient(stack.url, 'bench', secret);
  const app = new AppClient(stack.url);
  const doc = documentClient({ endpoint });
  await pbx.putDevice('floor', 'd', device(token()));
  const callItem = await storedCall(pbx, doc, stack.tableName, 'floor');
  const floors = await startFloors({ doc, table: stack.tableName, sim, pushToken: token(), callItem });
  const wakes = await measureWakes({ n: WAKE_N, pbx, app, sim, floors, tenantSecret: secret, newToken: token });

  // A missed call's alert: from the cancel's answer to the alert reaching APNs.
  const missed: number[] = [];
  for (let i = 0; i < WAKE_N; i++) {
    const [voip, alert] = [token(), token()];
    await pbx.putDevice(`m${i}`, 'd', device(voip, { alertPushToken: alert }));
    const callId = `${randomUUID()}@bench`;
    await pbx.ring({ callId, from: { number: '+15551230000' }, to: { userId: `m${i}` } });
    await sim.waitForPush(voip);
    const r = await pbx.cancel(callId);
    const answeredAt = Date.now();
    if (r.status !== 200) throw new Error('cancel failed');
    const push = await sim.waitForPush(alert, 5000);
    missed.push(push.at - answeredAt);
  }
  await floors.close();
  doc.destroy();
  await stack.stop();
  return { ...wakes, missed };
}

async function main() {
  const dynamo = process.env.DYNAMODB_ENDPOINT ? undefined : await startDynamoLocal();
  const endpoint = process.env.DYNAMODB_ENDPOINT ?? dynamo!.endpoint;
  const sim = await ApnsSimulator.start();
  const secret = randomBytes(32).toString('hex');
  try {
    const p = await requestPaths(endpoint, sim, secret);
    const l = await loopBack(endpoint, sim, secret);
    const bundles = await measureBundles();

    console.log(
      `callwake bench: ${N} sequential requests per path after ${WARMUP} warm-up, interleaved with their floors;` +
        ' DynamoDB Local and the APNs simulator on loopback\n',
    );
    console.log('request paths (floor: the I/O the path cannot avoid, plus one loopback HTTP exchange):');
    console.log(
      row('ring (POST /calls)', p.ringPlain, p.ringFloor, [
        { max: 1.15, at: 50 },
        { max: 1.5, at: 99 },
      ]),
    );
    console.log(row('ring, 1000 blocked callers', p.ringWithSettings, p.ringSettingsFloor, [{ max: 1.15, at: 50 }]));
    console.log(row('confirm (app)', p.confirm, p.updateFloor, [{ max: 1.15, at: 50 }]));
    console.log(row('answer (app)', p.answer, p.decideFloor, [{ max: 1.15, at: 50 }]));
    console.log(row('ring to 20 devices (20 ms APNs)', p.fanTwenty, p.fanOne, [{ max: 1.3, at: 50 }]));
    console.log('  (its floor: the same ring to one device)');
    console.log(
      '\nfloors: ring = (GetItem || 2 counter UpdateItems) + PutItem of the call + 1 APNs request + UpdateItem' +
        ' (ALL_NEW) + HTTP (the blocked-callers row reads that user); confirm / answer = the UpdateItem each makes (ALL_NEW)' +
        ' + HTTP; on copies of a call the stack stored;' +
        ' each percentile against the same percentile of its floor',
    );

    console.log(`\nthe loop back (${WAKE_N} calls each; from the change's answer; events path running):`);
    console.log(delayRow('decline -> waiting PBX GET', l.declineToPbxWaiter, l.floor, 300));
    console.log(delayRow('cancel -> waiting app GET', l.cancelToAppWaiter, l.floor, 300));
    console.log(delayRow('cancel -> its callback', l.changeToCallback, l.floor, 1000));
    console.log(delayRow('cancel -> missed-call alert', l.missed, l.floor, 2000));
    console.log(
      'floor: one consistent GetItem + HTTP. Waiters read every 100 ms; the local stream is read every 50 ms.',
    );

    console.log('\nbundles (as the CDK builds them) and their import time in a fresh process (median of 5):');
    for (const b of bundles) {
      const kb = b.bytes / 1024;
      console.log(
        `${b.name.padEnd(12)} ${kb.toFixed(0).padStart(5)} KB ${kb <= 250 ? '<= 250 KB ok' : `> 250 KB MISSED by ${(kb - 250).toFixed(0)} KB`}   import ${b.importMs.toFixed(1)} ms`,
      );
    }
  } finally {
    await sim.stop();
    await dynamo?.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
