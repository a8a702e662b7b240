/** Injected faults: matched in the order injected, each used `times` times. */
import type { Fault } from './types.js';

export class FaultQueue {
  private entries: Array<{ fault: Fault; remaining: number }> = [];

  add(fault: Fault): void {
    const times = fault.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error('Fault.times must be a positive integer');
    this.entries.push({ fault: { ...fault }, remaining: times });
  }

  /** The first fault that applies to this device token, consumed once; undefined when none. */
  take(token: string): Fault | undefined {
    const wanted = token.toLowerCase();
    const index = this.entries.findIndex(
      (entry) => entry.fault.token === undefined || entry.fault.token.toLowerCase() === wanted,
    );
    if (index < 0) return undefined;
    const entry = this.entries[index]!;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.entries.splice(index, 1);
    return entry.fault;
  }

  get size(): number {
    return this.entries.length;
  }

  clear(): void {
    this.entries = [];
  }
}
