import middy from '@middy/core';
import { documentClient } from '../adapters/dynamo-table.js';
import { lambdaObservability } from '../adapters/observability.js';
import { ringTimerConfig } from '../config.js';
import { initOnce } from '../init-once.js';
import { wireRingTimer } from '../wiring.js';
import { createRingTimerHandler } from './ring-timer.js';

const observability = lambdaObservability('callwake-ring-timer');

/** The ring-timer Lambda: marks calls still ringing at their ring end (their `call.expired`). */
export const handler = middy(
  createRingTimerHandler(
    initOnce(observability, async ({ log, metrics }) =>
      wireRingTimer({ doc: documentClient(), tableName: ringTimerConfig().tableName, log, metrics }),
    ),
  ),
).use(observability.middlewares);
