import { type Call, type CallDevice, type Caller, type CreateAnswer, createAnswerOf, slotName } from './call.js';
import { callIdHashOf, mintCallToken } from './call-token.js';
import { hashOfJson } from './canonical-json.js';
import { CallAlreadyEndedError, CallIdConflictError } from './errors.js';
import { callUuidOf, fingerprint } from './ids.js';
import type { Deps, PushOutcome } from './ports.js';
import { buildPushPayload, MAX_DISPLAY_NAME_CODE_POINTS, shortenCodePoints } from './push-payload.js';
import { type InlineDevice, resolveTargets, type Target, topicOf } from './targets.js';

export interface RingRequest {
  callId: string;
  from: Caller;
  to?: { userId?: string };
  devices: InlineDevice[];
  ringTimeoutSeconds: number;
  hasVideo: boolean;
  metadata: Record<string, string>;
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
 * 1. Find the targets: the user's registered devices and the inline ones, each token once.
 * 2. Store the call with a conditional write; a known callId is answered from what is stored
 *    (410 cancelled, 200 same body without pushing again, 409 another body).
 * 3. Push every target concurrently, each with its own call token, until the push deadline.
 * 4. Record the results (no push accepted: `unreachable`) and prune dead registry tokens.
 */
export async function ringCall(deps: Deps, tenantId: string, req: RingRequest, apiUrl: string): Promise<RingResult> {
  const now = deps.clock.now();
  const callUuid = callUuidOf(tenantId, req.callId);
  const requestHash = hashOfJson(req);
  const userId = req.to?.userId;
  const registered = userId === undefined ? [] : await deps.devices.list(tenantId, userId);
  const targets = resolveTargets(userId, registered, req.devices, deps.defaultEnvironment);

  const teams = new Set(deps.pusher.teams);
  const call: Call = {
    tenantId,
    callId: req.callId,
    callUuid,
    status: 'ringing',
    tombstone: false,
    createdAt: now,
    expiresAt: now + req.ringTimeoutSeconds * 1000,
    lifetimeEnd: now + req.ringTimeoutSeconds * 1000 + CALL_GRACE_MS,
    requestHash,
    caller: shortenedCaller(req.from),
    ...(userId === undefined ? {} : { userId }),
    hasVideo: req.hasVideo,
    metadata: req.metadata,
    devices: Object.fromEntries(
      targets.map((t, i): [string, CallDevice] => [
        slotName(i),
        teams.has(t.teamId)
          ? { deviceId: t.deviceId, pushType: t.pushType, delivery: 'pending' }
          : { deviceId: t.deviceId, pushType: t.pushType, delivery: 'failed', reason: 'UnknownTeam' },
      ]),
    ),
  };

  const stored = await deps.calls.create(call);
  if (!stored.created) return { created: false, answer: await answerToRetry(deps, stored.existing, requestHash) };

  // The push deadline is operational time (the PBX is waiting), not the call's clock.
  const deadline = deps.timer.now() + Math.min(deps.pushDeadlineMs, call.expiresAt - now);
  const outcomes = await Promise.all(
    targets.map((t, i) => (teams.has(t.teamId) ? pushOne(deps, call, t, i, apiUrl, deadline) : undefined)),
  );

  const results: Record<string, Pick<CallDevice, 'delivery' | 'reason' | 'apnsId'>> = {};
  outcomes.forEach((o, i) => {
    if (o === undefined) return;
    results[slotName(i)] =
      o.result === 'sent' ? { delivery: 'sent', apnsId: o.apnsId } : { delivery: 'failed', reason: o.reason };
  });
  const anySent = outcomes.some((o) => o?.result === 'sent');
  const [recorded] = await Promise.all([
    deps.calls.recordDeliveries(callUuid, results, anySent ? 'ringing' : 'unreachable', deps.clock.now()),
    pruneDeadTokens(deps, call, targets, outcomes),
  ]);
  deps.log.info('call rang', {
    callUuid,
    targets: targets.length,
    sent: outcomes.filter((o) => o?.result === 'sent').length,
  });
  const final = recorded ?? { ...call, answerStatus: anySent ? 'ringing' : 'unreachable' };
  return { created: true, answer: createAnswerOf(withResults(final, results)) };
}

function shortenedCaller(from: Caller): Caller {
  return {
    ...from,
    ...(from.displayName === undefined
      ? {}
      : { displayName: shortenCodePoints(from.displayName, MAX_DISPLAY_NAME_CODE_POINTS) }),
  };
}

async function pushOne(
  deps: Deps,
  call: Call,
  t: Target,
  index: number,
  apiUrl: string,
  deadline: number,
): Promise<PushOutcome> {
  const token = mintCallToken(deps.tokenKeys().current, {
    callUuid: call.callUuid,
    callIdHash: callIdHashOf(call.callId),
    slot: index,
    lifetimeEnd: call.lifetimeEnd,
  });
  const payload = buildPushPayload(t.pushType, { call, token, apiUrl, sentAt: deps.clock.now() });
  return deps.pusher.send(
    {
      pushToken: t.pushToken,
      teamId: t.teamId,
      environment: t.environment,
      pushType: t.pushType,
      topic: topicOf(t),
      // VoIP: now or never (a late ring is a ghost call). Alert: until the call stops ringing.
      expiration: t.pushType === 'voip' ? 0 : Math.floor(call.expiresAt / 1000),
      ...(t.pushType === 'alert' ? { collapseId: call.callUuid } : {}),
      payload,
    },
    deadline,
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
function withResults(call: Call, results: Record<string, Pick<CallDevice, 'delivery' | 'reason' | 'apnsId'>>): Call {
  const devices = { ...call.devices };
  for (const [slot, r] of Object.entries(results)) {
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
