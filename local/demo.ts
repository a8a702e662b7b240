import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AppClient, PbxClient, type Reply } from './clients.js';
import { SESSION_FILE } from './session.js';

/**
 * `npm run demo`: against a running `npm start`, play a PBX and a phone through a whole call:
 * register a device, ring it, receive the push, confirm, show the caller-ID the app would show,
 * cancel, and watch the app learn `remoteEnded`. Each step prints how long it took.
 */
function settings() {
  if (process.env.CALLWAKE_URL && process.env.CALLWAKE_TENANT && process.env.CALLWAKE_SECRET) {
    return {
      url: process.env.CALLWAKE_URL,
      tenantId: process.env.CALLWAKE_TENANT,
      secret: process.env.CALLWAKE_SECRET,
    };
  }
  try {
    return JSON.parse(readFileSync(SESSION_FILE, 'utf8')) as { url: string; tenantId: string; secret: string };
  } catch {
    throw new Error(
      `No running callwake found: start it with \`npm start\` (it writes ${SESSION_FILE}), or set CALLWAKE_URL, CALLWAKE_TENANT and CALLWAKE_SECRET.`,
    );
  }
}

const step = (n: number, what: string, r: Reply, extra = '') =>
  console.log(
    `${String(n).padStart(2)}. ${what.padEnd(44)} ${String(r.status).padEnd(4)} ${r.ms.toFixed(1).padStart(7)} ms ${extra}`,
  );

function expectStatus(r: Reply, ...ok: number[]) {
  if (!ok.includes(r.status)) {
    console.error(`unexpected ${r.status}:`, JSON.stringify(r.body, null, 2));
    process.exit(1);
  }
}

async function main() {
  const { url, tenantId, secret } = settings();
  const pbx = new PbxClient(url, tenantId, secret);
  const phone = new AppClient(url);
  const pushToken = randomBytes(32).toString('hex');
  const callId = `${randomUUID()}@pbx.example.com`;
  console.log(`callwake demo against ${url} (tenant ${tenantId})\n`);

  const put = await pbx.putDevice('alice', 'alice-iphone', {
    platform: 'ios',
    pushToken,
    bundleId: 'com.example.phone',
    environment: 'sandbox',
  });
  expectStatus(put, 200, 201);
  step(1, 'PBX registers alice-iphone for alice', put);

  const ring = await pbx.ring({
    callId,
    from: { number: '+15551230000', displayName: 'Bob Smith', uri: 'sip:bob@example.com' },
    to: { userId: 'alice' },
    ringTimeoutSeconds: 30,
  });
  expectStatus(ring, 201);
  step(
    2,
    'PBX: a call for alice (webhook)',
    ring,
    `status=${ring.body.status} delivery=${ring.body.deliveries[0]?.result}`,
  );

  const started = performance.now();
  let push:
    | { payload: { callwake: { token: string; callUuid: string; caller: { number?: string; displayName?: string } } } }
    | undefined;
  while (!push && performance.now() - started < 5000) {
    const res = await fetch(`${url}/_local/apns/pushes?token=${pushToken}`);
    if (res.status !== 200)
      throw new Error(
        'This server sends pushes to a real APNs, so the demo cannot play the phone: run `npm start` without APNS_HOST or an Apple key.',
      );
    push = ((await res.json()) as { pushes: (typeof push)[] }).pushes.find((p) => p !== undefined);
    if (!push) await new Promise((r) => setTimeout(r, 20));
  }
  if (!push) throw new Error('The phone never got its push.');
  const cw = push.payload.callwake;
  console.log(
    `    phone: VoIP push arrived; CallKit shows "${cw.caller.displayName}" (${cw.caller.number}), uuid ${cw.callUuid}`,
  );

  const confirm = await phone.confirm(callId, cw.token);
  expectStatus(confirm, 200);
  step(3, 'phone confirms (is the call still there?)', confirm, `status=${confirm.body.status}`);
  console.log(
    `    phone: caller-ID from the app view: ${confirm.body.caller.displayName} <${confirm.body.caller.number}> ${confirm.body.caller.uri}`,
  );

  const cancel = await pbx.cancel(callId, 'caller_hangup');
  expectStatus(cancel, 200);
  step(
    4,
    'PBX: the caller hung up (cancel)',
    cancel,
    `status=${cancel.body.status} endReason=${cancel.body.endReason}`,
  );

  const view = await phone.view(callId, cw.token);
  expectStatus(view, 200);
  step(5, 'phone asks again', view, `status=${view.body.status} endReason=${view.body.endReason}`);
  console.log(`    phone: reportCall(with: ${cw.callUuid}, endedAt: now, reason: .${view.body.endReason})`);

  const pbxView = await pbx.view(callId);
  step(
    6,
    'PBX view of the call',
    pbxView,
    `status=${pbxView.body.status} confirmedAt=${pbxView.body.devices[0]?.confirmedAt}`,
  );
  if (view.body.status !== 'ended' || view.body.endReason !== 'remoteEnded') process.exit(1);
  console.log('\nThe phone stopped ringing as soon as the caller hung up.');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
