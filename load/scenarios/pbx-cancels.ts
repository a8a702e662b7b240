/** The caller hangs up: before anyone acts, while phones confirm, or racing an answer. */
import { cancelOp, inOrder, phones, type Role, sentDevices } from '../actors.js';
import type { Op } from '../model.js';
import { phase } from '../phase.js';
import { ring } from '../ring.js';
import { typicalPlan } from '../ring-plan.js';
import { between, chance, rand, shuffle, sleep, weighted } from '../util.js';
import type { Worker } from '../worker.js';

export async function pbxCancels(wk: Worker) {
  const m = await ring(wk, typicalPlan(wk), 'pbx-cancels');
  if (!m) return;
  const sent = shuffle(sentDevices(m));
  const variant = weighted([
    [3, 'after-confirms'],
    [3, 'racing-confirms'],
    [4, 'racing-answer'],
  ] as const);
  if (variant === 'after-confirms') {
    await phase(wk, m, 'confirms', phones(m, new Map()));
    await phase(wk, m, 'cancel', [inOrder([cancelOp()])]);
  } else {
    const roles = new Map<string, Role>();
    if (variant === 'racing-answer')
      for (const d of sent.slice(0, between(1, Math.max(1, sent.length)))) roles.set(d.deviceId, 'answer');
    await phase(wk, m, 'cancel-race', [
      ...phones(m, roles),
      async (ex) => {
        await sleep(rand(40));
        await ex(cancelOp());
      },
    ]);
  }
  // Late phones learn the end; a second cancel changes nothing; a retried create is refused.
  const later: Op[] = [];
  for (const d of sent.slice(0, 2)) later.push({ kind: chance(0.5) ? 'answer' : 'confirm', deviceId: d.deviceId });
  if (chance(0.3)) later.push(cancelOp());
  if (chance(0.3)) later.push({ kind: 'ringSame' });
  if (chance(0.5)) later.push({ kind: 'pbxView' });
  if (later.length) await phase(wk, m, 'after-cancel', [inOrder(later)]);
}
