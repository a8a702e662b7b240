import type { Clock, Timer } from './clock.js';
import { fingerprint } from './ids.js';
import { signatureOf } from './pbx-signature.js';
import type { CallbackDelivery, CallbackQueue, CallbackSender, Log, Metrics, PostOutcome } from './ports.js';

/** How a callback is retried: exponential backoff with jitter, for at least `giveUpAfterMs`. */
export interface RetryPolicy {
  /** Each attempt's limit: a 2xx within it acknowledges. */
  attemptTimeoutMs: number;
  /** The first retry comes at most this long after the failed attempt ended (in the same run). */
  firstRetryMs: number;
  /** Later retries: this, doubled each time, … */
  baseMs: number;
  /** … up to this (an SQS delay can be at most 15 minutes). */
  maxMs: number;
  /** Retried until this long after the first attempt, then dead-lettered. */
  giveUpAfterMs: number;
}

export const CALLBACK_RETRY: RetryPolicy = {
  attemptTimeoutMs: 5000,
  firstRetryMs: 1000,
  baseMs: 2000,
  maxMs: 15 * 60 * 1000,
  giveUpAfterMs: 24 * 60 * 60 * 1000,
};

export interface CallbackDeps {
  sender: CallbackSender;
  callbacks: CallbackQueue;
  /** A tenant's PBX secrets; callbacks are signed with the first. */
  tenantSecrets(tenantId: string): Promise<readonly string[] | undefined>;
  clock: Clock;
  timer: Timer;
  random: () => number;
  retry: RetryPolicy;
  log: Log;
  metrics?: Metrics;
}

export type CallbackOutcome = 'delivered' | 'retrying' | 'dead-lettered' | 'dropped';

/** Jitter keeps a receiver that comes back from being hit by every retry at once. */
const jittered = (ms: number, random: () => number): number => Math.round(ms / 2 + (random() * ms) / 2);

/** The delay before the next attempt, once `attempts` attempts have failed (the second and later). */
export const backoffMs = (policy: RetryPolicy, attempts: number, random: () => number): number =>
  jittered(Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 2)), random);

/**
 * Delivers one event to one tenant's callback url.
 * 1. Sign it with the tenant's first secret, as the PBX signs its own requests, and POST it.
 *    Any 2xx within the attempt timeout acknowledges; anything else is a failure.
 * 2. After a first failure, retry once in this run, within `firstRetryMs`.
 * 3. After that, queue the next attempt with exponential backoff and jitter; a day after the
 *    first attempt, dead-letter it instead.
 */
export async function deliverCallback(deps: CallbackDeps, delivery: CallbackDelivery): Promise<CallbackOutcome> {
  const secret = (await deps.tenantSecrets(delivery.tenantId))?.[0];
  const logged = { tenant: fingerprint(delivery.tenantId), eventId: delivery.event.id, type: delivery.event.type };
  if (secret === undefined) {
    deps.log.warn('callback dropped: the tenant has no secret any more', logged);
    return 'dropped';
  }
  let d = { ...delivery, firstAttemptAt: delivery.firstAttemptAt ?? deps.clock.now() };
  for (;;) {
    const outcome = await attempt(deps, secret, d);
    d = { ...d, attempts: d.attempts + 1 };
    if (outcome.ok) {
      deps.log.info('callback delivered', { ...logged, attempts: d.attempts, status: outcome.status });
      deps.metrics?.count('CallbacksDelivered');
      return 'delivered';
    }
    deps.log.warn('callback attempt failed', { ...logged, attempts: d.attempts, ...failure(outcome) });
    if (d.attempts === 1) {
      await deps.timer.sleep(jittered(deps.retry.firstRetryMs, deps.random));
      continue;
    }
    if (deps.clock.now() - d.firstAttemptAt >= deps.retry.giveUpAfterMs) {
      await deps.callbacks.deadLetter(d);
      deps.log.error('callback dead-lettered', { ...logged, attempts: d.attempts });
      deps.metrics?.count('CallbacksDeadLettered');
      return 'dead-lettered';
    }
    await deps.callbacks.enqueue([d], backoffMs(deps.retry, d.attempts, deps.random));
    deps.metrics?.count('CallbacksRetried');
    return 'retrying';
  }
}

async function attempt(deps: CallbackDeps, secret: string, d: CallbackDelivery): Promise<PostOutcome> {
  const body = JSON.stringify(d.event);
  const timestamp = String(Math.floor(deps.clock.now() / 1000));
  const headers = {
    'content-type': 'application/json',
    'x-callwake-tenant': d.tenantId,
    'x-callwake-timestamp': timestamp,
    'x-callwake-event-id': d.event.id,
    'x-callwake-event-type': d.event.type,
    'x-callwake-signature': signatureOf(secret, timestamp, 'POST', requestTargetOf(d.url), body),
  };
  return deps.sender.post(d.url, headers, body, deps.retry.attemptTimeoutMs);
}

const failure = (o: PostOutcome): Record<string, unknown> =>
  o.ok ? {} : { ...(o.status === undefined ? {} : { status: o.status }), ...(o.error ? { error: o.error } : {}) };

/**
 * The path and query exactly as the request line carries them (what the receiver sees and
 * checks). HTTP clients send `pathname + search`, so a url that ends in a bare `?` goes out (and
 * is signed) without it; the href would keep it and no receiver could verify the signature.
 */
export function requestTargetOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}
