/**
 * APNs misbehaves for some devices: passing errors (retried), dead tokens (pruned), no answer at
 * all, or no device reachable. Every fault is scoped to a token of this worker's.
 */
import { cancelOp, firstAnswers, phones } from '../actors.js';
import { BUNDLE, OTHER_TEAM } from '../apps.js';
import { phase } from '../phase.js';
import { addDevice, checkRegistry, MAX_REGISTERED, type RegisteredDevice, userWithDevices } from '../registry.js';
import { ring } from '../ring.js';
import { inlineDevices, pickTimeout, planRing, type RingPlan } from '../ring-plan.js';
import { between, chance, pick, weighted } from '../util.js';
import type { Worker } from '../worker.js';

export async function apnsFaults(wk: Worker) {
  const kind = weighted([
    [5, 'transient'],
    [4, 'permanent'],
    [1, 'timeout'],
    [2, 'unreachable'],
  ] as const);
  const label = `apns-faults ${kind}`;
  let p: RingPlan;
  let refillUser: string | undefined;
  if (kind === 'transient' || kind === 'permanent') {
    const userId = userWithDevices(wk);
    const r = pick([...wk.users.get(userId)!.values()]);
    if (kind === 'transient') passingFault(wk, r);
    else {
      deadToken(wk, r);
      refillUser = userId;
    }
    p = planRing(wk, { userId, timeout: pickTimeout() });
  } else if (kind === 'timeout') p = unansweredInline(wk);
  else p = unreachableCall(wk);
  const m = await ring(wk, p, label);
  if (refillUser) {
    // The registry dropped the dead device in the same request; the user gets a working phone again.
    await checkRegistry(wk, refillUser, `w${wk.id} ${label}: after prune`);
    if (wk.users.get(refillUser)!.size < MAX_REGISTERED) await addDevice(wk, refillUser, label);
  }
  if (!m) return;
  await phase(wk, m, 'phones', phones(m, firstAnswers(m)));
  await phase(wk, m, 'pbx', [
    async (ex) => {
      await ex({ kind: 'pbxView' });
      if (chance(0.5)) await ex(cancelOp());
    },
  ]);
}

/** One failed attempt that the pusher must retry to `sent`. */
function passingFault(wk: Worker, r: RegisteredDevice) {
  const fault = pick([
    { status: 503, reason: 'ServiceUnavailable' },
    { status: 500, reason: 'InternalServerError' },
    { status: 429, reason: 'TooManyRequests', retryAfterSeconds: 1 },
    { resetStream: true },
    { goaway: true },
    // One attempt unanswered past the per-attempt timeout: retried on the same deadline.
    { delayMs: wk.w.pushDeadlineMs + 800 },
  ]);
  wk.w.sim.injectFault({ token: r.token, ...fault, times: 1 });
  wk.w.rec.tick(`APNs fault, retried: ${Object.keys(fault).join('+')}${fault.status ? ` ${fault.status}` : ''}`);
}

/** A token APNs refuses for good: the push fails with Apple's reason and the registry drops the device. */
function deadToken(wk: Worker, r: RegisteredDevice) {
  const how = pick(['unregistered', 'bad-token', 'not-for-topic'] as const);
  if (how === 'unregistered') {
    wk.w.sim.markUnregistered(r.token);
    wk.deliveries.markDead(r.token);
  } else if (how === 'bad-token') {
    // A token neither environment knows: a registered device's BadDeviceToken is tried once in the
    // other environment (a debug build's token registered as production), so both refuse it.
    wk.w.sim.injectFault({ token: r.token, status: 400, reason: 'BadDeviceToken', times: 2 });
    wk.deliveries.expectOnNextRing(r.token, { result: 'failed', reason: 'BadDeviceToken', permanent: true });
  } else {
    wk.w.sim.bindTopic(r.token, 'com.example.elsewhere.voip');
    wk.deliveries.markDead(r.token);
    wk.deliveries.expectOnNextRing(r.token, { result: 'failed', reason: 'DeviceTokenNotForTopic', permanent: true });
  }
  wk.w.rec.tick(`APNs fault, device pruned: ${how}`);
}

/** APNs never answers one inline device within the push deadline. */
function unansweredInline(wk: Worker): RingPlan {
  const inline = inlineDevices(wk, 1).map((d) => ({ ...d, pnParam: `${wk.w.team}.${BUNDLE}.voip` }));
  const token = inline[0]!.pnPrid.toLowerCase();
  // Every attempt (the pusher retries an unanswered one within the deadline) is held back.
  wk.w.sim.injectFault({ token, delayMs: wk.w.pushDeadlineMs + 800, times: 50 });
  wk.deliveries.expectOnNextRing(token, { result: 'failed', reason: 'Timeout' });
  wk.w.rec.tick('APNs fault: no answer within the push deadline');
  return chance(0.5)
    ? planRing(wk, { userId: userWithDevices(wk), inline, timeout: pickTimeout() })
    : planRing(wk, { inline, timeout: pickTimeout() });
}

/** Nothing reachable: unregistered inline tokens and unknown teams. The PBX answers 480 at once. */
function unreachableCall(wk: Worker): RingPlan {
  const inline = inlineDevices(wk, between(1, 3)).map((d) => ({
    ...d,
    pnParam: chance(0.3) ? `${OTHER_TEAM}.${BUNDLE}.voip` : d.pnParam,
  }));
  for (const d of inline) {
    wk.w.sim.markUnregistered(d.pnPrid);
    wk.deliveries.markDead(d.pnPrid);
  }
  const p = planRing(wk, { inline, timeout: pickTimeout() });
  wk.w.rec.tick('APNs fault: no device reachable (unreachable call)');
  return p;
}
