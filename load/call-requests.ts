/** The HTTP request behind each of the model's requests (an Op) on a call, by its PBX or one of its phones. */
import type { CallModel, Done, Op } from './model.js';
import { chance } from './util.js';
import type { RingBody } from './wire.js';
import type { Worker } from './worker.js';
import { EP, type Res, send } from './world.js';

export async function perform(wk: Worker, m: CallModel, op: Op): Promise<Done> {
  const w = wk.w;
  const where = `${m.label} ${m.callId}: ${op.kind}`;
  const pbx = () => (m.tenantId === w.tenantA ? wk.pbx() : w.pbxB);
  let res: Res;
  switch (op.kind) {
    case 'confirm':
      res = await send(w, EP.confirm, where, () => w.app.confirm(m.callId, tokenOf(m, op.deviceId)));
      break;
    case 'appView':
      res = await send(w, EP.appView, where, () => w.app.view(m.callId, tokenOf(m, op.deviceId)));
      break;
    case 'answer':
      res = await send(w, EP.answer, where, () => w.app.answer(m.callId, tokenOf(m, op.deviceId)));
      break;
    case 'decline':
      res = await send(w, EP.decline, where, () => w.app.decline(m.callId, tokenOf(m, op.deviceId)));
      break;
    case 'cancel': {
      const client = pbx();
      const path = `/v1/pbx/calls/${encodeURIComponent(m.callId)}/cancel`;
      res = await send(w, EP.cancel, where, () =>
        op.spelling === 'none'
          ? client.send('POST', path)
          : op.spelling === 'empty'
            ? client.send('POST', path, {})
            : op.spelling === 'null'
              ? client.send('POST', path, null, { rawBody: 'null' })
              : client.send('POST', path, { reason: op.reason }),
      );
      break;
    }
    case 'pbxView':
      res = await send(w, EP.pbxView, where, () => pbx().view(m.callId));
      break;
    case 'ringSame': {
      const afterCancel = m.state.status === 'cancelled' ? ' after cancel' : '';
      w.rec.tick(`retry: same create again${op.alike ? ' (spelled differently)' : ''}${afterCancel}`);
      const body = ringBodyOf(m);
      res = await send(w, EP.ring, where, () => pbx().ring(op.alike ? respelled(body, wk.id) : body));
      break;
    }
    case 'ringConflict': {
      w.rec.tick(`retry: another body, same callId${m.state.status === 'cancelled' ? ' after cancel' : ''}`);
      const conflicting = withOtherTimeout(ringBodyOf(m));
      res = await send(w, EP.ring, where, () => pbx().ring(conflicting));
      break;
    }
  }
  return { op, ts: res.ts, te: res.te, status: res.status, body: res.body };
}

function tokenOf(m: CallModel, deviceId: string): string {
  const t = m.devices.find((d) => d.deviceId === deviceId)?.callToken;
  if (!t) throw new Error(`generator: no call token for ${deviceId} of ${m.callId}`);
  return t;
}

function ringBodyOf(m: CallModel): RingBody {
  if (!m.ringBody) throw new Error(`generator: no ring body for ${m.callId}`);
  return m.ringBody;
}

/** The same call spelled another way: defaults written out, nulls for absent members, an unknown member. */
const respelled = (body: RingBody, workerId: number) => ({
  ...body,
  ringTimeoutSeconds: body.ringTimeoutSeconds ?? 60,
  hasVideo: body.hasVideo ?? false,
  metadata: body.metadata ?? (chance(0.5) ? {} : null),
  from: { ...body.from, displayName: body.from.displayName ?? null },
  ...(body.to && body.devices === undefined ? { devices: [] } : {}),
  pbxTrace: { node: `pbx${workerId}`, attempt: 2 },
});

/** Another call under the same callId: a different ring timeout, still a valid one. */
function withOtherTimeout(body: RingBody): RingBody {
  const next = ((body.ringTimeoutSeconds ?? 60) % 300) + 1;
  return { ...body, ringTimeoutSeconds: next < 5 ? 42 : next };
}
