import { type Clock, realTimer, systemClock } from '../core/clock.js';
import { CALLBACK_RETRY, type CallbackDeps, type RetryPolicy } from '../core/deliver-callback.js';
import type { CallbackQueue, CallbackSender, Log, Metrics } from '../core/ports.js';

// Apart from functions/wiring.ts: the callback function reads no table, so none of the DynamoDB
// client is loaded at its cold start.
/** The callback function: one signed POST per delivery, retried through the queue. */
export function wireCallbacks(p: {
  sender: CallbackSender;
  callbacks: CallbackQueue;
  tenantSecrets: (tenantId: string) => Promise<readonly string[] | undefined>;
  log: Log;
  retry?: RetryPolicy;
  clock?: Clock;
  metrics?: Metrics;
}): CallbackDeps {
  return {
    sender: p.sender,
    callbacks: p.callbacks,
    tenantSecrets: p.tenantSecrets,
    clock: p.clock ?? systemClock,
    timer: realTimer,
    random: Math.random,
    retry: p.retry ?? CALLBACK_RETRY,
    log: p.log,
    ...(p.metrics ? { metrics: p.metrics } : {}),
  };
}
