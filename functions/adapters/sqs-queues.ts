import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { CallbackDelivery, CallbackQueue, RingTimers } from '../core/ports.js';

/** SQS delays a message by at most 15 minutes, to the second. */
const MAX_DELAY_S = 900;
const BATCH = 10;

const delaySecondsOf = (ms: number): number => Math.min(MAX_DELAY_S, Math.max(0, Math.ceil(ms / 1000)));

/** Callback deliveries: one message each, delayed until their next attempt; the DLQ after a day. */
export class SqsCallbackQueue implements CallbackQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    /** Only the callback function gives deliveries up; the events function only queues them. */
    private readonly deadLetterUrl?: string,
  ) {}

  async enqueue(deliveries: readonly CallbackDelivery[], delayMs: number): Promise<void> {
    for (let i = 0; i < deliveries.length; i += BATCH) {
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: deliveries.slice(i, i + BATCH).map((d, n) => ({
            Id: String(n),
            MessageBody: JSON.stringify(d),
            DelaySeconds: delaySecondsOf(delayMs),
          })),
        }),
      );
      if ((out.Failed?.length ?? 0) > 0) throw new Error(`SQS refused ${out.Failed?.length} callback deliveries`);
    }
  }

  async deadLetter(delivery: CallbackDelivery): Promise<void> {
    if (!this.deadLetterUrl) throw new Error('this function does not dead-letter callbacks');
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.deadLetterUrl, MessageBody: JSON.stringify(delivery) }),
    );
  }
}

/** The message a ring timer carries. */
export interface RingTimerMessage {
  callUuid: string;
  expiresAt: number;
}

/**
 * One delay message per ringing call, due a second before its ring end (SQS counts whole
 * seconds and delivers a little late): the ring-timer function waits out the rest itself.
 */
export class SqsRingTimers implements RingTimers {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly now: () => number = Date.now,
  ) {}

  async schedule(callUuid: string, expiresAt: number): Promise<void> {
    const message: RingTimerMessage = { callUuid, expiresAt };
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(MAX_DELAY_S, Math.max(0, Math.floor((expiresAt - this.now()) / 1000) - 1)),
      }),
    );
  }
}

/** Sends each body as one message, in batches of ten. */
export async function sendAll(sqs: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += BATCH) {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + BATCH).map((MessageBody, n) => ({ Id: String(n), MessageBody })),
      }),
    );
    if ((out.Failed?.length ?? 0) > 0) throw new Error(`SQS refused ${out.Failed?.length} messages`);
  }
}

export const sqsClient = (): SQSClient => new SQSClient({ maxAttempts: 3 });
