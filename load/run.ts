/**
 * `npm run load`: the real handlers on a loopback port (DynamoDB Local unless DYNAMODB_ENDPOINT
 * is set, the APNs simulator), driven for a bounded time by concurrent virtual PBX/app workers,
 * then every call the run made is checked against the generator's own model.
 *
 *   LOAD_SECONDS      how long workers start new scenarios (default 60)
 *   LOAD_CONCURRENCY  virtual workers (default 32)
 *   LOAD_MAX_RINGS    stop starting scenarios after this many creates (default 100000)
 *   DYNAMODB_ENDPOINT an already running DynamoDB (loopback only)
 *
 * Exits 1 on any 5xx, any lost or wrong state, or any other error it reports.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { silentLog } from '../functions/core/ports.js';
import { ApnsSimulator } from '../local/apns-simulator/index.js';
import { AppClient, PbxClient } from '../local/clients.js';
import { type RunningDynamo, startDynamoLocal } from '../local/dynamo-local.js';
import { SIMULATOR_TEAM_ID, startStack } from '../local/stack.js';
import { finalCheck } from './check.js';
import { PushIndex } from './push-index.js';
import { type ErrorKind, Recorder } from './recorder.js';
import { Worker } from './worker.js';
import type { World } from './world.js';

const int = (name: string, dflt: number, min: number, max: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, not ${raw}`);
  return n;
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
/** Grace for scenarios running at the end (a push timeout is ~6 s, a ring-timeout wait ~6 s). */
const DRAIN_MS = 60_000;
const PUSH_DEADLINE_MS = 5000;
const FINAL_CHECK_READS = "every call's PBX view and each woken device's app view, every push, every registry";

let dynamo: RunningDynamo | undefined;
let sim: ApnsSimulator | undefined;
const stopAll = async () => {
  await sim?.stop();
  await dynamo?.stop();
};

async function main() {
  const seconds = int('LOAD_SECONDS', 60, 1, 3600);
  const concurrency = int('LOAD_CONCURRENCY', 32, 1, 1000);
  const maxRings = int('LOAD_MAX_RINGS', 100_000, 1, 10_000_000);
  const endpointEnv = process.env.DYNAMODB_ENDPOINT;
  if (endpointEnv && !LOOPBACK.has(new URL(endpointEnv).hostname)) {
    throw new Error(`DYNAMODB_ENDPOINT ${endpointEnv} is not on loopback: the load run only targets this machine`);
  }

  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)));

  dynamo = endpointEnv ? undefined : await startDynamoLocal();
  const dynamoEndpoint = endpointEnv ?? dynamo!.endpoint;
  sim = await ApnsSimulator.start();
  const tenantA = 'acme-load';
  const tenantB = 'globex-load';
  const secretsA = [randomBytes(24).toString('hex'), randomBytes(24).toString('hex')];
  const secretB = randomBytes(24).toString('hex');
  const table = `callwake-load-${randomUUID()}`;
  const stack = await startStack({
    host: '127.0.0.1',
    port: 0,
    tenants: new Map([
      [tenantA, secretsA],
      [tenantB, [secretB]],
    ]),
    dynamoEndpoint,
    tableName: table,
    apns: { kind: 'simulator', simulator: sim },
    defaultEnvironment: 'production',
    pushDeadlineMs: PUSH_DEADLINE_MS,
    log: silentLog,
    // The load measures callwake under many PBXs' traffic, not the per-tenant limits.
    tenantLimits: { requestsPerSecond: 1_000_000, ringingCalls: 1_000_000 },
  });
  if (!LOOPBACK.has(new URL(stack.url).hostname)) throw new Error(`the stack is not on loopback: ${stack.url}`);

  const rec = new Recorder();
  const w: World = {
    url: stack.url,
    tenantA,
    pbxA: secretsA.map((s) => new PbxClient(stack.url, tenantA, s)),
    tenantB,
    pbxB: new PbxClient(stack.url, tenantB, secretB),
    app: new AppClient(stack.url),
    sim,
    pushes: new PushIndex(sim),
    rec,
    calls: [],
    rejected: [],
    team: SIMULATOR_TEAM_ID,
    pushDeadlineMs: PUSH_DEADLINE_MS,
    endAt: 0,
    maxRings,
    rings: 0,
  };
  const backends = `DynamoDB ${dynamo ? 'Local, in memory' : dynamoEndpoint}, APNs simulator ${sim.address}`;
  console.log(`callwake load: ${concurrency} workers for ${seconds} s against ${stack.url} (${backends})`);

  // Setup (not measured): every worker registers its users' first devices.
  rec.setPhase('setup');
  const workers = Array.from({ length: concurrency }, (_, i) => new Worker(w, i));
  await Promise.all(workers.map((wk) => wk.setup()));
  const setupErrors = rec.errors.length ? `, ${rec.errors.length} errors` : '';
  const users = concurrency * workers[0]!.users.size;
  console.log(`  setup: ${rec.count('setup')} devices registered for ${users} users${setupErrors}`);

  rec.setPhase('load');
  const started = Date.now();
  w.endAt = started + seconds * 1000;
  let drained = false;
  const done = Promise.all(workers.map((wk) => wk.run())).then(() => (drained = true));
  const ticker = setInterval(() => {
    const s = ((Date.now() - started) / 1000).toFixed(0);
    console.log(`  ${s} s: ${rec.count('load')} requests, ${w.rings} creates, ${rec.errors.length} errors`);
  }, 10_000);
  await Promise.race([done, new Promise((r) => setTimeout(r, seconds * 1000 + DRAIN_MS))]);
  clearInterval(ticker);
  const loadMs = Date.now() - started;
  if (!drained) {
    rec.error(
      'generator',
      'run',
      `workers still busy ${DRAIN_MS / 1000} s after the end; their scenarios are not checked`,
    );
    console.log(report(w, rec, concurrency, seconds, loadMs, 0, 0));
    await stopAll();
    process.exit(1);
  }

  rec.setPhase('check');
  const checkStarted = Date.now();
  await finalCheck(w, workers, concurrency);
  const checkMs = Date.now() - checkStarted;

  console.log(report(w, rec, concurrency, seconds, loadMs, checkMs, sim.received.length));
  await stack.stop();
  await stopAll();
  process.exit(rec.errors.length === 0 ? 0 : 1);
}

