import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { httpCallbackSender } from '../functions/adapters/http-callback-sender.js';
import { createCallbackHandler } from '../functions/callbacks/callbacks.js';
import { wireCallbacks } from '../functions/callbacks/wiring.js';
import type { Clock } from '../functions/core/clock.js';
import type { RetryPolicy } from '../functions/core/deliver-callback.js';
import type { CallwakeEvent } from '../functions/core/events.js';
import type {
  CallbackDelivery,
  CallbackQueue,
  EventPublisher,
  Log,
  Metrics,
  Pusher,
  RingTimers,
} from '../functions/core/ports.js';
import { createEventsHandler } from '../functions/events/events.js';
import { createRingTimerHandler } from '../functions/ring-timer/ring-timer.js';
import { wireDispatch, wireRingTimer } from '../functions/wiring.js';
import { LocalQueue } from './queues.js';
import { LocalStreamPoller } from './stream-poller.js';

/** There is no SNS locally: every event is kept (tests read them) and printed as one line. */
export class LocalPublisher implements EventPublisher {
  readonly events: CallwakeEvent[] = [];
  constructor(private readonly print: (line: string) => void) {}

  async publish(events: readonly CallwakeEvent[]): Promise<void> {
    for (const e of events) {
      this.events.push(e);
      const seq = e.sequence === undefined ? '' : ` #${e.sequence}`;
      this.print(`event ${e.type}${seq} tenant=${e.tenantId} call=${e.callUuid} id=${e.id}`);
    }
  }
}

export interface LocalEventsOptions {
  doc: DynamoDBDocumentClient;
  dynamoEndpoint: string;
  tableName: string;
  streamArn: string;
  tenantSecrets: (tenantId: string) => Promise<readonly string[] | undefined>;
  /** The rings' pusher: missed-call and alert-replacement notifications go out with it. */
  pusher: Pusher;
  pushDeadlineMs: number;
  log: Log;
  metrics?: Metrics;
  clock?: Clock;
  /** The deployed policy unless a test shortens it. */
  retry?: RetryPolicy;
  print?: (line: string) => void;
}

export interface LocalEvents {
  publisher: LocalPublisher;
  /** Callback deliveries given up on (a day of retries, or a shortened policy's). */
  deadLetters: CallbackDelivery[];
  /** Resolves once nothing is waiting in the stream or the queues. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The events path of a deployed stack, in this process, through the same handlers: DynamoDB
 * Local's stream read like Lambda reads it, into the events handler; callback deliveries and
 * ring timers through in-memory queues into the callback and ring-timer handlers.
 */
export async function startLocalEvents(o: LocalEventsOptions): Promise<LocalEvents> {
  const print = o.print ?? ((line: string) => console.log(line));
  const publisher = new LocalPublisher(print);
  const deadLetters: CallbackDelivery[] = [];
  const clock = o.clock;

  let callbackQueue: LocalQueue | undefined;
  const callbacks: CallbackQueue = {
    async enqueue(deliveries, delayMs) {
      for (const d of deliveries) callbackQueue!.send(JSON.stringify(d), delayMs);
    },
    async deadLetter(d) {
      deadLetters.push(d);
      print(`callback dead-lettered: ${d.event.type} ${d.event.id} after ${d.attempts} attempts`);
    },
  };
  const callbackDeps = wireCallbacks({
    sender: httpCallbackSender,
    callbacks,
    tenantSecrets: o.tenantSecrets,
    log: o.log,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.retry ? { retry: o.retry } : {}),
    ...(clock ? { clock } : {}),
  });
  callbackQueue = new LocalQueue(
    'callbacks',
    createCallbackHandler(async () => callbackDeps),
    o.log,
  );

  const ringTimerDeps = wireRingTimer({
    doc: o.doc,
    tableName: o.tableName,
    log: o.log,
    ...(clock ? { clock } : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
  });
  const timerQueue = new LocalQueue(
    'ring-timers',
    createRingTimerHandler(async () => ringTimerDeps),
    o.log,
  );
  const now = () => (clock ?? { now: Date.now }).now();
  // Like the SQS delay: due a second before the ring end; the handler waits out the rest.
  const ringTimers: RingTimers = {
    async schedule(callUuid, expiresAt) {
      timerQueue.send(JSON.stringify({ callUuid, expiresAt }), expiresAt - now() - 1000);
    },
  };

  const dispatchDeps = {
    ...wireDispatch({
      doc: o.doc,
      tableName: o.tableName,
      publisher,
      callbacks,
      ringTimers,
      pusher: o.pusher,
      pushDeadlineMs: o.pushDeadlineMs,
      log: o.log,
      ...(clock ? { clock } : {}),
      ...(o.metrics ? { metrics: o.metrics } : {}),
    }),
    async unreadable(records: readonly unknown[]) {
      print(`events: ${records.length} stream records that are not changes of ours (dead-lettered)`);
    },
  };
  const poller = new LocalStreamPoller(
    o.dynamoEndpoint,
    o.streamArn,
    createEventsHandler(async () => dispatchDeps),
    o.log,
  );
  await poller.start();

  return {
    publisher,
    deadLetters,
    async settled() {
      // The stream first (it feeds the queues), then the queues, until all are quiet.
      for (;;) {
        const before = poller.handled;
        await new Promise((r) => setTimeout(r, 150));
        if (poller.handled === before && callbackQueue!.pending === 0) return;
      }
    },
    async stop() {
      await poller.stop();
      callbackQueue!.stop();
      timerQueue.stop();
    },
  };
}
