/** Ring timeouts: a 5 s call nobody answers expires; a late answer is refused. */
import { cancelOp, inOrder, phones, sentDevices } from '../actors.js';
import type { Op } from '../model.js';
import { phase } from '../phase.js';
import { ring } from '../ring.js';
import { typicalPlan } from '../ring-plan.js';
import { between, pick, sleep } from '../util.js';
import type { Worker } from '../worker.js';

export async function ringTimeout(wk: Worker) {
  const m = await ring(wk, typicalPlan(wk, 5), 'ring-timeout');
  if (!m) return;
  await phase(wk, m, 'confirms', phones(m, new Map()));
  // Just before or just after the timeout: the model accepts either outcome for requests spanning it.
  await sleep(Math.max(0, m.expiresAtMs - Date.now() + between(-300, 300)));
  const sent = sentDevices(m);
  const ops: Op[] = [{ kind: 'pbxView' }];
  if (sent.length) ops.push({ kind: pick(['answer', 'decline'] as const), deviceId: pick(sent).deviceId });
  ops.push(cancelOp(), { kind: 'pbxView' });
  await phase(wk, m, 'around the ring timeout', [inOrder(ops)]);
}
