import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { EVENT_TYPES } from '../../functions/core/events.js';
import { CallbackReceiver, type Reaction, type ReceivedCallback } from '../../local/callback-receiver.js';
import {
  deviceBody,
  expectProblem,
  expectValidation,
  inline,
  newToken,
  uniqueCallId,
} from '../support/contract-helpers.js';
import { pushFor, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Call events, derived from the table's stream (DynamoDB Local's, read the way Lambda reads it)
 * and sent out two ways: the publisher (SNS when deployed) and each tenant's signed callback,
 * received by a real HTTP server that verifies signatures with the PBX signing code.
 */
let t: TestStack;
/** Retries shortened so a test sees a day's policy in seconds; the first retry keeps its 1 s. */
const RETRY = { attemptTimeoutMs: 800, firstRetryMs: 1000, baseMs: 300, maxMs: 600, giveUpAfterMs: 4000 };

beforeAll(async () => {
  t = await startTestStack({ events: { retry: RETRY } });
});
afterAll(async () => t.stop());

const receivers: CallbackReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
  await t.pbx.deleteWebhook();
  await t.other.deleteWebhook();
});

async function receiver(react?: (c: ReceivedCallback, i: number) => Reaction): Promise<CallbackReceiver> {
  const r = await CallbackReceiver.start({
    secrets: (tenant) =>
      tenant === 'acme' ? [t.secrets.acme[0]] : tenant === 'globex' ? [t.secrets.globex] : undefined,
    ...(react ? { react } : {}),
  });
  receivers.push(r);
  return r;
}

async function ring(devices = 1, extra: Record<string, unknown> = {}) {
  const callId = uniqueCallId();
  const tokens = Array.from({ length: devices }, () => newToken());
  const r = await t.pbx.ring({
    callId,
    from: { number: '+15551230000' },
    devices: tokens.map((tk) => inline(tk)),
    ...extra,
  });
  expect(r.status).toBe(201);
  const callTokens = await Promise.all(tokens.map(async (tk) => (await pushFor(t.sim, tk)).token as string));
  return { callId, callUuid: r.body.callUuid as string, callTokens };
}

const published = (callUuid: string) => t.stack.events!.publisher.events.filter((e) => e.callUuid === callUuid);

