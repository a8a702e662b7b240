import middy from '@middy/core';
import { documentClient } from '../adapters/dynamo-table.js';
import { lambdaObservability } from '../adapters/observability.js';
import { secretsManagerClient } from '../adapters/secrets-manager.js';
import { SnsPublisher, snsClient } from '../adapters/sns-publisher.js';
import { SqsCallbackQueue, SqsRingTimers, sendAll, sqsClient } from '../adapters/sqs-queues.js';
import { apnsPusher } from '../apns.js';
import { eventsConfig } from '../config.js';
import { initOnce } from '../init-once.js';
import { wireDispatch } from '../wiring.js';
import { createEventsHandler } from './events.js';

const observability = lambdaObservability('callwake-events');

/** The events Lambda: the table's stream (call and user items) in batches. */
export const handler = middy(
  createEventsHandler(
    initOnce(observability, async ({ log, metrics }) => {
      const config = eventsConfig();
      const sqs = sqsClient();
      const doc = documentClient();
      return {
        ...wireDispatch({
          doc,
          tableName: config.tableName,
          pusher: await apnsPusher({ ...config, secretsManager: secretsManagerClient(), doc, log }),
          pushDeadlineMs: config.pushDeadlineMs,
          publisher: new SnsPublisher(snsClient(), config.topicArn),
          callbacks: new SqsCallbackQueue(sqs, config.callbackQueueUrl),
          ringTimers: new SqsRingTimers(sqs, config.ringTimerQueueUrl),
          log,
          metrics,
        }),
        unreadable: (records) =>
          sendAll(
            sqs,
            config.eventsDeadLetterUrl,
            records.map((r) => JSON.stringify(r)),
          ),
      };
    }),
  ),
).use(observability.middlewares);
