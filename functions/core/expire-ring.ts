import type { Clock, Timer } from './clock.js';
import { causeOf } from './ids.js';
import type { CallStore, Log, Metrics } from './ports.js';

export interface RingTimerDeps {
  calls: CallStore;
  clock: Clock;
  timer: Timer;
  log: Log;
  metrics?: Metrics;
}

/**
 * A ring timer fired: at the call's ring end, mark it expired if it still rings. The mark is the
 * table change its `call.expired` event comes from. The timer may fire a little early (a queue
 * delivers to the second): it then waits for the exact end, unless the call has already ended,
 * as most have by then (answered, declined, cancelled): one read instead of a billed wait.
 */
export async function expireRing(deps: RingTimerDeps, callUuid: string, expiresAt: number): Promise<boolean> {
  const early = expiresAt - deps.clock.now();
  if (early > 0) {
    if (!(await stillRinging(deps, callUuid))) return false;
    await deps.timer.sleep(expiresAt - deps.clock.now());
  }
  const marked = await deps.calls.markExpired(callUuid, Math.max(deps.clock.now(), expiresAt));
  if (marked) {
    deps.log.info('call expired', { callUuid });
    deps.metrics?.count('Expiries');
  }
  return marked;
}

/** A read that fails only costs the wait it would have saved: the timer then waits and writes. */
async function stillRinging(deps: RingTimerDeps, callUuid: string): Promise<boolean> {
  try {
    return await deps.calls.isRinging(callUuid);
  } catch (e) {
    deps.log.warn('ring timer could not read its call; it waits for the ring end', { callUuid, cause: causeOf(e) });
    return true;
  }
}
