import { documentClient } from '../adapters/dynamo-table.js';
import { ringTimerConfig } from '../config.js';
import { initOnce } from '../runtime.js';
import { wireRingTimer } from '../wiring.js';
import { createRingTimerHandler } from './ring-timer.js';

/** The ring-timer Lambda: marks calls still ringing at their ring end (their `call.expired`). */
export const handler = createRingTimerHandler(
  initOnce('callwake-ring-timer', async (log) =>
    wireRingTimer({ doc: documentClient(), tableName: ringTimerConfig().tableName, log }),
  ),
);
