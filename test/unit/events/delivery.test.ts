import { describe, expect, it } from '@jest/globals';
import type { Call } from '../../../functions/core/call.js';
import {
  backoffMs,
  CALLBACK_RETRY,
  type CallbackDeps,
  deliverCallback,
} from '../../../functions/core/deliver-callback.js';
import { dispatchChanges } from '../../../functions/core/dispatch-events.js';
import { type CallwakeEvent, EVENT_TYPES, eventsOfCallChange } from '../../../functions/core/events.js';
import { verifySignature } from '../../../functions/core/pbx-signature.js';
import type { CallbackDelivery, PostOutcome, Webhook } from '../../../functions/core/ports.js';
import { VirtualClock } from '../../support/fakes/clock.js';
import { FakeDeviceStore } from '../../support/fakes/device-store.js';
import { CapturedLog } from '../../support/fakes/log.js';
import { FakePusher } from '../../support/fakes/pusher.js';

/** The events use cases on in-memory ports: dispatching a batch, and delivering one callback. */

const call = (over: Partial<Call> = {}): Call => ({
  tenantId: 'acme',
  callId: 'c1@pbx',
  callUuid: 'uuid-1',
  status: 'ringing',
  tombstone: false,
  createdAt: 1_000,
  expiresAt: 61_000,
  lifetimeEnd: 3_661_000,
  caller: { number: '+1555' },
  hasVideo: false,
  devices: { d0: { deviceId: 'phone', pushType: 'voip', delivery: 'sent' } },
  ...over,
});

/** No end-of-call alerts in these batches: a pusher for no team. */
function noAlerts() {
  const clock = new VirtualClock();
  return {
    pusher: new FakePusher([], clock),
    devices: new FakeDeviceStore(),
    clock,
    log: new CapturedLog(),
    pushDeadlineMs: 1000,
  };
}

function dispatchWorld(webhooks: Record<string, Webhook> = {}) {
  const published: CallwakeEvent[] = [];
  const queued: { d: CallbackDelivery; delayMs: number }[] = [];
  const timers: [string, number][] = [];
  return {
    published,
    queued,
    timers,
    deps: {
      publisher: { publish: async (es: readonly CallwakeEvent[]) => void published.push(...es) },
      webhooks: {
        get: async (t: string) => webhooks[t],
        put: async () => undefined,
        remove: async () => undefined,
      },
      callbacks: {
        enqueue: async (ds: readonly CallbackDelivery[], delayMs: number) => {
          for (const d of ds) queued.push({ d, delayMs });
        },
        deadLetter: async () => undefined,
      },
      ringTimers: { schedule: async (u: string, at: number) => void timers.push([u, at]) },
      alerts: noAlerts(),
      log: new CapturedLog(),
    },
  };
}

describe('dispatching a batch of changes', () => {
  it('publishes every event, queues only what each tenant’s webhook takes, and starts ring timers', async () => {
    const w = dispatchWorld({
      acme: { url: 'https://acme.example.com/cw', events: ['call.answered'], updatedAt: 0 },
    });
    const ringing = call();
    const delivered = call({ answerStatus: 'ringing', deliveredAt: 1_050 });
    const answered = call({ ...delivered, status: 'answered', answeredBy: 'phone', answeredAt: 2_000 });
    const other = call({ tenantId: 'globex', callUuid: 'uuid-2', answerStatus: 'ringing', deliveredAt: 1_100 });
    const events = await dispatchChanges(w.deps, [
      { kind: 'call', before: undefined, after: ringing },
      { kind: 'call', before: ringing, after: delivered },
      { kind: 'call', before: delivered, after: answered },
      { kind: 'call', before: undefined, after: other },
    ]);
    expect(events.map((e) => [e.tenantId, e.type, e.sequence])).toEqual([
      ['acme', 'call.ringing', 1],
      ['acme', 'call.answered', 2],
      ['globex', 'call.ringing', 1],
    ]);
    expect(w.published).toEqual(events);
    expect(w.queued.map(({ d, delayMs }) => [d.tenantId, d.url, d.event.type, d.attempts, delayMs])).toEqual([
      ['acme', 'https://acme.example.com/cw', 'call.answered', 0, 0],
    ]);
    // A timer for each call that just began ringing, due at its ring end.
    expect(w.timers).toEqual([
      ['uuid-1', 61_000],
      ['uuid-2', 61_000],
    ]);
  });

  it('never starts a timer for a tombstone, a rejected call or an old call changing', async () => {
    const w = dispatchWorld();
    await dispatchChanges(w.deps, [
      { kind: 'call', before: undefined, after: call({ tombstone: true, status: 'cancelled', devices: {} }) },
      { kind: 'call', before: undefined, after: call({ status: 'rejected', rejectReason: 'blocked', devices: {} }) },
      { kind: 'call', before: call(), after: call({ answerStatus: 'ringing' }) },
    ]);
    expect(w.timers).toEqual([]);
  });

  it('a publisher failure fails the batch (it is retried whole; the ids stay the same)', async () => {
    const w = dispatchWorld();
    const failing = { ...w.deps, publisher: { publish: async () => Promise.reject(new Error('SNS down')) } };
    const change = {
      kind: 'call' as const,
      before: call(),
      after: call({ answerStatus: 'ringing', deliveredAt: 1_050 }),
    };
    await expect(dispatchChanges(failing, [change])).rejects.toThrow('SNS down');
    const [again] = await dispatchChanges(w.deps, [change]);
    expect(again!.id).toBe(eventsOfCallChange(change.before, change.after)[0]!.id);
  });

  it('a device.pruned goes to webhooks that take it (the default takes every type)', async () => {
    const w = dispatchWorld({ acme: { url: 'https://x.example.com/', events: [...EVENT_TYPES], updatedAt: 0 } });
    await dispatchChanges(w.deps, [
      {
        kind: 'pruned',
        record: {
          tenantId: 'acme',
          userId: 'u',
          deviceId: 'd',
          reason: 'Unregistered',
          callId: 'c',
          callUuid: 'x',
          at: 5,
        },
      },
    ]);
    expect(w.queued.map(({ d }) => d.event.type)).toEqual(['device.pruned']);
  });
});

