/**
 * 2 to 4 requests the service must refuse, each with its exact status and problem code. A refused
 * create or cancel must write nothing: its callId is checked again at the end.
 */

import type { Reply } from '../../local/clients.js';
import { sentDevices } from '../actors.js';
import { BUNDLE } from '../apps.js';
import { userWithDevices } from '../registry.js';
import { newCallId, planRing } from '../ring-plan.js';
import { between, newPushToken, shuffle } from '../util.js';
import type { Worker } from '../worker.js';
import { EP, expectStatus, send } from '../world.js';

const sandboxDevice = (pushToken: string) => ({ platform: 'ios', pushToken, bundleId: BUNDLE, environment: 'sandbox' });

export async function badRequests(wk: Worker) {
  const w = wk.w;
  const where = `w${wk.id} bad-requests`;
  const pbx = wk.pbx();
  const fresh = () => planRing(wk, { userId: userWithDevices(wk), timeout: 30 }).body;
  /** A create that must be refused with this status and code; if it is, its callId must stay unknown. */
  const refusedCreate = async <Body extends { callId: string }>(
    what: string,
    body: Body,
    status: number,
    code: string,
    request: () => Promise<Reply> = () => pbx.ring(body),
  ) => {
    const r = await send(w, EP.ring, where, request);
    if (expectStatus(w, r, `${where}: ${what}`, status, code))
      w.rejected.push({ tenantId: w.tenantA, callId: body.callId, label: where });
  };
  const cases: [string, () => Promise<void>][] = [
    [
      'wrong secret',
      async () => {
        const b = fresh();
        await refusedCreate('wrong secret', b, 401, 'bad_signature', () =>
          pbx.send('POST', '/v1/pbx/calls', b, { secret: 'not-the-secret' }),
        );
      },
    ],
    [
      'unknown tenant',
      async () => {
        const r = await send(w, EP.pbxView, where, () =>
          pbx.send('GET', `/v1/pbx/calls/x`, undefined, { tenantId: 'no-such-tenant' }),
        );
        expectStatus(w, r, `${where}: unknown tenant`, 401, 'bad_signature');
      },
    ],
    [
      'malformed signature',
      async () => {
        const b = fresh();
        await refusedCreate('malformed signature', b, 401, 'bad_signature', () =>
          pbx.send('POST', '/v1/pbx/calls', b, { headers: { 'x-callwake-signature': 'v1=zz' } }),
        );
      },
    ],
    [
      'stale timestamp',
      async () => {
        const b = fresh();
        await refusedCreate('stale timestamp', b, 401, 'stale_signature', () =>
          pbx.send('POST', '/v1/pbx/calls', b, { timestamp: Math.floor(Date.now() / 1000) - 400 }),
        );
      },
    ],
    [
      'malformed JSON',
      async () => {
        const r = await send(w, EP.ring, where, () =>
          pbx.send('POST', '/v1/pbx/calls', undefined, { rawBody: '{"callId": "x@y", "from": {' }),
        );
        expectStatus(w, r, `${where}: malformed JSON`, 400, 'malformed_json');
      },
    ],
    [
      'empty body',
      async () => {
        const r = await send(w, EP.ring, where, () =>
          pbx.send('POST', '/v1/pbx/calls', undefined, { headers: { 'content-type': 'application/json' } }),
        );
        expectStatus(w, r, `${where}: empty body`, 400, 'malformed_json');
      },
    ],
    [
      'text/plain',
      async () => {
        const b = fresh();
        await refusedCreate('text/plain', b, 415, 'unsupported_media_type', () =>
          pbx.send('POST', '/v1/pbx/calls', b, { headers: { 'content-type': 'text/plain' } }),
        );
      },
    ],
    [
      'too large',
      () =>
        refusedCreate(
          'body over 16 KiB',
          { ...fresh(), from: { number: '+15550000000', displayName: 'x'.repeat(17 * 1024) } },
          413,
          'payload_too_large',
        ),
    ],
    [
      'invalid callId',
      async () => {
        const r = await send(w, EP.ring, where, () => pbx.ring({ ...fresh(), callId: 'has space@pbx' }));
        expectStatus(w, r, `${where}: callId with a space`, 400, 'validation_failed');
      },
    ],
    [
      'invalid callId in path',
      async () => {
        const r = await send(w, EP.pbxView, where, () => pbx.view('has space@pbx'));
        expectStatus(w, r, `${where}: path callId with a space`, 400, 'validation_failed');
      },
    ],
    [
      'ring timeout 4',
      () => refusedCreate('ringTimeoutSeconds 4', { ...fresh(), ringTimeoutSeconds: 4 }, 400, 'validation_failed'),
    ],
    [
      'fcm device',
      () =>
        refusedCreate(
          'pnProvider fcm',
          { ...fresh(), devices: [{ pnProvider: 'fcm', pnPrid: newPushToken(), pnParam: 'x' }] },
          400,
          'validation_failed',
        ),
    ],
    [
      'no target',
      () =>
        refusedCreate(
          'no target',
          { callId: newCallId(wk), from: { number: '+15550001111' } },
          400,
          'validation_failed',
        ),
    ],
    [
      'bad cancel reason',
      async () => {
        const callId = newCallId(wk);
        const r = await send(w, EP.cancel, where, () =>
          pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`, { reason: 'bored' }),
        );
        if (expectStatus(w, r, `${where}: cancel reason bored`, 400, 'validation_failed'))
          w.rejected.push({ tenantId: w.tenantA, callId, label: `${where}: cancel reason bored (no tombstone)` });
      },
    ],
    [
      'bad userId',
      async () => {
        const r = await send(w, EP.putDevice, where, () =>
          pbx.putDevice('bad!user', 'd1', sandboxDevice(newPushToken())),
        );
        expectStatus(w, r, `${where}: userId bad!user`, 400, 'validation_failed');
      },
    ],
    [
      'short token',
      async () => {
        const r = await send(w, EP.putDevice, where, () =>
          pbx.putDevice(userWithDevices(wk), wk.uid('d'), sandboxDevice('abcd')),
        );
        expectStatus(w, r, `${where}: short push token`, 400, 'validation_failed');
      },
    ],
    [
      'unknown call',
      async () => {
        const r = await send(w, EP.pbxView, where, () => pbx.view(newCallId(wk)));
        expectStatus(w, r, `${where}: unknown call`, 404, 'call_not_found');
      },
    ],
    [
      'no route',
      async () => {
        const r = await send(w, EP.other, where, () => pbx.send('GET', '/v1/pbx/nothing-here'));
        expectStatus(w, r, `${where}: no such route`, 404, 'not_found');
      },
    ],
    [
      'wrong method',
      async () => {
        const r = await send(w, EP.other, where, () =>
          pbx.send('DELETE', `/v1/pbx/calls/${encodeURIComponent(newCallId(wk))}`),
        );
        expectStatus(w, r, `${where}: DELETE a call`, 405, 'method_not_allowed');
      },
    ],
    [
      'app without token',
      async () => {
        const r = await send(w, EP.appView, where, () =>
          w.app.send('GET', `/v1/app/calls/${encodeURIComponent(newCallId(wk))}`, undefined),
        );
        expectStatus(w, r, `${where}: app without token`, 401, 'invalid_token');
      },
    ],
    [
      'app forged token',
      async () => {
        const r = await send(w, EP.answer, where, () => w.app.answer(newCallId(wk), `v1.${'A'.repeat(60)}`));
        expectStatus(w, r, `${where}: forged token`, 401, 'invalid_token');
      },
    ],
    [
      'app tampered token / other call',
      async () => {
        const donor = wk.recent.flatMap((c) => sentDevices(c).map((d) => ({ c, t: d.callToken! }))).at(-1);
        if (!donor) return;
        const t = donor.t;
        // A character inside the signed payload (cw1.<tag>.<payload>.<mac>), so the MAC no longer fits.
        const tampered = t.slice(0, 14) + (t[14] === 'A' ? 'B' : 'A') + t.slice(15);
        const r1 = await send(w, EP.answer, where, () => w.app.answer(donor.c.callId, tampered));
        expectStatus(w, r1, `${where}: tampered token`, 401, 'invalid_token');
        const r2 = await send(w, EP.answer, where, () => w.app.answer(newCallId(wk), t));
        expectStatus(w, r2, `${where}: token for another call`, 403, 'token_scope');
      },
    ],
  ];
  for (const [name, run] of shuffle(cases).slice(0, between(2, 4))) {
    w.rec.tick(`bad request: ${name}`);
    await run();
  }
}
