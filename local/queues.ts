import { randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { BatchResult } from '../functions/callbacks/callbacks.js';
import type { Log } from '../functions/core/ports.js';

export type QueueHandler = (event: SQSEvent) => Promise<BatchResult>;

/**
 * What SQS and its Lambda event source do, in one process: a message becomes visible after its
 * delay and is handed to the handler as a one-record SQS event; a message the handler reports
 * failed (or throws on) is offered again after the visibility timeout, and after
 * `maxReceives` it goes to the dead letters.
 */
export class LocalQueue {
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  readonly deadLetters: string[] = [];
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly handler: QueueHandler,
    private readonly log: Log,
    private readonly visibilityTimeoutMs = 2000,
    private readonly maxReceives = 5,
  ) {}

  send(body: string, delayMs: number): void {
    this.later({ body, messageId: randomUUID(), receives: 0 }, delayMs);
  }

  /** Messages waiting or being handled: tests wait for the queue to drain. */
  get pending(): number {
    return this.timers.size + this.inFlight;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private later(m: { body: string; messageId: string; receives: number }, delayMs: number) {
    if (this.stopped) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        void this.deliver(m);
      },
      Math.max(0, delayMs),
    );
    this.timers.add(timer);
  }

  private async deliver(m: { body: string; messageId: string; receives: number }) {
    const receives = m.receives + 1;
    this.inFlight++;
    let failed: boolean;
    try {
      const result = await this.handler({ Records: [recordOf(this.name, m.messageId, m.body, receives)] });
      failed = result.batchItemFailures.length > 0;
    } catch (e) {
      this.log.error('local queue handler threw', { queue: this.name, error: (e as Error)?.name });
      failed = true;
    } finally {
      this.inFlight--;
    }
    if (!failed) return;
    if (receives >= this.maxReceives) {
      this.deadLetters.push(m.body);
      this.log.error('local queue: message dead-lettered after repeated failures', { queue: this.name });
      return;
    }
    this.later({ ...m, receives }, this.visibilityTimeoutMs);
  }
}

function recordOf(queue: string, messageId: string, body: string, receives: number): SQSRecord {
  const now = String(Date.now());
  return {
    messageId,
    receiptHandle: messageId,
    body,
    attributes: {
      ApproximateReceiveCount: String(receives),
      SentTimestamp: now,
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:local:000000000000:${queue}`,
    awsRegion: 'local',
  };
}
