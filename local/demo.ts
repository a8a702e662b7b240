import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CallbackReceiver } from './callback-receiver.js';
import { AppClient, PbxClient, type Reply } from './clients.js';
import { SESSION_FILE } from './session.js';

/**
 * `npm run demo`: against a running `npm start`, play a PBX and a phone through a whole call:
 * the PBX listens for its signed callbacks, registers a device and rings it; the phone receives
 * the push, confirms, shows the caller-ID, and waits on its view (no polling); the caller hangs
 * up, and the waiting phone learns `remoteEnded` while the PBX receives each event. Each step
 * prints how long it took.
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

  // The PBX's side of the loop: a receiver that verifies each callback's signature.
  const receiver = await CallbackReceiver.start({ secrets: (t) => (t === tenantId ? [secret] : undefined) });
  const hook = await pbx.putWebhook({ url: `${receiver.url}/callwake` });
  expectStatus(hook, 200);
  step(0, 'PBX listens for its events (webhook)', hook, `${receiver.url}/callwake`);

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

  // The phone waits on its view while it rings: it is told the moment anything changes.
  const etag = confirm.headers.get('etag') ?? undefined;
  const waiting = phone
    .view(callId, cw.token, { ...(etag ? { etag } : {}), waitSeconds: 20 })
    .then((r) => ({ ...r, at: performance.now() }));
  console.log('    phone: waits on its view (If-None-Match + Prefer: wait=20) while CallKit rings');
  await new Promise((r) => setTimeout(r, 1000));

  const cancel = await pbx.cancel(callId, 'caller_hangup');
  const cancelledAt = performance.now();
  expectStatus(cancel, 200);
  step(
    4,
    'PBX: the caller hung up (cancel)',
    cancel,
    `status=${cancel.body.status} endReason=${cancel.body.endReason}`,
  );

  const view = await waiting;
  expectStatus(view, 200);
  step(
    5,
    'the waiting phone is told',
    view,
    `status=${view.body.status} endReason=${view.body.endReason}, ${(view.at - cancelledAt).toFixed(0)} ms after the cancel`,
  );
  console.log(`    phone: reportCall(with: ${cw.callUuid}, endedAt: now, reason: .${view.body.endReason})`);

  const pbxView = await pbx.view(callId);
  step(
    6,
    'PBX view of the call',
    pbxView,
    `status=${pbxView.body.status} confirmedAt=${pbxView.body.devices[0]?.confirmedAt}`,
  );

  const events = await receiver
    .waitFor((c) => c.event.callId === callId && c.event.type === 'call.cancelled', 1, 5000)
    .then(() => receiver.received.filter((c) => c.event.callId === callId))
    .catch(() => receiver.received.filter((c) => c.event.callId === callId));
  console.log('\n    PBX received, signed:');
  for (const c of events.sort((a, b) => (a.event.sequence ?? 0) - (b.event.sequence ?? 0))) {
    const after = c.at - Date.parse(c.event.occurredAt);
    console.log(
      `      #${c.event.sequence} ${c.event.type.padEnd(16)} signature ${c.signature}, ${after} ms after the change`,
    );
  }
  await pbx.deleteWebhook();
  await receiver.stop();
  const allSigned = events.length >= 3 && events.every((c) => c.signature === 'ok');
  if (view.body.status !== 'ended' || view.body.endReason !== 'remoteEnded' || !allSigned) process.exit(1);
  console.log('\nThe phone stopped ringing as soon as the caller hung up, and the PBX was told each step.');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