function deliveryWorld(answers: PostOutcome[], secrets: Record<string, string[]> = { acme: ['first', 'second'] }) {
  const clock = new VirtualClock();
  const posts: { url: string; headers: Record<string, string>; body: string; at: number }[] = [];
  const queued: { d: CallbackDelivery; delayMs: number }[] = [];
  const dead: CallbackDelivery[] = [];
  const deps: CallbackDeps = {
    sender: {
      post: async (url, headers, body) => {
        posts.push({ url, headers, body, at: clock.now() });
        return answers.shift() ?? { ok: true, status: 204 };
      },
    },
    callbacks: {
      enqueue: async (ds, delayMs) => {
        for (const d of ds) queued.push({ d, delayMs });
      },
      deadLetter: async (d) => void dead.push(d),
    },
    tenantSecrets: async (t) => secrets[t],
    clock,
    timer: clock,
    random: () => 0.5,
    retry: CALLBACK_RETRY,
    log: new CapturedLog(),
  };
  return { deps, clock, posts, queued, dead };
}

const anEvent = eventsOfCallChange(call(), call({ answerStatus: 'ringing', deliveredAt: 1_050 }))[0]!;
const delivery = (over: Partial<CallbackDelivery> = {}): CallbackDelivery => ({
  tenantId: 'acme',
  url: 'https://pbx.example.com/callwake?tenant=acme',
  event: anEvent,
  attempts: 0,
  ...over,
});

describe('delivering a callback', () => {
  it('POSTs the event signed with the tenant’s first secret, with the contract’s headers', async () => {
    const w = deliveryWorld([]);
    expect(await deliverCallback(w.deps, delivery())).toBe('delivered');
    const [post] = w.posts;
    expect(JSON.parse(post!.body)).toEqual(anEvent);
    expect(post!.headers).toEqual({
      'content-type': 'application/json',
      'x-callwake-tenant': 'acme',
      'x-callwake-timestamp': String(Math.floor(w.clock.now() / 1000)),
      'x-callwake-event-id': anEvent.id,
      'x-callwake-event-type': 'call.ringing',
      'x-callwake-signature': expect.stringMatching(/^v1=[0-9a-f]{64}$/),
    });
    const verdict = verifySignature(
      {
        tenantId: 'acme',
        timestamp: post!.headers['x-callwake-timestamp'],
        signature: post!.headers['x-callwake-signature'],
        method: 'POST',
        paths: ['/callwake?tenant=acme'],
        body: Buffer.from(post!.body),
      },
      () => ['first'],
      w.clock.now(),
    );
    expect(verdict).toEqual({ ok: true, tenantId: 'acme' });
  });

  it('retries a first failure in the same run within a second, then queues the next with backoff', async () => {
    const w = deliveryWorld([
      { ok: false, status: 500 },
      { ok: false, error: 'ECONNREFUSED' },
    ]);
    expect(await deliverCallback(w.deps, delivery())).toBe('retrying');
    expect(w.posts).toHaveLength(2);
    const gap = w.posts[1]!.at - w.posts[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(500);
    expect(gap).toBeLessThanOrEqual(1000);
    expect(w.queued).toHaveLength(1);
    expect(w.queued[0]!.d).toMatchObject({ attempts: 2, firstAttemptAt: w.posts[0]!.at, event: { id: anEvent.id } });
    expect(w.queued[0]!.delayMs).toBe(backoffMs(CALLBACK_RETRY, 2, () => 0.5));
  });

  it('backs off exponentially with jitter up to 15 minutes', () => {
    const low = (n: number) => backoffMs(CALLBACK_RETRY, n, () => 0);
    const high = (n: number) => backoffMs(CALLBACK_RETRY, n, () => 1);
    expect([2, 3, 4, 5].map(high)).toEqual([2000, 4000, 8000, 16000]);
    expect([2, 3, 4, 5].map(low)).toEqual([1000, 2000, 4000, 8000]);
    expect(high(30)).toBe(15 * 60 * 1000);
    expect(low(30)).toBe(7.5 * 60 * 1000);
  });

  it('a queued retry that fails again is queued again, until a day after the first attempt: then dead-lettered', async () => {
    const w = deliveryWorld([
      { ok: false, status: 503 },
      { ok: false, status: 503 },
    ]);
    const first = w.clock.now();
    expect(await deliverCallback(w.deps, delivery({ attempts: 5, firstAttemptAt: first }))).toBe('retrying');
    expect(w.posts).toHaveLength(1); // only a first failure is retried in the same run
    w.clock.advance(24 * 60 * 60 * 1000);
    expect(await deliverCallback(w.deps, delivery({ attempts: 9, firstAttemptAt: first }))).toBe('dead-lettered');
    expect(w.dead).toEqual([expect.objectContaining({ attempts: 10, firstAttemptAt: first })]);
  });

  it('a tenant that no longer exists drops its deliveries', async () => {
    const w = deliveryWorld([], {});
    expect(await deliverCallback(w.deps, delivery())).toBe('dropped');
    expect(w.posts).toEqual([]);
  });
});
