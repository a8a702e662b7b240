import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { DomainError } from './errors.js';
import type { Deps } from './ports.js';

/** A view as a client sees it now, with its tag, and when it changes by time alone. */
export interface Snapshot<V> {
  view: V;
  /** Changes whenever the view does; `serverTime` (the app view's clock reading) is not part of it. */
  tag: string;
  /** Call-clock time at which the view changes without any write: a ringing call's ring end. */
  turnsAt?: number;
}

/** The tag of a view: a hash of its canonical JSON, without the clock reading an app view carries. */
export function viewTag(view: object): string {
  const { serverTime: _serverTime, ...rest } = view as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(rest)).digest('base64url').slice(0, 27);
}

/** A ringing view turns by itself at its ring end (`expired` for the PBX, `ended` for the app). */
export function snapshotOf<V extends { status: string; expiresAt: string | null }>(view: V): Snapshot<V> {
  const turnsAt = view.status === 'ringing' && view.expiresAt !== null ? Date.parse(view.expiresAt) : undefined;
  return { view, tag: viewTag(view), ...(turnsAt === undefined ? {} : { turnsAt }) };
}

export interface WaitOutcome<V> {
  snapshot: Snapshot<V>;
  /** Whether the request was held at all (it was not when the view had already changed). */
  waited: boolean;
}

/**
 * Holds a request until its view is no longer one the client already has, or `waitMs` passes.
 * 1. Read: a view the client does not have is answered at once.
 * 2. Otherwise sleep until the next short read, or exactly until the view turns by time alone
 *    (the ring timeout), whichever comes first; read again.
 * 3. At the end of the wait, answer the last view read (still one the client has).
 * Waiting takes no lock and writes nothing. A read that fails while waiting is logged and the
 * wait goes on with the view last read, so a passing fault never turns a wait into an error;
 * a call that is gone ends the wait with the error a plain read would give.
 */
export async function awaitChange<V>(
  deps: Pick<Deps, 'clock' | 'timer' | 'log' | 'waitPollMs' | 'metrics'>,
  read: () => Promise<Snapshot<V>>,
  known: ReadonlySet<string>,
  waitMs: number,
): Promise<WaitOutcome<V>> {
  let snapshot = await read();
  if (!known.has(snapshot.tag) || waitMs <= 0) return { snapshot, waited: false };
  const deadline = deps.timer.now() + waitMs;
  for (;;) {
    const now = deps.timer.now();
    if (now >= deadline) {
      deps.metrics?.count('WaitsHeld', 1, { outcome: 'timedOut' });
      return { snapshot, waited: true };
    }
    const untilTurn = snapshot.turnsAt === undefined ? Infinity : snapshot.turnsAt - deps.clock.now();
    await deps.timer.sleep(Math.max(0, Math.min(deadline - now, deps.waitPollMs, untilTurn)));
    try {
      snapshot = await read();
    } catch (e) {
      // A domain error says something about the call (it is gone); anything else is a failing read.
      if (e instanceof DomainError) throw e;
      deps.log.warn('read failed while waiting; still waiting', { error: (e as Error)?.name });
      continue;
    }
    if (!known.has(snapshot.tag)) {
      deps.metrics?.count('WaitsHeld', 1, { outcome: 'woken' });
      return { snapshot, waited: true };
    }
  }
}
