import { type AppView, appViewOf, type Call, slotName, vanishedAppView } from './call.js';
import { type CallTokenClaims, callIdHashOf } from './call-token.js';
import { AppActionRefusedError, AppCallGoneError, TokenScopeError } from './errors.js';
import type { Deps, TransitionResult } from './ports.js';

export type AppAction = 'view' | 'confirm' | 'answer' | 'decline';

/**
 * What the woken app asks about its call. Every answer carries the app view, so the app
 * always learns how to end its CallKit call.
 * 1. The token must be for the path's callId (403), and the call within its lifetime (410).
 * 2. view: read. confirm: record this device's first confirmation, then read.
 *    answer / decline: a conditional write decides; the loser gets 409 with the view.
 */
export async function actOnCall(
  deps: Deps,
  claims: CallTokenClaims,
  callId: string,
  action: AppAction,
): Promise<AppView> {
  if (callIdHashOf(callId) !== claims.callIdHash) throw new TokenScopeError();
  const now = deps.clock.now();
  const gone = () => new AppCallGoneError(vanishedAppView(callId, claims.callUuid, now));
  if (claims.lifetimeEnd <= now) throw gone();
  const slot = slotName(claims.slot);
  const ours = (call: Call | undefined): call is Call =>
    call !== undefined && call.callId === callId && call.devices[slot] !== undefined && !call.tombstone;

  if (action === 'view' || action === 'confirm') {
    const call =
      action === 'view' ? await deps.calls.get(claims.callUuid) : await deps.calls.confirm(claims.callUuid, slot, now);
    if (!ours(call)) throw gone();
    // The first confirmation: how long the phone took from the push to asking us.
    if (action === 'confirm' && call.devices[slot]?.confirmedAt === now) {
      deps.metrics?.time('ConfirmDelay', now - (call.deliveredAt ?? call.createdAt), { tenant: call.tenantId });
    }
    return appViewOf(call, slot, now);
  }

  const result: TransitionResult =
    action === 'answer'
      ? await deps.calls.answer(claims.callUuid, slot, now)
      : await deps.calls.decline(claims.callUuid, slot, now);
  if (result.outcome === 'absent' || !ours(result.call)) throw gone();
  const view = appViewOf(result.call, slot, now);
  if (result.outcome === 'unchanged') {
    throw new AppActionRefusedError(view, action);
  }
  deps.log.info(action === 'answer' ? 'call answered' : 'call declined', { callUuid: claims.callUuid, slot });
  deps.metrics?.count(action === 'answer' ? 'Answers' : 'Declines', 1, { tenant: result.call.tenantId });
  return view;
}
