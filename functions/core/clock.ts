/** Time is a port: tests move it instead of sleeping. */
export interface Clock {
  now(): number; // epoch milliseconds
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Operational time: how long a request may hold its caller (the push deadline, a retried create
 * waiting for the first attempt). Kept apart from the call's clock, which tests move to age a
 * call; in-memory tests replace it to make waiting instant.
 */
export interface Timer {
  now(): number; // epoch milliseconds
  sleep(ms: number): Promise<void>;
}

export const realTimer: Timer = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export const iso = (epochMs: number): string => new Date(epochMs).toISOString();
