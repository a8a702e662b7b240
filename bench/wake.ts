import { randomUUID } from 'node:crypto';
import { callKey } from '../functions/adapters/table-layout.js';
import type { ApnsSimulator } from '../local/apns-simulator/index.js';
import { CallbackReceiver } from '../local/callback-receiver.js';
import type { AppClient, PbxClient, Reply } from '../local/clients.js';
import type { Floors } from './floors.js';

/**
 * How fast the loop closes, on `npm start`'s path: a waiting client learning of a change, and a
 * change reaching its callback. Each delay runs from the answer to the request that made the
 * change to the waiter's answer (or the callback's arrival). The floor is what the information
 * must cross at least after the write: one consistent GetItem and one loopback HTTP answer.
 */
export interface WakeSamples {
  declineToPbxWaiter: number[];
  cancelToAppWaiter: number[];
  changeToCallback: number[];
  floor: number[];
}

export async function measureWakes(o: {
  n: number;
  pbx: PbxClient;
  app: AppClient;
  sim: ApnsSimulator;
  floors: Floors;
  tenantSecret: string;
  newToken: () => string;
}): Promise<WakeSamples> {
  const receiver = await CallbackReceiver.start({ secrets: () => [o.tenantSecret] });
  await o.pbx.putWebhook({ url: receiver.url, events: ['call.cancelled'] });
  const out: WakeSamples = { declineToPbxWaiter: [], cancelToAppWaiter: [], changeToCallback: [], floor: [] };
  const ring = async () => {
    const callId = `${randomUUID()}@bench`;
    const device = o.newToken();
    const r = await o.pbx.ring({
      callId,
      from: { number: '+15551230000' },
      devices: [{ pnProvider: 'apns', pnPrid: device, pnParam: 'LOCALTEAM1.com.example.phone.voip' }],
    });
    const push = await o.sim.waitForPush(device, 5000);
    const token = (push.payload as { callwake: { token: string } }).callwake.token;
    return { callId, callUuid: r.body.callUuid as string, token };
  };
  const answeredAt = (p: Promise<Reply>) => p.then((r) => ({ r, at: performance.now() }));
  for (let i = 0; i < o.n; i++) {
    // A PBX holding its INVITE learns of the decline.
    const a = await ring();
    const etag = (await o.pbx.view(a.callId)).headers.get('etag')!;
    const waiter = answeredAt(o.pbx.view(a.callId, { etag, waitSeconds: 20 }));
    await new Promise((r) => setTimeout(r, 30 + Math.random() * 120));
    const declined = await answeredAt(o.app.decline(a.callId, a.token));
    const woke = await waiter;
    if (woke.r.body?.status !== 'declined') throw new Error(`waiter saw ${woke.r.status} ${woke.r.body?.status}`);
    out.declineToPbxWaiter.push(woke.at - declined.at);

    // A ringing app learns that the caller hung up; the PBX's callback hears of it too.
    const b = await ring();
    const appEtag = (await o.app.view(b.callId, b.token)).headers.get('etag')!;
    const appWaiter = answeredAt(o.app.view(b.callId, b.token, { etag: appEtag, waitSeconds: 20 }));
    await new Promise((r) => setTimeout(r, 30 + Math.random() * 120));
    const cancelled = await answeredAt(o.pbx.cancel(b.callId));
    const appWoke = await appWaiter;
    if (appWoke.r.body?.endReason !== 'remoteEnded') throw new Error('the app waiter missed the cancel');
    out.cancelToAppWaiter.push(appWoke.at - cancelled.at);
    const [callback] = await receiver.waitFor((c) => c.event.callUuid === b.callUuid, 1, 5000);
    // The receiver stamps arrival with Date.now(): convert the cancel's answer to the same clock.
    out.changeToCallback.push(callback!.at - (Date.now() - (performance.now() - cancelled.at)));

    const t0 = performance.now();
    await o.floors.read(callKey(b.callUuid));
    out.floor.push(performance.now() - t0);
  }
  await o.pbx.deleteWebhook();
  await receiver.stop();
  return out;
}
