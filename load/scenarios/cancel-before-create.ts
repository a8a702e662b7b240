/** The caller hung up before the create arrived (a tombstone), or while it was still being pushed. */
import { firstAnswers, phones } from '../actors.js';
import { CANCEL_REASONS, type CallModel, type CancelReason, checkPbxView, END_REASON_OF } from '../model.js';
import { phase } from '../phase.js';
import { adoptCreated } from '../ring.js';
import { typicalPlan } from '../ring-plan.js';
import { between, brief, callUuidOf, chance, pick, rand, sleep } from '../util.js';
import { membersOf, problemCode } from '../wire.js';
import type { Worker } from '../worker.js';
import { EP, expectStatus, send } from '../world.js';

export async function cancelBeforeCreate(wk: Worker) {
  const w = wk.w;
  const p = typicalPlan(wk, between(11, 300));
  const callId = p.body.callId;
  const where = `w${wk.id} cancel-before-create ${callId}`;
  const reason = pick(CANCEL_REASONS);
  const cancelPath = `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`;
  if (chance(0.5)) {
    const c = await send(w, EP.cancel, where, () => wk.pbx().send('POST', cancelPath, { reason }));
    const m = tombstone(wk, callId, reason);
    if (expectStatus(w, c, `${where}: cancel unknown call`, 200)) {
      const why = checkPbxView(m, m.state, false, c.body);
      if (why) w.rec.error('unexpected', `${where}: cancel unknown call`, why);
    }
    w.calls.push(m);
    w.rings++;
    const r = await send(w, EP.ring, where, () => wk.pbx().ring(p.body));
    wk.deliveries.ringSent();
    w.rec.tick('cancel before create, then the create (410)');
    expectStatus(w, r, `${where}: create after cancel`, 410, 'call_ended');
    return;
  }
  // Create and cancel at the same time: either the call exists and is cancelled, or the create finds the tombstone.
  w.rings++;
  const pbx = wk.pbx();
  const [r, c] = await Promise.all([
    send(w, EP.ring, where, () => pbx.ring(p.body)),
    sleep(rand(20)).then(() => send(w, EP.cancel, where, () => pbx.send('POST', cancelPath, { reason }))),
  ]);
  wk.deliveries.ringSent();
  w.rec.tick(`cancel racing create: create got ${r.status}`);
  if (!expectStatus(w, c, `${where}: cancel racing create`, 200)) return;
  if (r.status === 410 && problemCode(r.body) === 'call_ended') {
    const m = tombstone(wk, callId, reason);
    const why = checkPbxView(m, m.state, false, c.body);
    if (why) w.rec.error('unexpected', `${where}: cancel racing create (create got 410)`, why);
    w.calls.push(m);
    return;
  }
  if (!expectStatus(w, r, `${where}: create racing cancel`, 201)) return;
  // The cancel landed while the call rang (maybe while its pushes were still in flight: the
  // answer still says what was pushed), or after a create that reached no device had already
  // ended the call as unreachable, which a cancel leaves alone.
  const m = adoptCreated(wk, p, r, 'cancel-before-create (race)', where, w.tenantA);
  const cancelled = membersOf(c.body);
  const sawUnreachable = cancelled?.status === 'unreachable' && m.state.status === 'unreachable';
  if (!sawUnreachable) {
    if (cancelled?.status !== 'cancelled' || cancelled?.endReason !== END_REASON_OF[reason])
      w.rec.error('unexpected', `${where}: cancel racing create`, `view ${brief(c.body)}`);
    m.state = { ...m.state, status: 'cancelled', endReason: END_REASON_OF[reason] };
  }
  await phase(wk, m, 'late phones', phones(m, firstAnswers(m)));
}

/** What a cancel for an unknown callId leaves: a cancelled call that never rang. */
function tombstone(wk: Worker, callId: string, reason: CancelReason): CallModel {
  return {
    tenantId: wk.w.tenantA,
    callId,
    callUuid: callUuidOf(wk.w.tenantA, callId),
    label: `w${wk.id} cancel-before-create`,
    tombstone: true,
    expiresAtMs: 0,
    caller: { number: null, displayName: null, uri: null },
    hasVideo: false,
    metadata: {},
    devices: [],
    state: {
      status: 'cancelled',
      endReason: END_REASON_OF[reason],
      answeredBy: null,
      declinedBy: null,
      confirmed: [],
    },
  };
}