async function eventsOf(callUuid: string, count: number, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (published(callUuid).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return published(callUuid);
}

describe('the webhook resource', () => {
  it('PUT stores it (all types by default), GET reads it, DELETE removes it (204, also when absent)', async () => {
    expectProblem(await t.pbx.getWebhook(), 404, 'webhook_not_found');
    const put = await t.pbx.putWebhook({ url: 'http://127.0.0.1:9/hook?x=1' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      url: 'http://127.0.0.1:9/hook?x=1',
      events: [...EVENT_TYPES],
      updatedAt: expect.any(String),
    });
    expect((await t.pbx.getWebhook()).body).toEqual(put.body);
    const narrowed = await t.pbx.putWebhook({
      url: 'https://pbx.example.com/cw',
      events: ['call.answered', 'call.ringing', 'call.answered'],
    });
    expect(narrowed.body.events).toEqual(['call.ringing', 'call.answered']);
    expect((await t.pbx.deleteWebhook()).status).toBe(204);
    expect((await t.pbx.deleteWebhook()).status).toBe(204);
    expectProblem(await t.pbx.getWebhook(), 404, 'webhook_not_found');
  });

  it('refuses what is not a callback url, an unknown type, or an empty list, and stores nothing', async () => {
    const before = await t.scanTable();
    expectValidation(await t.pbx.putWebhook({ url: 'not a url' }), 'url');
    expectValidation(await t.pbx.putWebhook({ url: 'ftp://pbx.example.com/x' }), 'url');
    for (const url of ['http:///x', 'http:x', 'https:/pbx.example.com/x', 'http:\\\\pbx.example.com/x'])
      expectValidation(await t.pbx.putWebhook({ url }), 'url');
    expectValidation(await t.pbx.putWebhook({ url: 'https://user:pw@pbx.example.com/x' }), 'url');
    expectValidation(await t.pbx.putWebhook({ url: `https://pbx.example.com/${'a'.repeat(2048)}` }), 'url');
    expectValidation(
      await t.pbx.putWebhook({ url: 'https://pbx.example.com/x', events: ['call.ringing', 'call.bogus'] }),
      'events',
    );
    expectValidation(await t.pbx.putWebhook({ url: 'https://pbx.example.com/x', events: [] }), 'events');
    expectValidation(await t.pbx.putWebhook({ events: ['call.ringing'] }), 'url');
    expect(await t.scanTable()).toEqual(before);
  });

  it('is per tenant', async () => {
    await t.pbx.putWebhook({ url: 'https://acme.example.com/cw' });
    expectProblem(await t.other.getWebhook(), 404, 'webhook_not_found');
  });
});

describe('events', () => {
  it('the signature verifies over the request line the receiver sees, however the url is spelled', async () => {
    const hook = await receiver();
    // A bare `?`, no path, non-ASCII, dot segments: the request line is what the WHATWG parser
    // makes of the url, and the signed path must be that, byte for byte.
    const spellings = ['/p?', '?', '/é/x?q=ü&r=[1]', '/a/../b/./c?x', ''];
    for (const spelling of spellings) {
      await t.pbx.putWebhook({ url: `${hook.url}${spelling}`, events: ['call.ringing'] });
      const { callUuid } = await ring(1);
      const [got] = await hook.waitFor((c) => c.event.callUuid === callUuid, 1);
      expect({ spelling, signature: got!.signature }).toEqual({ spelling, signature: 'ok' });
    }
  });

  it('a call that rings, is confirmed, answered and cancelled: events numbered 1..n, each with the PBX view', async () => {
    const hook = await receiver();
    await t.pbx.putWebhook({ url: `${hook.url}/callwake?pbx=1` });
    const { callId, callUuid, callTokens } = await ring(2);
    await t.app.confirm(callId, callTokens[0]!);
    await t.app.confirm(callId, callTokens[1]!);
    await t.app.confirm(callId, callTokens[1]!); // a second confirm is no change
    await t.app.answer(callId, callTokens[1]!);
    await t.pbx.cancel(callId, 'error');
    const events = await eventsOf(callUuid, 5);
    expect(events.map((e) => [e.sequence, e.type])).toEqual([
      [1, 'call.ringing'],
      [2, 'call.confirmed'],
      [3, 'call.confirmed'],
      [4, 'call.answered'],
      [5, 'call.cancelled'],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ tenantId: 'acme', callId, callUuid, id: expect.stringMatching(/^evt_/) });
      expect(e.occurredAt).toMatch(/Z$/);
    }
    const [ringing, c1, c2, answered, cancelled] = events;
    const view = (await t.pbx.view(callId)).body;
    expect(ringing!.call!.status).toBe('ringing');
    expect(c1!.deviceId).toBe(view.devices[0].deviceId);
    expect(c2!.deviceId).toBe(view.devices[1].deviceId);
    expect(answered).toMatchObject({ deviceId: view.devices[1].deviceId, call: { status: 'answered' } });
    expect(cancelled).toMatchObject({ reason: 'failed', call: view });

    const got = await hook.waitFor((c) => c.event.callUuid === callUuid, 5);
    expect(got.map((c) => c.signature)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(new Set(got.map((c) => c.event.id))).toEqual(new Set(events.map((e) => e.id)));
    const headers = got[0]!.headers;
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-callwake-tenant']).toBe('acme');
    expect(headers['x-callwake-event-id']).toBe(got[0]!.event.id);
    expect(headers['x-callwake-event-type']).toBe(got[0]!.event.type);
  });

  it('unreachable, declined, and a tombstone (no event)', async () => {
    const dead = newToken();
    t.sim.markUnregistered(dead);
    const unreachableId = uniqueCallId();
    const u = await t.pbx.ring({ callId: unreachableId, from: { number: '+1555' }, devices: [inline(dead)] });
    expect(u.body.status).toBe('unreachable');
    expect((await eventsOf(u.body.callUuid, 1)).map((e) => [e.sequence, e.type, e.call?.status])).toEqual([
      [1, 'call.unreachable', 'unreachable'],
    ]);

    const { callId, callUuid, callTokens } = await ring(2);
    await t.app.decline(callId, callTokens[0]!);
    await t.pbx.cancel(callId); // a declined call keeps its state: no event
    const events = await eventsOf(callUuid, 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(published(callUuid).map((e) => [e.sequence, e.type])).toEqual([
      [1, 'call.ringing'],
      [2, 'call.declined'],
    ]);
    expect(events[1]!.deviceId).toBe((await t.pbx.view(callId)).body.declinedBy);

    const tombstoned = uniqueCallId();
    const cancel = await t.pbx.cancel(tombstoned);
    await new Promise((r) => setTimeout(r, 400));
    expect(published(cancel.body.callUuid)).toEqual([]);
  });

  it('call.expired within 2 s of expiresAt, and device.pruned with Apple’s reason', async () => {
    const hook = await receiver();
    await t.pbx.putWebhook({ url: hook.url, events: ['call.expired', 'device.pruned'] });
    const live = newToken();
    const dead = newToken();
    t.sim.injectFault({ token: dead, status: 400, reason: 'BadDeviceToken', times: 2 });
    expect((await t.pbx.putDevice('ann', 'ann-ipad', deviceBody(dead))).status).toBe(201);
    const callId = uniqueCallId();
    const r = await t.pbx.ring({
      callId,
      from: { number: '+1555' },
      to: { userId: 'ann' },
      devices: [inline(live)],
      ringTimeoutSeconds: 5,
    });
    expect(r.body.status).toBe('ringing');
    const callUuid = r.body.callUuid as string;
    const expiresAt = Date.parse(r.body.expiresAt);

    const [pruned] = await hook.waitFor((c) => c.event.type === 'device.pruned' && c.event.callUuid === callUuid);
    expect(pruned!.event).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'device.pruned',
      tenantId: 'acme',
      occurredAt: expect.any(String),
      callId,
      callUuid,
      userId: 'ann',
      deviceId: 'ann-ipad',
      reason: 'BadDeviceToken',
    });
    const [expired] = await hook.waitFor(
      (c) => c.event.type === 'call.expired' && c.event.callUuid === callUuid,
      1,
      9000,
    );
    expect(expired!.event).toMatchObject({ sequence: 2, call: { status: 'expired', endReason: 'unanswered' } });
    const publishedExpired = published(callUuid).find((e) => e.type === 'call.expired')!;
    expect(publishedExpired).toBeDefined();
    expect(expired!.at - expiresAt).toBeLessThan(2000);
    expect(expired!.at - expiresAt).toBeGreaterThanOrEqual(0);
    // Only the filtered types reached the callback; the publisher had the ringing event too.
    expect(
      hook.received
        .filter((c) => c.event.callUuid === callUuid)
        .map((c) => c.event.type)
        .sort(),
    ).toEqual(['call.expired', 'device.pruned']);
    expect(published(callUuid).map((e) => e.type)).toContain('call.ringing');
  }, 15_000);

  it('a filter delivers only its types, and sequence still counts every event', async () => {
    const hook = await receiver();
    await t.pbx.putWebhook({ url: hook.url, events: ['call.answered'] });
    const { callId, callUuid, callTokens } = await ring();
    await t.app.confirm(callId, callTokens[0]!);
    await t.app.answer(callId, callTokens[0]!);
    const [answered] = await hook.waitFor((c) => c.event.callUuid === callUuid);
    expect(answered!.event).toMatchObject({ type: 'call.answered', sequence: 3 });
    await t.stack.events!.settled();
    expect(hook.received.filter((c) => c.event.callUuid === callUuid)).toHaveLength(1);
  });

  it('a webhook change applies to the events of changes made after its answer', async () => {
    const first = await receiver();
    const second = await receiver();
    await t.pbx.putWebhook({ url: first.url });
    const { callId, callUuid, callTokens } = await ring();
    await first.waitFor((c) => c.event.callUuid === callUuid && c.event.type === 'call.ringing');
    await t.pbx.putWebhook({ url: second.url });
    await t.app.answer(callId, callTokens[0]!);
    await second.waitFor((c) => c.event.callUuid === callUuid && c.event.type === 'call.answered');
    await t.stack.events!.settled();
    expect(first.received.filter((c) => c.event.type === 'call.answered' && c.event.callUuid === callUuid)).toEqual([]);
  });

  it('tenants are isolated: each gets its own events, signed with its own secret', async () => {
    const acme = await receiver();
    const globex = await receiver();
    await t.pbx.putWebhook({ url: acme.url });
    await t.other.putWebhook({ url: globex.url });
    const callId = uniqueCallId();
    const tok = newToken();
    const a = await t.pbx.ring({ callId, from: { number: '+1' }, devices: [inline(tok)] });
    const g = await t.other.ring({ callId, from: { number: '+1' }, devices: [inline(newToken())] });
    await acme.waitFor((c) => c.event.callUuid === a.body.callUuid);
    const [fromGlobex] = await globex.waitFor((c) => c.event.callUuid === g.body.callUuid);
    expect(fromGlobex!.headers['x-callwake-tenant']).toBe('globex');
    expect(fromGlobex!.signature).toBe('ok');
    await t.stack.events!.settled();
    expect(acme.received.every((c) => c.event.tenantId === 'acme')).toBe(true);
    expect(globex.received.every((c) => c.event.tenantId === 'globex')).toBe(true);
  });
});

