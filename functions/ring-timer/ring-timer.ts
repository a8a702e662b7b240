import type { SQSEvent } from 'aws-lambda';
import type { RingTimerMessage } from '../adapters/sqs-queues.js';
import type { BatchResult } from '../callbacks/callbacks.js';
import { expireRing, type RingTimerDeps } from '../core/expire-ring.js';

/**
 * The ring-timer function (deployed: the timer queue through Lambda; local: in-process timers
 * call this same handler). Each message waits for its call's exact ring end, all at once.
 */
export const createRingTimerHandler =
  (deps: () => Promise<RingTimerDeps>) =>
  async (event: SQSEvent): Promise<BatchResult> => {
    const d = await deps();
    const failed: string[] = [];
    await Promise.all(
      (event.Records ?? []).map(async (record) => {
        let m: RingTimerMessage;
        try {
          m = JSON.parse(record.body) as RingTimerMessage;
          if (typeof m.callUuid !== 'string' || typeof m.expiresAt !== 'number') throw new Error('not a ring timer');
        } catch {
          d.log.error('a ring-timer message that does not parse; dropped', {});
          return;
        }
        try {
          await expireRing(d, m.callUuid, m.expiresAt);
        } catch (e) {
          d.log.error('ring timer failed; SQS will offer it again', { error: (e as Error)?.name });
          failed.push(record.messageId);
        }
      }),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
