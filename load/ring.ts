/**
 * Sending a create and taking its 201 answer into the model: the answer is checked against the
 * plan, each sent device's push is found (with the call token the phone will use), registry
 * devices APNs refused for good are dropped from the model, and the call is remembered.
 */
import type { PbxClient } from '../local/clients.js';
import type { CallModel, DeviceModel } from './model.js';
import type { RingPlan, Target } from './ring-plan.js';
import { brief, callUuidOf, codePoints } from './util.js';
import { type Caller, type CreateAnswer, callwakeOf, type Delivery } from './wire.js';
import type { Worker } from './worker.js';
import { EP, expectStatus, type Res, send } from './world.js';

export async function ring(
  wk: Worker,
  p: RingPlan,
  label: string,
  pbx: PbxClient = wk.pbx(),
  tenantId = wk.w.tenantA,
): Promise<CallModel | undefined> {
  const w = wk.w;
  w.rings++;
  const where = `w${wk.id} ${label} ring ${p.body.callId}`;
  const res = await send(w, EP.ring, where, () => pbx.ring(p.body));
  wk.deliveries.ringSent();
  if (res.ms > w.pushDeadlineMs + 1000)
    w.rec.error(
      'slow-ring',
      where,
      `answered after ${res.ms.toFixed(0)} ms (push deadline ${w.pushDeadlineMs} ms + 1 s)`,
    );
  if (!expectStatus(w, res, where, 201)) {
    if (res.status === 400) w.rejected.push({ tenantId, callId: p.body.callId, label: where });
    return undefined;
  }
  return adoptCreated(wk, p, res, label, where, tenantId);
}

/** Takes a 201 answer into the model (see the module comment). */
export function adoptCreated(
  wk: Worker,
  p: RingPlan,
  res: Res,
  label: string,
  where: string,
  tenantId: string,
): CallModel {
  const a = res.body as CreateAnswer;
  const callUuid = callUuidOf(tenantId, p.body.callId);
  const problems: string[] = [];
  const anySent = p.targets.some((t) => t.expected.result === 'sent');
  const timeout = p.body.ringTimeoutSeconds ?? 60;
  if (a.callId !== p.body.callId) problems.push(`callId ${a.callId}`);
  if (a.callUuid !== callUuid) problems.push(`callUuid ${a.callUuid}, expected ${callUuid}`);
  if (a.status !== (anySent ? 'ringing' : 'unreachable'))
    problems.push(`status ${a.status}, expected ${anySent ? 'ringing' : 'unreachable'}`);
  if (Date.parse(a.expiresAt) - Date.parse(a.createdAt) !== timeout * 1000)
    problems.push(`expiresAt ${a.expiresAt} is not createdAt ${a.createdAt} + ${timeout} s`);
  const got = new Map((Array.isArray(a.deliveries) ? a.deliveries : []).map((d) => [d.deviceId, d]));
  if (got.size !== p.targets.length) problems.push(`${got.size} deliveries for ${p.targets.length} targets`);
  const devices: DeviceModel[] = [];
  for (const t of p.targets) {
    const d = got.get(t.deviceId);
    if (!d) {
      problems.push(`no delivery for ${t.deviceId}`);
      continue;
    }
    const okResult =
      d.result === t.expected.result && (t.expected.reason === undefined || d.reason === t.expected.reason);
    if (!okResult) problems.push(unexpectedDelivery(wk, t, d, callUuid));
    if (d.pushType !== t.pushType) problems.push(`${t.deviceId}: pushType ${d.pushType}, expected ${t.pushType}`);
    if (d.result === 'sent' && typeof d.apnsId !== 'string') problems.push(`${t.deviceId}: sent without apnsId`);
    // The model follows what the service said, so one wrong delivery is reported once, here.
    const dm: DeviceModel = {
      deviceId: t.deviceId,
      token: t.token,
      pushType: t.pushType,
      expected: { result: d.result, ...(d.reason ? { reason: d.reason } : {}) },
      registered: t.registeredTo !== undefined,
    };
    if (d.result === 'sent') dm.callToken = checkPush(wk, where, t, p, a, callUuid);
    if (t.registeredTo && d.result === 'failed' && t.expected.permanent)
      wk.users.get(t.registeredTo)?.delete(t.deviceId);
    devices.push(dm);
  }
  if (problems.length)
    wk.w.rec.error('unexpected', where, `201 answer: ${problems.join('; ')}; answer ${brief(a, 600)}`);
  const unreachable = a.status === 'unreachable';
  const m: CallModel = {
    tenantId,
    callId: p.body.callId,
    callUuid,
    label: `w${wk.id} ${label}`,
    tombstone: false,
    ringBody: p.body,
    answer: a,
    createdAt: a.createdAt,
    expiresAtMs: Date.parse(a.expiresAt),
    caller: callerShown(p.body.from),
    hasVideo: p.body.hasVideo ?? false,
    metadata: p.body.metadata ?? {},
    devices,
    state: {
      status: unreachable ? 'unreachable' : 'ringing',
      endReason: unreachable ? 'failed' : null,
      answeredBy: null,
      declinedBy: null,
      confirmed: [],
    },
  };
  wk.remember(m);
  return m;
}

/** What the app must be shown of the caller: absent members as null, the name cut to 256 code points. */
const callerShown = (from: Caller): CallModel['caller'] => ({
  number: from.number ?? null,
  displayName: from.displayName === undefined ? null : codePoints(from.displayName, 256),
  uri: from.uri ?? null,
});

/** Why a delivery result is not the one planned, with what APNs actually saw. */
function unexpectedDelivery(wk: Worker, t: Target, d: Delivery, callUuid: string): string {
  const history = wk.w.pushes
    .all(t.token, callUuid)
    .map((h) => `${h.status}${h.reason ? ` ${h.reason}` : ''}${h.fault ? ` (fault ${JSON.stringify(h.fault)})` : ''}`);
  const expected = `${t.expected.result}${t.expected.reason ? ` ${t.expected.reason}` : ''}`;
  const got = `${d.result}${d.reason ? ` ${d.reason}` : ''}`;
  return `${t.deviceId}: ${got}, expected ${expected} (APNs saw: ${history.join(', ') || 'nothing'})`;
}

/** Checks the push APNs accepted for a sent device; returns the call token it carried. */
function checkPush(
  wk: Worker,
  where: string,
  t: Target,
  p: RingPlan,
  a: CreateAnswer,
  callUuid: string,
): string | undefined {
  const push = wk.w.pushes.accepted(t.token, callUuid)[0];
  if (!push) {
    wk.w.rec.error('push', where, `${t.deviceId}: delivery sent but APNs accepted no push for it`);
    return undefined;
  }
  const cw = callwakeOf(push.payload);
  const bad: string[] = [];
  if (push.headers['apns-push-type'] !== t.pushType) bad.push(`apns-push-type ${push.headers['apns-push-type']}`);
  if (cw?.callId !== p.body.callId) bad.push(`callId ${cw?.callId}`);
  if (cw?.expiresAt !== Date.parse(a.expiresAt)) bad.push(`expiresAt ${cw?.expiresAt}, view says ${a.expiresAt}`);
  if (typeof cw?.token !== 'string' || cw.token.length > 200) bad.push(`token ${brief(cw?.token, 40)}`);
  if (bad.length) wk.w.rec.error('push', where, `${t.deviceId}: push ${bad.join('; ')}`);
  return typeof cw?.token === 'string' ? cw.token : undefined;
}
