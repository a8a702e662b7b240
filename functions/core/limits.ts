import type { Clock } from './clock.js';
import { DomainError } from './errors.js';
import type { TenantLimits } from './tenants.js';

/** Requests are counted in windows this long (a second's limit, averaged over them). */
export const REQUEST_WINDOW_SECONDS = 10;
/** How long a tenant at its ringing-calls limit is told to wait: a call ends within seconds. */
const RINGING_RETRY_AFTER_SECONDS = 2;

/** A tenant is over one of its limits: told how long to wait. */
export class RateLimitedError extends DomainError {
  constructor(
    readonly retryAfterSeconds: number,
    what: 'requests' | 'ringing calls',
  ) {
    super(`This tenant is over its limit of ${what}; retry after ${retryAfterSeconds} s.`);
  }
}

/** Per-tenant counters, shared by every container (the table), each change one conditional write. */
export interface LimitStore {
  /** Counts a request in its window; false when the window already holds `max`. */
  countRequest(tenantId: string, windowStartSeconds: number, max: number): Promise<boolean>;
  /** Takes one of the tenant's ringing slots; false when all `max` are taken. */
  startRinging(tenantId: string, max: number): Promise<boolean>;
  /** Gives back a slot taken for a call that was never stored as ringing (a retry, a rejection). */
  stopRinging(tenantId: string): Promise<void>;
  /** Gives back the slot of a stored call, once whatever calls it (its first end; a retried event). */
  endRinging(tenantId: string, callUuid: string): Promise<boolean>;
}

export interface LimitDeps {
  limits?: LimitStore;
  clock: Clock;
}

/** Counts one PBX request of the tenant; past its limit, RateLimitedError. */
export async function admitRequest(deps: LimitDeps, tenantId: string, limits: TenantLimits): Promise<void> {
  if (!deps.limits) return;
  const nowSeconds = Math.floor(deps.clock.now() / 1000);
  const windowStart = nowSeconds - (nowSeconds % REQUEST_WINDOW_SECONDS);
  const admitted = await deps.limits.countRequest(
    tenantId,
    windowStart,
    limits.requestsPerSecond * REQUEST_WINDOW_SECONDS,
  );
  if (!admitted) throw new RateLimitedError(Math.max(1, windowStart + REQUEST_WINDOW_SECONDS - nowSeconds), 'requests');
}

/** Takes a ringing slot for a new call; past the tenant's limit, RateLimitedError. */
export async function takeRingingSlot(deps: LimitDeps, tenantId: string, limits: TenantLimits): Promise<boolean> {
  if (!deps.limits) return false;
  if (await deps.limits.startRinging(tenantId, limits.ringingCalls)) return true;
  throw new RateLimitedError(RINGING_RETRY_AFTER_SECONDS, 'ringing calls');
}
