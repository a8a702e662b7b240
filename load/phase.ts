/**
 * A phase of a call: actors (a phone, the PBX) each make a sequence of requests on the call, all
 * at once; then their replies are judged together against the model, by linearizing them, and the
 * model moves to the state they lead to.
 */
import { perform } from './call-requests.js';
import { type CallModel, type Done, linearize, type Op } from './model.js';
import type { Worker } from './worker.js';

export type Exec = (op: Op) => Promise<Done>;
export type Actor = (ex: Exec) => Promise<void>;

export async function phase(wk: Worker, m: CallModel, name: string, actors: Actor[]): Promise<Done[]> {
  const dones: Done[] = [];
  const ex = async (op: Op) => {
    const d = await perform(wk, m, op);
    dones.push(d);
    return d;
  };
  await Promise.all(actors.map((a) => a(ex)));
  settle(wk, m, name, dones);
  return dones;
}

function settle(wk: Worker, m: CallModel, name: string, dones: Done[]) {
  if (m.tainted || dones.length === 0) return;
  if (dones.some((d) => d.status >= 500 || d.status === 0)) {
    m.tainted = `a 5xx in ${name}`;
    return;
  }
  const r = linearize(m, m.state, dones);
  if (r.ok) m.state = r.state;
  else {
    wk.w.rec.error('unexpected', `${m.label} ${m.callId} (${name})`, r.why);
    m.tainted = `replies in ${name} did not fit the model`;
  }
}