function report(
  w: World,
  rec: Recorder,
  concurrency: number,
  seconds: number,
  loadMs: number,
  checkMs: number,
  pushes: number,
): string {
  const out: string[] = [];
  const load = rec.count('load');
  const lastFinished = `${(loadMs / 1000).toFixed(1)} s until the last one finished`;
  out.push('', `Load: ${concurrency} workers, ${seconds} s of new scenarios, ${lastFinished}`);
  out.push(
    `${load} requests, ${(load / (loadMs / 1000)).toFixed(1)} req/s; ${w.rings} creates; ${pushes} requests to APNs`,
    '',
  );
  out.push(rec.table('load', loadMs / 1000), '');

  const tally = new Map<string, number>();
  for (const m of w.calls) {
    const k = m.tainted
      ? 'unknown (after an error)'
      : m.tombstone
        ? 'tombstone (cancelled before create)'
        : m.state.status === 'ringing' && m.expiresAtMs <= Date.now()
          ? 'expired'
          : m.state.status;
    tally.set(k, (tally.get(k) ?? 0) + 1);
  }
  const answeredThenCancelled = w.calls.filter(
    (m) => !m.tainted && m.state.status === 'cancelled' && m.state.answeredBy,
  ).length;
  out.push('What the run exercised:');
  for (const [k, n] of [...rec.ticks].sort((a, b) => a[0].localeCompare(b[0])))
    out.push(`  ${String(n).padStart(6)}  ${k}`);
  out.push(
    `  ${String(answeredThenCancelled).padStart(6)}  calls answered, then cancelled by the PBX (answeredBy kept)`,
    '',
  );
  out.push(
    `Calls the run made: ${w.calls.length} (${[...tally]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}); ${w.rejected.length} refused creates/cancels`,
  );
  if (checkMs > 0) {
    out.push(
      `Final check: ${rec.count('check')} requests in ${(checkMs / 1000).toFixed(1)} s (${FINAL_CHECK_READS})`,
      '',
    );
    out.push(rec.table('check', checkMs / 1000), '');
  }

  if (rec.notes.length) out.push(`Notes (not errors): ${rec.notes.length}`, ...rec.notes.map((n) => `  ${n}`), '');
  const kinds: ErrorKind[] = [
    '5xx',
    'lost',
    'wrong-state',
    'unexpected',
    'retry-mismatch',
    'push',
    'slow-ring',
    'generator',
  ];
  const by = new Map<ErrorKind, number>();
  for (const e of rec.errors) by.set(e.kind, (by.get(e.kind) ?? 0) + 1);
  out.push(
    `Errors: ${rec.errors.length}${
      rec.errors.length
        ? ` (${kinds
            .filter((k) => by.get(k))
            .map((k) => `${k} ${by.get(k)}`)
            .join(', ')})`
        : ''
    }`,
  );
  for (const k of kinds)
    for (const e of rec.errors.filter((x) => x.kind === k)) out.push(`  [${e.kind}] ${e.where}\n    ${e.detail}`);
  const fives = by.get('5xx') ?? 0;
  const lostOrWrong = (by.get('lost') ?? 0) + (by.get('wrong-state') ?? 0);
  const others = rec.errors.length - fives - lostOrWrong;
  out.push(
    '',
    rec.errors.length === 0
      ? 'PASS: zero 5xx, zero lost or wrong states'
      : `FAIL: ${fives} 5xx, ${lostOrWrong} lost or wrong states, ${others} other errors`,
  );
  return out.join('\n');
}

main().catch(async (e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
