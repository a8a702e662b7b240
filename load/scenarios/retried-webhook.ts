/**
 * The PBX retries its webhook: later, at the same time as the first, or spelled differently; or
 * reuses a callId with another body.
 */
import { cancelOp, firstAnswers, inOrder, phones, sentDevices } from '../actors.js';
import type { Op } from '../model.js';
import { phase } from '../phase.js';
import { adoptCreated, ring } from '../ring.js';
import { type RingPlan, typicalPlan } from '../ring-plan.js';
import { between, brief, chance, deepEqual, rand, sleep, weighted } from '../util.js';
import { problemCode } from '../wire.js';
import type { Worker } from '../worker.js';
import { EP, send } from '../world.js';

export async function retriedWebhook(wk: Worker) {
  const variant = weighted([
    [4, 'sequential'],
    [4, 'concurrent'],
    [2, 'conflict'],
    [1, 'after-cancel'],
  ] as const);
  const p = typicalPlan(wk);
  if (variant === 'concurrent') return concurrentCreates(wk, p);
  const m = await ring(wk, p, `retried-webhook ${variant}`);
  if (!m) return;
  const ops: Op[] = [];
  if (variant === 'sequential') ops.push({ kind: 'ringSame', alike: chance(0.4) });
  if (variant === 'conflict') ops.push({ kind: 'ringConflict' });
  if (variant === 'after-cancel') ops.push(cancelOp(), { kind: 'ringSame' }, { kind: 'ringConflict' });
  await phase(wk, m, 'retry', [inOrder(ops)]);
  // Whatever the call's state, the same body gets the stored answer (and pushes nothing again).
  const roles = new Map(
    sentDevices(m)
      .slice(0, 1)
      .map((d) => [d.deviceId, chance(0.5) ? 'answer' : 'decline'] as const),
  );
  await phase(wk, m, 'phones', phones(m, roles));
  await phase(wk, m, 'retry-later', [inOrder([{ kind: 'ringSame', alike: chance(0.5) }])]);
}

/** Two or three identical creates at once (a PBX that timed out and retried at once). */
async function concurrentCreates(wk: Worker, p: RingPlan) {
  const w = wk.w;
  const where = `w${wk.id} retried-webhook concurrent ${p.body.callId}`;
  const n = between(2, 3);
  w.rec.tick(`retry: ${n} identical creates at once`);
  w.rings += 1;
  const pbx = wk.pbx();
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      sleep(i === 0 ? 0 : rand(30)).then(() => send(w, EP.ring, where, () => pbx.ring(p.body))),
    ),
  );
  wk.deliveries.ringSent();
  for (const r of replies)
    if (r.ms > w.pushDeadlineMs + 1500) w.rec.error('slow-ring', where, `answered after ${r.ms.toFixed(0)} ms`);
  const created = replies.filter((r) => r.status === 201);
  const others = replies.filter((r) => r.status !== 201);
  if (created.length !== 1 || others.some((r) => r.status !== 200)) {
    const got = replies.map((r) => `${r.status}${problemCode(r.body) ? ` ${problemCode(r.body)}` : ''}`);
    w.rec.error(
      'unexpected',
      where,
      `identical concurrent creates answered ${got.join(', ')}; expected one 201 and the rest 200`,
    );
  }
  const first = created[0] ?? replies.find((r) => r.status === 200);
  if (!first) return;
  for (const r of replies)
    if (r !== first && (r.status === 200 || r.status === 201) && !deepEqual(r.body, first.body))
      w.rec.error(
        'retry-mismatch',
        where,
        `answers differ:\n      ${brief(first.body, 500)}\n      ${brief(r.body, 500)}`,
      );
  const m = adoptCreated(wk, p, first, 'retried-webhook concurrent', where, w.tenantA);
  await phase(wk, m, 'phones', phones(m, firstAnswers(m)));
  await phase(wk, m, 'retry-again', [inOrder([{ kind: 'ringSame', alike: chance(0.5) }])]);
}
