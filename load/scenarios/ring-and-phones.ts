/** Ring; phones confirm, then one answers, several race, one declines, or nobody acts; the PBX follows up. */
import { cancelOp, inOrder, phones, type Role, sentDevices } from '../actors.js';
import type { CallModel, Op } from '../model.js';
import { phase } from '../phase.js';
import { ring } from '../ring.js';
import { typicalPlan } from '../ring-plan.js';
import { chance, pick, rand, shuffle, weighted } from '../util.js';
import type { Worker } from '../worker.js';

export async function ringAndPhones(wk: Worker) {
  const m = await ring(wk, typicalPlan(wk), 'ring-and-phones');
  if (!m) return;
  const sent = shuffle(sentDevices(m));
  const roles = new Map<string, Role>();
  const outcome = weighted([
    [35, 'answer'],
    [20, 'answer-race'],
    [8, 'answer-decline-race'],
    [14, 'decline'],
    [15, 'nobody'],
  ] as const);
  if (sent.length) {
    if (outcome === 'answer') roles.set(sent[0]!.deviceId, 'answer');
    if (outcome === 'decline') roles.set(sent[0]!.deviceId, 'decline');
    if (outcome === 'answer-race')
      for (const d of sent.slice(0, Math.max(2, rand(sent.length) + 1))) roles.set(d.deviceId, 'answer');
    if (outcome === 'answer-decline-race')
      for (const d of sent) roles.set(d.deviceId, chance(0.5) ? 'answer' : 'decline');
  }
  const dones = await phase(wk, m, 'phones', phones(m, roles));
  if (outcome === 'answer-race' || outcome === 'answer-decline-race') {
    const winners = dones.filter((d) => (d.op.kind === 'answer' || d.op.kind === 'decline') && d.status === 200);
    const contenders = dones.filter((d) => d.op.kind === 'answer' || d.op.kind === 'decline').length;
    const live = m.expiresAtMs > Math.max(...dones.map((d) => d.te));
    if (contenders > 1) wk.w.rec.tick(`race: ${contenders} devices answering/declining at once`);
    if (contenders > 1 && live && winners.length !== 1)
      wk.w.rec.error(
        'unexpected',
        `${m.label} ${m.callId}`,
        `${contenders} devices raced to answer/decline, ${winners.length} won`,
      );
  }
  await followUp(wk, m);
}

/** What a PBX and phones do after the ringing decided something. */
async function followUp(wk: Worker, m: CallModel) {
  const s = m.state;
  const ops: Op[] = [];
  if (chance(0.5)) ops.push({ kind: 'pbxView' });
  if (s.status === 'answered' && chance(0.35)) {
    // The answering phone never connected over SIP, or the caller hung up first.
    ops.push(chance(0.5) ? { kind: 'cancel', reason: 'error' } : cancelOp());
    ops.push({ kind: 'appView', deviceId: s.answeredBy! });
  }
  if (s.answeredBy && chance(0.15)) ops.push({ kind: 'answer', deviceId: s.answeredBy });
  const losers = sentDevices(m).filter((d) => d.deviceId !== s.answeredBy && d.deviceId !== s.declinedBy);
  if (losers.length && s.status !== 'ringing' && chance(0.2))
    ops.push({ kind: pick(['answer', 'decline'] as const), deviceId: pick(losers).deviceId });
  if (s.status !== 'ringing' && chance(0.1)) ops.push(cancelOp());
  if (ops.length) await phase(wk, m, 'follow-up', [inOrder(ops)]);
}
