/** Another tenant uses the same callId for its own call: two independent calls. */
import { cancelOp, firstAnswers, inOrder, phones } from '../actors.js';
import { OTHER_TEAM } from '../apps.js';
import { phase } from '../phase.js';
import { ring } from '../ring.js';
import { inlineDevices, pickTimeout, planRing } from '../ring-plan.js';
import { between } from '../util.js';
import type { Worker } from '../worker.js';

export async function otherTenant(wk: Worker) {
  const w = wk.w;
  const mine = wk.recent.filter((c) => c.tenantId === w.tenantA && !c.tombstone && !wk.reusedByB.has(c.callId)).at(-1);
  if (!mine) return;
  wk.reusedByB.add(mine.callId);
  const p = planRing(wk, {
    inline: inlineDevices(wk, between(1, 2)).filter((d) => !d.pnParam.startsWith(OTHER_TEAM)),
    timeout: pickTimeout(),
  });
  if (p.targets.length === 0) return;
  p.body.callId = mine.callId;
  const m = await ring(wk, p, 'other-tenant', w.pbxB, w.tenantB);
  if (!m) return;
  await phase(wk, m, 'phones', phones(m, firstAnswers(m)));
  await phase(wk, m, 'cancel', [inOrder([cancelOp()])]);
}
