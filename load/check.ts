/**
 * The final check, after the load: every call the run made is read back (the PBX view, and each
 * woken device's app view) and judged against the generator's model; every push is accounted for;
 * every refused create must have written nothing; every user's registry must be what the model says.
 */
import { type CallModel, type Done, linearize, type Op } from './model.js';
import { checkRegistry } from './registry.js';
import { brief } from './util.js';
import { problemCode } from './wire.js';
import type { Worker } from './worker.js';
import { EP, send, type World } from './world.js';

async function pool<T>(items: readonly T[], concurrency: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function checkCall(w: World, m: CallModel) {
  const where = `${m.label} ${m.callId}`;
  const pbx = m.tenantId === w.tenantA ? w.pbxA[0]! : w.pbxB;
  const exec = async (op: Op): Promise<Done> => {
    const res =
      op.kind === 'pbxView'
        ? await send(w, EP.pbxView, `check ${where}`, () => pbx.view(m.callId))
        : await send(w, EP.appView, `check ${where} ${'deviceId' in op ? op.deviceId : ''}`, () =>
            w.app.view(m.callId, m.devices.find((d) => 'deviceId' in op && d.deviceId === op.deviceId)!.callToken!),
          );
    return { op, ts: res.ts, te: res.te, status: res.status, body: res.body };
  };
  const ops: Op[] = [{ kind: 'pbxView' }];
  if (!m.tainted) for (const d of m.devices) if (d.callToken) ops.push({ kind: 'appView', deviceId: d.deviceId });
  const dones = await Promise.all(ops.map(exec));
  const view = dones[0]!;
  if (view.status === 404) {
    w.rec.error('lost', where, `${m.tombstone ? 'tombstone' : 'accepted call'} not found: ${brief(view.body, 200)}`);
    return;
  }
  if (m.tainted) return;
  if (dones.some((d) => d.status >= 500 || d.status === 0)) return; // already reported as 5xx
  const r = linearize(m, m.state, dones);
  if (!r.ok) w.rec.error('wrong-state', where, r.why);
}

/** Each sent device got exactly one accepted push for the call (never pushed again); failed ones none. */
function checkPushes(w: World, m: CallModel) {
  if (m.tombstone) return;
  for (const d of m.devices) {
    const accepted = w.pushes.accepted(d.token, m.callUuid);
    const payloads = new Set(accepted.map((p) => p.body));
    if (d.expected.result === 'sent' && (accepted.length !== 1 || payloads.size !== 1)) {
      const counted = `${accepted.length} pushes (${payloads.size} distinct payloads)`;
      w.rec.error(
        'push',
        `${m.label} ${m.callId}`,
        `${d.deviceId}: APNs accepted ${counted} for this call, expected exactly 1`,
      );
    }
    if (d.expected.result === 'failed' && accepted.length !== 0) {
      w.rec.error(
        'push',
        `${m.label} ${m.callId}`,
        `${d.deviceId}: delivery ${d.expected.reason ?? 'failed'} but APNs accepted ${accepted.length} pushes`,
      );
    }
  }
}

export async function finalCheck(w: World, workers: Worker[], concurrency: number) {
  await pool(w.calls, concurrency, async (m) => {
    checkPushes(w, m);
    await checkCall(w, m);
  });
  await pool(w.rejected, concurrency, async (r) => {
    const pbx = r.tenantId === w.tenantA ? w.pbxA[0]! : w.pbxB;
    const res = await send(w, EP.pbxView, `check refused ${r.callId}`, () => pbx.view(r.callId));
    if (res.status !== 404 || problemCode(res.body) !== 'call_not_found') {
      w.rec.error(
        'wrong-state',
        r.label,
        `a refused request left call ${r.callId} behind: ${res.status} ${brief(res.body, 300)}`,
      );
    }
  });
  const users = workers.flatMap((wk) => [...wk.users.keys()].map((u) => [wk, u] as const));
  await pool(users, concurrency, ([wk, u]) => checkRegistry(wk, u, `check registry ${u}`));
}
