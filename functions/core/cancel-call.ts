import { type Call, type CancelReason, END_REASON_OF_CANCEL, type PbxView, pbxViewOf } from './call.js';
import { CallNotFoundError } from './errors.js';
import { callUuidOf } from './ids.js';
import type { Deps } from './ports.js';
import { TOMBSTONE_LIFETIME_MS } from './ring-call.js';

/**
 * The caller hung up, or the call ended elsewhere.
 * 1. A ringing or answered call becomes cancelled with the reason's endReason (conditional write).
 * 2. A call that already ended keeps its state.
 * 3. An unknown callId gets a cancelled tombstone, so a create that arrives late gets 410.
 *    If a create wins the race for the key, start over: it is now a call to cancel.
 */
export async function cancelCall(deps: Deps, tenantId: string, callId: string, reason: CancelReason): Promise<PbxView> {
  const callUuid = callUuidOf(tenantId, callId);
  const endReason = END_REASON_OF_CANCEL[reason];
  for (;;) {
    const now = deps.clock.now();
    const result = await deps.calls.cancel(callUuid, endReason, now);
    if (result.outcome !== 'absent') {
      if (result.outcome === 'changed') {
        deps.log.info('call cancelled', { callUuid, endReason });
        deps.metrics?.count('Cancels', 1, { tenant: tenantId, reason: endReason });
      }
      return pbxViewOf(result.call, now);
    }
    const tombstone: Call = {
      tenantId,
      callId,
      callUuid,
      status: 'cancelled',
      tombstone: true,
      endReason,
      createdAt: now,
      expiresAt: now,
      lifetimeEnd: now + TOMBSTONE_LIFETIME_MS,
      caller: {},
      hasVideo: false,
      devices: {},
      endedAt: now,
    };
    if (await deps.calls.putTombstone(tombstone)) {
      deps.log.info('call tombstoned', { callUuid, endReason });
      return pbxViewOf(tombstone, now);
    }
  }
}

/** The PBX view: 404 when unknown or past its lifetime. */
export async function viewCall(deps: Deps, tenantId: string, callId: string): Promise<PbxView> {
  const call = await deps.calls.get(callUuidOf(tenantId, callId));
  if (!call || call.tenantId !== tenantId || call.callId !== callId) throw new CallNotFoundError();
  return pbxViewOf(call, deps.clock.now());
}
