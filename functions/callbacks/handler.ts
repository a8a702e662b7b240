import middy from '@middy/core';
import { httpCallbackSender } from '../adapters/http-callback-sender.js';
import { lambdaObservability } from '../adapters/observability.js';
import { parseTenants } from '../adapters/secret-formats.js';
import { CachedSecret, secretsManagerClient } from '../adapters/secrets-manager.js';
import { SqsCallbackQueue, sqsClient } from '../adapters/sqs-queues.js';
import { callbacksConfig } from '../config.js';
import { initOnce } from '../init-once.js';
import { createCallbackHandler } from './callbacks.js';
import { wireCallbacks } from './wiring.js';

const observability = lambdaObservability('callwake-callbacks');

/** The callback Lambda: deliveries from the callback queue, signed with each tenant's secret. */
export const handler = middy(
  createCallbackHandler(
    initOnce(observability, async ({ log, metrics }) => {
      const config = callbacksConfig();
      const tenants = new CachedSecret(
        secretsManagerClient(),
        config.tenantSecretsName,
        parseTenants,
        config.secretsMaxAgeMs,
      );
      await tenants.get();
      return wireCallbacks({
        sender: httpCallbackSender,
        callbacks: new SqsCallbackQueue(sqsClient(), config.callbackQueueUrl, config.callbackDeadLetterUrl),
        tenantSecrets: async (tenantId) => (await tenants.get()).get(tenantId)?.secrets,
        log,
        metrics,
      });
    }),
  ),
).use(observability.middlewares);
