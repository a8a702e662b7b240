import {
  type ApnsEnvironment,
  type Call,
  type CallDevice,
  type Caller,
  type CreateAnswer,
  createAnswerOf,
  slotName,
} from './call.js';
import { callIdHashOf, mintCallToken } from './call-token.js';
import { hashOfJson } from './canonical-json.js';
import { CallAlreadyEndedError, CallIdConflictError } from './errors.js';
import { callUuidOf, fingerprint } from './ids.js';
import { admitRequest, RateLimitedError, takeRingingSlot } from './limits.js';
import type { DeliveryResult, Deps, PushOutcome, RegisteredDevice } from './ports.js';
import { buildPushPayload, MAX_DISPLAY_NAME_CODE_POINTS, shortenCodePoints } from './push-payload.js';
import { rejectionOf } from './settings.js';
import { alertTargetOf, type InlineDevice, registeredTarget, resolveTargets, type Target, topicOf } from './targets.js';
import { type AppRef, appAllowed, type TenantLimits } from './tenants.js';

export interface RingRequest {
  callId: string;
  from: Caller;
  to?: { userId?: string };
  devices: InlineDevice[];
  ringTimeoutSeconds: number;
  hasVideo: boolean;
  metadata: Record<string, string>;
  /** false: the pushes carry no caller; the app learns it from confirm. */
  callerInPush: boolean;
}

/** A call lives for its ring timeout plus this, so a late push still learns the truth. */
export const CALL_GRACE_MS = 60 * 60 * 1000;
export const TOMBSTONE_LIFETIME_MS = 60 * 60 * 1000;
/** How often a retried create looks whether the first attempt has recorded its pushes. */
const RETRY_WAIT_POLL_MS = 50;

export interface RingResult {
  created: boolean;
  answer: CreateAnswer;
}

/**
 * A call arrived for a push-woken user.
 * 1. One read of the user: the registered devices and the call settings. A blocked caller, or
 *    Do Not Disturb, stores the call as `rejected` and pushes nothing.
 * 2. Find the targets: the user's registered devices and the inline ones, each token once.
 * 3. Store the call with a conditional write; a known callId is answered from what is stored
 *    (410 cancelled, 200 same body without pushing again, 409 another body).
 * 4. Push every target concurrently, each with its own call token, until the push deadline. A
 *    registered device's token that APNs calls bad is tried once in the other environment.
 * 5. Record the results (no push accepted: `unreachable`), prune dead registry tokens and correct
 *    the environment of tokens found in the other one.
 */
