/** Time is a port: tests move it instead of sleeping. */
export interface Clock {
  now(): number; // epoch milliseconds
}

export const systemClock: Clock = { now: () => Date.now() };

export const iso = (epochMs: number): string => new Date(epochMs).toISOString();
