import type { Clock, Timer } from '../../../functions/core/clock.js';

/** 2030-01-01T00:00:00Z: a round start, so times in failure messages read easily. */
export const VIRTUAL_EPOCH = Date.UTC(2030, 0, 1);

/**
 * Virtual time for the in-memory tier: one timeline for both time ports, the call's Clock and the
 * operational Timer (they are one clock in production too, the machine's).
 *
 * `sleep` never waits for real. Sleepers wake one at a time, earliest wake-up first (ties in the
 * order they went to sleep), each only once every pending promise job has run, and the clock
 * jumps to that wake-up. So a push that "takes" two seconds and a retry polling every 50 ms
 * interleave exactly as they would in real time, in a few milliseconds of real time.
 * Real I/O (a DynamoDB adapter) is not waited for: with it, only code that sleeps while nothing
 * else sleeps keeps that exact order.
 */
export class VirtualClock implements Clock, Timer {
  private t: number;
  private readonly sleepers: { at: number; seq: number; wake: () => void }[] = [];
  private seq = 0;
  private stepQueued = false;

  constructor(start = VIRTUAL_EPOCH) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  /** Moves time forward, as when a test ages a call. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`time only moves forward (advance(${ms}))`);
    this.t += ms;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.sleepers.push({ at: this.t + Math.max(0, ms), seq: this.seq++, wake });
      this.queueStep();
    });
  }

  /** Sleepers not yet woken. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** setImmediate runs after every pending promise job: everything awake has settled by then. */
  private queueStep(): void {
    if (this.stepQueued) return;
    this.stepQueued = true;
    setImmediate(() => {
      this.stepQueued = false;
      this.sleepers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.sleepers.shift();
      if (!next) return;
      this.t = Math.max(this.t, next.at);
      next.wake();
      if (this.sleepers.length > 0) this.queueStep();
    });
  }
}