export async function ringCall(
  deps: Deps,
  tenantId: string,
  req: RingRequest,
  apiUrl: string,
  /** What the tenant may push to (absent: every configured app) and how much (absent: no limit). */
  tenant: { apps?: readonly AppRef[]; limits?: TenantLimits } = {},
): Promise<RingResult> {
  const now = deps.clock.now();
  const callUuid = callUuidOf(tenantId, req.callId);
  const requestHash = hashOfJson(req);
  const userId = req.to?.userId;
  const { apps, limits } = tenant;
  // The limits are counted alongside the user's read: they cost the webhook no round trip.
  const [read, admitted, slot] = await Promise.allSettled([
    userId === undefined ? undefined : deps.devices.lookup(tenantId, userId),
    limits && admitRequest(deps, tenantId, limits),
    limits && takeRingingSlot(deps, tenantId, limits),
  ]);
  const holdsSlot = slot.status === 'fulfilled' && slot.value === true;
  const giveBackSlot = async () => {
    if (holdsSlot) await deps.limits?.stopRinging(tenantId);
  };
  const failed = [read, admitted, slot].find((r) => r.status === 'rejected');
  if (failed) {
    await giveBackSlot();
    // A retry of a call already stored is not a new ringing call: it keeps its stored answer
    // (200, 409, 410) even while the tenant is at its ringing limit.
    const existing =
      failed === slot && slot.reason instanceof RateLimitedError ? await deps.calls.get(callUuid) : undefined;
    if (existing) return { created: false, answer: await answerToRetry(deps, existing, requestHash) };
    throw failed.reason;
  }
  const user = read.status === 'fulfilled' ? read.value : undefined;
  const registered = user?.devices ?? [];
  const base = {
    tenantId,
    callId: req.callId,
    callUuid,
    tombstone: false,
    createdAt: now,
    expiresAt: now + req.ringTimeoutSeconds * 1000,
    lifetimeEnd: now + req.ringTimeoutSeconds * 1000 + CALL_GRACE_MS,
    requestHash,
    caller: shortenedCaller(req.from),
    ...(userId === undefined ? {} : { userId }),
    hasVideo: req.hasVideo,
    metadata: req.metadata,
    ...(req.callerInPush === false ? { callerInPush: false } : {}),
    ...(user?.settings.missedCallPush === false ? { missedCallPush: false } : {}),
  };

  const rejection = user && rejectionOf(user.settings, req.from, now);
  if (rejection) {
    await giveBackSlot();
    const allowed = registered.filter((d) => appAllowed(apps, d.teamId, d.bundleId));
    return rejectCall(deps, { ...base, status: 'rejected', rejectReason: rejection, devices: {} }, allowed);
  }

  const targets = resolveTargets(userId, registered, req.devices, deps.defaultEnvironment);
  const teams = new Set(deps.pusher.teams);
  // A tenant bound to its apps pushes to those alone, and learns nothing of other teams.
  const refusal = (t: Target): string | undefined =>
    !appAllowed(apps, t.teamId, t.bundleId) ? 'AppNotAllowed' : !teams.has(t.teamId) ? 'UnknownTeam' : undefined;
  const call: Call = {
    ...base,
    status: 'ringing',
    ...(holdsSlot ? { countsRinging: true } : {}),
    devices: Object.fromEntries(
      targets.map((t, i): [string, CallDevice] => {
        const alert = alertTargetOf(t);
        const device = { deviceId: t.deviceId, pushType: t.pushType, ...(alert ? { alert } : {}) };
        const reason = refusal(t);
        return [slotName(i), reason ? { ...device, delivery: 'failed', reason } : { ...device, delivery: 'pending' }];
      }),
    ),
  };

  const stored = await deps.calls.create(call).catch(async (e: unknown) => {
    await giveBackSlot();
    throw e;
  });
  if (!stored.created) {
    await giveBackSlot();
    return { created: false, answer: await answerToRetry(deps, stored.existing, requestHash) };
  }

  // The push deadline is operational time (the PBX is waiting), not the call's clock.
  const deadline = deps.timer.now() + Math.min(deps.pushDeadlineMs, call.expiresAt - now);
  const attempts = await Promise.all(
    targets.map((t, i) => (refusal(t) ? undefined : pushOne(deps, call, t, i, apiUrl, deadline))),
  );
  const outcomes = attempts.map((a) => a?.outcome);

  const results: Record<string, DeliveryResult> = {};
  outcomes.forEach((o, i) => {
    if (o === undefined) return;
    results[slotName(i)] =
      o.result === 'sent' ? { delivery: 'sent', apnsId: o.apnsId } : { delivery: 'failed', reason: o.reason };
    // The device's alerts at the call's end go where its token was found (a debug build: sandbox).
    const foundIn = attempts[i]?.foundIn;
    if (foundIn && call.devices[slotName(i)]?.alert) results[slotName(i)]!.alertEnvironment = foundIn;
  });
  const anySent = outcomes.some((o) => o?.result === 'sent');
  const [recorded] = await Promise.all([
    deps.calls.recordDeliveries(callUuid, results, anySent ? 'ringing' : 'unreachable', deps.clock.now()),
    pruneDeadTokens(deps, call, targets, outcomes),
    correctEnvironments(deps, call, targets, attempts),
  ]);
  deps.log.info('call rang', {
    callUuid,
    targets: targets.length,
    sent: outcomes.filter((o) => o?.result === 'sent').length,
  });
  countPushes(deps, tenantId, results, anySent);
  const final = recorded ?? { ...call, answerStatus: anySent ? 'ringing' : 'unreachable' };
  return { created: true, answer: createAnswerOf(withResults(final, results)) };
}

