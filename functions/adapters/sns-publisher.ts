import { PublishBatchCommand, type PublishBatchRequestEntry, SNSClient } from '@aws-sdk/client-sns';
import type { CallwakeEvent } from '../core/events.js';
import type { EventPublisher } from '../core/ports.js';

/** SNS takes at most 10 messages a batch. */
const BATCH = 10;

/**
 * Every event to the stack's topic, with `tenantId` and `type` as message attributes so an
 * operator's subscriptions filter on them. A batch with any failed entry throws: the events
 * function's batch is then retried whole (event ids make the duplicates recognisable).
 */
export class SnsPublisher implements EventPublisher {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(events: readonly CallwakeEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += BATCH) {
      const entries = events.slice(i, i + BATCH).map(
        (e, n): PublishBatchRequestEntry => ({
          Id: String(n),
          Message: JSON.stringify(e),
          MessageAttributes: {
            tenantId: { DataType: 'String', StringValue: e.tenantId },
            type: { DataType: 'String', StringValue: e.type },
          },
        }),
      );
      const out = await this.sns.send(
        new PublishBatchCommand({ TopicArn: this.topicArn, PublishBatchRequestEntries: entries }),
      );
      if ((out.Failed?.length ?? 0) > 0) {
        throw new Error(`SNS refused ${out.Failed?.length} of ${entries.length} events: ${out.Failed?.[0]?.Code}`);
      }
    }
  }
}

export const snsClient = (): SNSClient => new SNSClient({ maxAttempts: 3 });