describe('callback delivery', () => {
  async function deliveryTimeline(react: (c: ReceivedCallback, i: number) => Reaction, count: number) {
    const hook = await receiver(react);
    await t.pbx.putWebhook({ url: hook.url, events: ['call.ringing'] });
    const { callUuid } = await ring();
    return hook.waitFor((c) => c.event.callUuid === callUuid, count, 8000);
  }

  it.each([
    ['a 500', { kind: 'status', status: 500 } as Reaction],
    ['a redirect', { kind: 'redirect', location: 'https://elsewhere.example.com/' } as Reaction],
    ['a closed connection', { kind: 'close' } as Reaction],
    ['no answer within the attempt timeout', { kind: 'hang' } as Reaction],
  ])('after %s the same event (same id) is retried, the first retry within 2 s', async (_what, failure) => {
    const got = await deliveryTimeline((_c, i) => (i === 0 ? failure : { kind: 'status', status: 200 }), 2);
    expect(got[1]!.event.id).toBe(got[0]!.event.id);
    expect(got[1]!.headers['x-callwake-event-id']).toBe(got[0]!.event.id);
    expect(got.map((c) => c.signature)).toEqual(['ok', 'ok']);
    // The failed attempt ended at its answer, or at the attempt timeout when it hung.
    const failedEnd = got[0]!.at + (failure.kind === 'hang' ? RETRY.attemptTimeoutMs : 0);
    expect(got[1]!.at - failedEnd).toBeLessThan(2000);
  });

  it('a huge answer body is not read, and a 2xx of any kind acknowledges', async () => {
    const got = await deliveryTimeline(() => ({ kind: 'status', status: 202, body: 'x'.repeat(5_000_000) }), 1);
    await t.stack.events!.settled();
    expect(got).toHaveLength(1);
  });

  it('after a refused connection the event is retried, then dead-lettered when retries run out', async () => {
    const hook = await receiver();
    const url = hook.url;
    await hook.stop();
    receivers.splice(receivers.indexOf(hook), 1);
    await t.pbx.putWebhook({ url, events: ['call.ringing'] });
    const { callUuid } = await ring();
    const deadline = Date.now() + 12_000;
    const dead = () => t.stack.events!.deadLetters.filter((d) => d.event.callUuid === callUuid);
    while (dead().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(dead()).toHaveLength(1);
    expect(dead()[0]!.attempts).toBeGreaterThanOrEqual(3);
    expect(dead()[0]!.event.type).toBe('call.ringing');
  }, 15_000);

  it('a receiver that hangs delays neither another tenant’s callbacks nor any request', async () => {
    const slow = await receiver(() => ({ kind: 'hang' }));
    const fast = await receiver();
    await t.pbx.putWebhook({ url: slow.url });
    await t.other.putWebhook({ url: fast.url });
    const a = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
    expect(a.ms).toBeLessThan(1000);
    const callId = uniqueCallId();
    const started = Date.now();
    const g = await t.other.ring({ callId, from: { number: '+1' }, devices: [inline(newToken())] });
    const [got] = await fast.waitFor((c) => c.event.callUuid === g.body.callUuid);
    expect(got!.at - started).toBeLessThan(1000);
    const cancel = await t.pbx.cancel(a.body.callId);
    expect(cancel.ms).toBeLessThan(1000);
  });
});