function countPushes(deps: Deps, tenant: string, results: Record<string, DeliveryResult>, anySent: boolean) {
  const m = deps.metrics;
  if (!m) return;
  m.count('CallsCreated', 1, { tenant });
  m.count(anySent ? 'CallsRung' : 'CallsUnreachable', 1, { tenant });
  for (const r of Object.values(results)) {
    if (r.delivery === 'sent') m.count('PushesSent');
    else m.count('PushesFailed', 1, { reason: r.reason ?? 'Unknown' });
  }
}

/**
 * The user's settings refuse the call: it is stored (so a retry gets the same answer and the
 * PBX view shows why), nothing is pushed. A Do Not Disturb rejection keeps the user's
 * alert-capable devices on the call, for the passive missed-call alert the events path sends.
 */
async function rejectCall(deps: Deps, rejected: Call, registered: readonly RegisteredDevice[]): Promise<RingResult> {
  const passive =
    rejected.rejectReason === 'doNotDisturb' && rejected.missedCallPush !== false
      ? registered.flatMap((d) => alertTargetOf(registeredTarget(d, rejected.userId)) ?? [])
      : [];
  const call: Call = { ...rejected, ...(passive.length > 0 ? { passiveAlerts: passive } : {}) };
  const stored = await deps.calls.create(call);
  if (!stored.created) {
    return { created: false, answer: await answerToRetry(deps, stored.existing, call.requestHash!) };
  }
  deps.log.info('call rejected', { callUuid: call.callUuid, reason: call.rejectReason });
  deps.metrics?.count('CallsCreated', 1, { tenant: call.tenantId });
  deps.metrics?.count('CallsRejected', 1, {
    tenant: call.tenantId,
    ...(call.rejectReason ? { reason: call.rejectReason } : {}),
  });
  return { created: true, answer: createAnswerOf(call) };
}

function shortenedCaller(from: Caller): Caller {
  return {
    ...from,
    ...(from.displayName === undefined
      ? {}
      : { displayName: shortenCodePoints(from.displayName, MAX_DISPLAY_NAME_CODE_POINTS) }),
  };
}

interface Attempt {
  outcome: PushOutcome;
  /** The environment the token turned out to belong to, when not the one registered. */
  foundIn?: ApnsEnvironment;
}

const otherEnvironment = (e: ApnsEnvironment): ApnsEnvironment => (e === 'production' ? 'sandbox' : 'production');

/**
 * One device's push. A registered device whose token APNs calls `BadDeviceToken` is most often
 * a debug build's sandbox token registered as production (or the reverse): try the other
 * environment once, inside the same deadline, before calling the token dead.
 */
async function pushOne(
  deps: Deps,
  call: Call,
  t: Target,
  index: number,
  apiUrl: string,
  deadline: number,
): Promise<Attempt> {
  const token = mintCallToken(deps.tokenKeys().current, {
    callUuid: call.callUuid,
    callIdHash: callIdHashOf(call.callId),
    slot: index,
    lifetimeEnd: call.lifetimeEnd,
  });
  const payload = buildPushPayload(t.pushType, { call, token, apiUrl, sentAt: deps.clock.now() });
  const send = (environment: ApnsEnvironment) =>
    deps.pusher.send(
      {
        pushToken: t.pushToken,
        teamId: t.teamId,
        environment,
        pushType: t.pushType,
        topic: topicOf(t),
        // VoIP: now or never (a late ring is a ghost call). Alert: until the call stops ringing.
        expiration: t.pushType === 'voip' ? 0 : Math.floor(call.expiresAt / 1000),
        ...(t.pushType === 'alert' ? { collapseId: call.callUuid } : {}),
        payload,
      },
      deadline,
    );
  const started = deps.timer.now();
  const outcome = await send(t.environment);
  deps.metrics?.time('PushLatency', deps.timer.now() - started);
  if (outcome.result === 'sent' || outcome.reason !== 'BadDeviceToken' || t.registeredTo === undefined) {
    return { outcome };
  }
  const other = otherEnvironment(t.environment);
  const retried = await send(other);
  return retried.result === 'sent' ? { outcome: retried, foundIn: other } : { outcome: retried };
}

/** A token found in the other environment: the registry learns it, in this request. */
async function correctEnvironments(deps: Deps, call: Call, targets: Target[], attempts: (Attempt | undefined)[]) {
  await Promise.all(
    targets.map(async (t, i) => {
      const foundIn = attempts[i]?.foundIn;
      if (foundIn === undefined || t.registeredTo === undefined) return;
      try {
        await deps.devices.setEnvironment(call.tenantId, t.registeredTo, t.deviceId, t.pushToken, foundIn);
        deps.log.info('device environment corrected', { device: fingerprint(t.deviceId), environment: foundIn });
      } catch (e) {
        deps.log.warn('device environment correction failed; the next ring tries again', {
          device: fingerprint(t.deviceId),
          error: (e as Error)?.name,
        });
      }
    }),
  );
}

/** Best effort: the phones are already ringing, so a failed prune must not fail the webhook. */
async function pruneDeadTokens(deps: Deps, call: Call, targets: Target[], outcomes: (PushOutcome | undefined)[]) {
  await Promise.all(
    targets.map(async (t, i) => {
      const o = outcomes[i];
      if (t.registeredTo === undefined || o?.result !== 'failed' || !o.permanent) return;
      try {
        await deps.devices.prune(call.tenantId, t.registeredTo, t.deviceId, t.pushToken, {
          reason: o.reason,
          callId: call.callId,
          callUuid: call.callUuid,
          at: deps.clock.now(),
        });
        deps.log.info('device pruned', { device: fingerprint(t.deviceId), reason: o.reason });
      } catch (e) {
        deps.log.warn('device prune failed; the next ring tries again', {
          device: fingerprint(t.deviceId),
          error: (e as Error)?.name,
        });
      }
    }),
  );
}

/** The stored item may lag our own results if a cancel raced in; the answer shows what we know. */
function withResults(call: Call, results: Record<string, DeliveryResult>): Call {
  const devices = { ...call.devices };
  for (const [slot, { alertEnvironment: _alerts, ...r }] of Object.entries(results)) {
    const d = devices[slot];
    if (d && d.delivery === 'pending') devices[slot] = { ...d, ...r };
  }
  return { ...call, devices };
}

/**
 * A create for a known callId, in the contract's order: cancelled (or tombstone) 410; same body
 * 200 with the stored answer (waiting for an attempt still pushing); another body 409.
 */
async function answerToRetry(deps: Deps, existing: Call, requestHash: string): Promise<CreateAnswer> {
  if (existing.status === 'cancelled') throw new CallAlreadyEndedError();
  if (existing.requestHash !== requestHash) throw new CallIdConflictError();
  // A rejected call pushed nothing: its answer is final from the start.
  if (existing.status === 'rejected') return createAnswerOf(existing);
  let call = existing;
  const giveUpAt = deps.timer.now() + deps.pushDeadlineMs + 500;
  while (call.answerStatus === undefined && deps.timer.now() < giveUpAt) {
    await deps.timer.sleep(RETRY_WAIT_POLL_MS);
    const fresh = await deps.calls.get(call.callUuid);
    if (!fresh) break;
    call = fresh;
  }
  if (call.answerStatus === undefined) {
    // The first attempt died between storing the call and recording its pushes: settle it, so
    // the PBX stops waiting and any phone it did reach learns the call failed.
    const unsent = Object.fromEntries(
      Object.entries(call.devices)
        .filter(([, d]) => d.delivery === 'pending')
        .map(([slot]) => [slot, { delivery: 'failed' as const, reason: 'Timeout' }]),
    );
    call = (await deps.calls.recordDeliveries(call.callUuid, unsent, 'unreachable', deps.clock.now())) ?? call;
  }
  return createAnswerOf(call);
}
