/**
 * APNs faults seen from the PBX: the real webhook over HTTP, DynamoDB Local, and the APNs
 * simulator injecting each fault for one device token. For each fault: what the PBX's answer
 * says, how many requests reached APNs and how they were spaced, and when the webhook gave up.
 *
 * Faults that only touch their own stream (answers, resets, delays) are injected for their own
 * token: the quick ones run one after another, the slow ones (up to the deadline) together.
 * Faults that break the shared connection run one at a time. The fault matrix is printed from
 * afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Fault, ReceivedPush } from '../../local/apns-simulator/index.js';
import type { Reply } from '../../local/clients.js';
import { deviceBody, inline, newToken, uniqueCallId } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/** The push deadline of this stack: the webhook must answer within it plus one second. */
const DEADLINE = 3000;
const ANSWER_LIMIT = DEADLINE + 1000;

/** Apple's answers that no retry can fix. */
const PERMANENT: Array<[number, string]> = [
  [400, 'BadDeviceToken'],
  [410, 'Unregistered'],
  [400, 'DeviceTokenNotForTopic'],
  [413, 'PayloadTooLarge'],
  [400, 'BadTopic'],
  [400, 'TopicDisallowed'],
  [400, 'BadExpirationDate'],
  [403, 'Forbidden'],
];

let t: TestStack;

interface Outcome {
  fault: string;
  tokens: string[];
  reply: Reply;
  /** Webhook wall time (ms), as the PBX saw it. */
  ms: number;
  /** Requests the simulator recorded for the first token (after settling). */
  attempts: ReceivedPush[];
  /** Gaps between consecutive attempts, by the simulator's receive times (ms). */
  gaps: number[];
  connectionsOpened?: number;
  uncounted?: boolean;
}

interface RingOptions {
  devices?: number;
  settleMs?: number;
  warm?: boolean;
  /** Faults whose requests the simulator holds past the test: attempts cannot be counted. */
  uncounted?: boolean;
}

const matrix = new Map<string, Outcome>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Injects `faults(token)` for fresh device tokens, rings them inline, and waits `settleMs` after
 * the answer so that requests still held by a simulator delay are recorded too.
 */
async function ringWith(
  fault: string,
  faults: (token: string) => Array<Omit<Fault, 'token'>>,
  o: RingOptions = {},
): Promise<Outcome> {
  if (o.warm) {
    // a live connection to start from, so that "new connections" counts only this fault's
    const warm = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
    expect(warm.body.status).toBe('ringing');
  }
  const tokens = Array.from({ length: o.devices ?? 1 }, () => newToken());
  for (const token of tokens) for (const f of faults(token)) t.sim.injectFault({ token, ...f });
  const connectionsBefore = t.sim.connectionCount();
  const started = performance.now();
  const reply = await t.pbx.ring({
    callId: uniqueCallId(),
    from: { number: '+15551230000' },
    devices: tokens.map((tk) => inline(tk)),
    ringTimeoutSeconds: 60,
  });
  const ms = performance.now() - started;
  if (o.settleMs) await sleep(o.settleMs);
  // by arrival: a request held by a delay is recorded late
  const attempts = t.sim.pushesFor(tokens[0]!).sort((a, b) => a.at - b.at);
  const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
  const out: Outcome = {
    fault,
    tokens,
    reply,
    ms,
    attempts,
    gaps,
    connectionsOpened: t.sim.connectionCount() - connectionsBefore,
    ...(o.uncounted ? { uncounted: true } : {}),
  };
  matrix.set(fault, out);
  return out;
}

/** What the PBX got, in one object so that a failure shows all of it. */
function pbxGot(o: Outcome, device = 0) {
  const d = o.reply.body?.deliveries?.[device];
  return { http: o.reply.status, status: o.reply.body?.status, result: d?.result, reason: d?.reason ?? null };
}

const sent = { http: 201, status: 'ringing', result: 'sent', reason: null };
const failed = (reason: string) => ({ http: 201, status: 'unreachable', result: 'failed', reason });
const outcomesOf = (o: Outcome) =>
  o.attempts.map((a) => (a.status === 0 ? (a.reason ?? 'no answer') : a.reason ? `${a.status} ${a.reason}` : a.status));

beforeAll(async () => {
  t = await startTestStack({ pushDeadlineMs: DEADLINE });
  // A warm connection and a provider token, so the first scenario does not pay for them.
  const warm = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
  expect(warm.body.status).toBe('ringing');
});

afterAll(async () => {
  await t?.stop();
  const rows = [...matrix.values()].map((o) => {
    const g = pbxGot(o);
    const got =
      `${g.http} ${g.status}: ${g.result}${g.reason ? ` ${g.reason}` : ''}` +
      (o.tokens.length > 1 ? ` (x${o.tokens.length} devices)` : '');
    const spacing = o.gaps.length > 0 ? o.gaps.map((x) => Math.round(x)).join('/') : '-';
    return [
      o.fault,
      got,
      o.uncounted ? 'n/a' : String(o.attempts.length),
      o.uncounted ? 'n/a' : spacing,
      String(Math.round(o.ms)),
      String(o.connectionsOpened ?? ''),
    ];
  });
  const head = ['fault', 'PBX got', 'attempts', 'gaps ms', 'webhook ms', 'new conns'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(
    [
      `APNs fault matrix (push deadline ${DEADLINE} ms; answer limit ${ANSWER_LIMIT} ms)`,
      line(head),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.map(line),
    ].join('\n'),
  );
});

describe('faults on one stream (one token each)', () => {
  // Quick faults run one after another (their timings are clean); slow ones then run together.
  // More than ten requests timing out at once on one connection is a fault of its own (below): kept apart.
  const quick: Array<() => Promise<Outcome>> = [];
  const slow: Array<() => Promise<Outcome>> = [];
  const alone: Array<() => Promise<Outcome>> = [];
  const results = new Map<string, Promise<Outcome>>();
  const scenario = (
    name: string,
    faults: (token: string) => Array<Omit<Fault, 'token'>>,
    o: RingOptions & { slow?: boolean; alone?: boolean } = {},
  ) => {
    let settle!: (o: Promise<Outcome>) => void;
    results.set(name, new Promise<Outcome>((r) => (settle = (p) => r(p))));
    (o.alone ? alone : o.slow ? slow : quick).push(() => {
      const p = ringWith(name, faults, o);
      settle(p);
      return p;
    });
  };
  const result = (name: string) => results.get(name)!;
  // A request held by a simulator delay is recorded when the delay ends: wait for it.
  const HUNG_SETTLE = 4500;

  beforeAll(async () => {
    scenario('no fault (baseline)', () => []);
    scenario('429 once', () => [{ status: 429 }]);
    scenario('500 once', () => [{ status: 500 }]);
    scenario('503 once', () => [{ status: 503 }]);
    scenario('429 always', () => [{ status: 429, times: 1000 }], { slow: true });
    scenario('500 always', () => [{ status: 500, times: 1000 }], { slow: true });
    scenario('503 always', () => [{ status: 503, times: 1000 }], { slow: true });
    scenario('429 Retry-After 1 s, once', () => [{ status: 429, retryAfterSeconds: 1 }], { slow: true });
    scenario('503 Retry-After 10 s (> deadline)', () => [{ status: 503, retryAfterSeconds: 10, times: 1000 }], {
      settleMs: 300,
    });
    scenario(
      '429 Retry-After 2 s after 1.5 s (> remaining)',
      () => [{ status: 429, retryAfterSeconds: 2, delayMs: 1500, times: 1000 }],
      { settleMs: 300, slow: true },
    );
    scenario('stream reset once', () => [{ resetStream: true }]);
    scenario('stream reset always', () => [{ resetStream: true, times: 1000 }], { slow: true });
    scenario('APNs hangs once (4 s)', () => [{ delayMs: 4000 }], { settleMs: HUNG_SETTLE, slow: true });
    scenario('APNs always hangs (4 s each)', () => [{ delayMs: 4000, times: 1000 }], {
      settleMs: HUNG_SETTLE,
      slow: true,
    });
    scenario('APNs hangs for 10 devices (30 s each)', () => [{ delayMs: 30_000, times: 1000 }], {
      devices: 10,
      alone: true,
      uncounted: true,
    });
    scenario('403 ExpiredProviderToken once', () => [{ status: 403, reason: 'ExpiredProviderToken' }]);
    scenario('403 InvalidProviderToken once', () => [{ status: 403, reason: 'InvalidProviderToken' }]);
    scenario('403 ExpiredProviderToken always', () => [{ status: 403, reason: 'ExpiredProviderToken', times: 1000 }], {
      settleMs: 300,
    });
    for (const [status, reason] of PERMANENT)
      scenario(`${status} ${reason}`, () => [{ status, reason, times: 1000 }], { settleMs: 300 });
    for (const run of quick) await run();
    await Promise.all(slow.map((run) => run()));
    for (const run of alone) await run();
  }, 30_000);

  it('baseline: no fault, one request, ringing', async () => {
    const o = await result('no fault (baseline)');
    expect(pbxGot(o)).toEqual(sent);
    expect(o.attempts).toHaveLength(1);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it.each(['429 once', '500 once', '503 once'])(
    '%s: retried after a backoff, the second attempt is sent: ringing',
    async (name) => {
      const o = await result(name);
      expect(pbxGot(o)).toEqual(sent);
      expect(o.attempts).toHaveLength(2);
      expect(o.attempts[1]!.status).toBe(200);
      expect(o.gaps[0]).toBeGreaterThanOrEqual(40); // a backoff, not a tight loop
      expect(o.gaps[0]).toBeLessThan(1000);
      expect(o.ms).toBeLessThan(ANSWER_LIMIT);
    },
  );

  it.each([
    ['429 always', 'TooManyRequests'],
    ['500 always', 'InternalServerError'],
    ['503 always', 'ServiceUnavailable'],
  ])(
    "%s: retried with growing backoff inside the deadline, then failed with Apple's reason %s: unreachable",
    async (name, reason) => {
      const o = await result(name);
      expect(pbxGot(o)).toEqual(failed(reason));
      expect(o.attempts.length).toBeGreaterThanOrEqual(3);
      expect(o.attempts.length).toBeLessThanOrEqual(15);
      for (const g of o.gaps) expect(g).toBeGreaterThanOrEqual(40);
      expect(o.gaps[o.gaps.length - 1]!).toBeGreaterThan(o.gaps[0]!); // exponential
      // every attempt inside the push deadline
      expect(o.attempts[o.attempts.length - 1]!.at - o.attempts[0]!.at).toBeLessThan(DEADLINE);
      expect(o.ms).toBeLessThan(ANSWER_LIMIT);
    },
  );

  it('429 with Retry-After 1 s: the second attempt is not sent before 1 s, then ringing', async () => {
    const o = await result('429 Retry-After 1 s, once');
    expect(pbxGot(o)).toEqual(sent);
    expect(o.attempts).toHaveLength(2);
    expect(o.gaps[0]).toBeGreaterThanOrEqual(990);
    expect(o.gaps[0]).toBeLessThan(DEADLINE);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('503 with Retry-After beyond the push deadline: gives up at once with the reason, does not wait', async () => {
    const o = await result('503 Retry-After 10 s (> deadline)');
    expect(pbxGot(o)).toEqual(failed('ServiceUnavailable'));
    expect(o.attempts).toHaveLength(1);
    expect(o.ms).toBeLessThan(1000); // far below the deadline
  });

  it('429 with Retry-After beyond what remains of the deadline: gives up when told, not at the deadline', async () => {
    const o = await result('429 Retry-After 2 s after 1.5 s (> remaining)');
    expect(pbxGot(o)).toEqual(failed('TooManyRequests'));
    expect(o.attempts).toHaveLength(1);
    expect(o.ms).toBeGreaterThanOrEqual(1500);
    expect(o.ms).toBeLessThan(DEADLINE - 300);
  });

  it('a reset stream is retried: ringing', async () => {
    const o = await result('stream reset once');
    expect(pbxGot(o)).toEqual(sent);
    expect(outcomesOf(o)).toEqual(['fault:resetStream', 200]);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('streams reset every time: failed ConnectionError (Apple never answered), inside the deadline', async () => {
    const o = await result('stream reset always');
    expect(pbxGot(o)).toEqual(failed('ConnectionError'));
    expect(o.attempts.length).toBeGreaterThanOrEqual(3);
    expect(o.attempts.length).toBeLessThanOrEqual(15);
    for (const g of o.gaps) expect(g).toBeGreaterThanOrEqual(40);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('one attempt that APNs never answers is timed out and retried inside the deadline: ringing', async () => {
    const o = await result('APNs hangs once (4 s)');
    expect(pbxGot(o)).toEqual(sent);
    expect(o.attempts.length).toBeGreaterThanOrEqual(2);
    expect(o.attempts.filter((a) => a.status === 200)).toHaveLength(1);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('APNs that never answers: failed Timeout, the webhook answers within the deadline + 1 s', async () => {
    const o = await result('APNs always hangs (4 s each)');
    expect(pbxGot(o)).toEqual(failed('Timeout'));
    expect(o.attempts.length).toBeGreaterThanOrEqual(1);
    expect(o.attempts.every((a) => a.status === 0)).toBe(true);
    expect(o.ms).toBeGreaterThanOrEqual(DEADLINE - 100); // it waited for Apple as long as allowed
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('ten devices that APNs never answers: every one Timeout, still within the deadline + 1 s', async () => {
    const o = await result('APNs hangs for 10 devices (30 s each)');
    expect(o.reply.status).toBe(201);
    expect(o.reply.body.status).toBe('unreachable');
    expect(o.reply.body.deliveries.map((d: any) => `${d.result} ${d.reason}`)).toEqual(
      Array(10).fill('failed Timeout'),
    );
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it.each(['ExpiredProviderToken', 'InvalidProviderToken'])(
    '403 %s once: a fresh provider token, the retried request carries a different JWT: ringing',
    async (reason) => {
      const o = await result(`403 ${reason} once`);
      expect(pbxGot(o)).toEqual(sent);
      expect(outcomesOf(o)).toEqual([`403 ${reason}`, 200]);
      const [first, second] = o.attempts.map((a) => a.headers['authorization']);
      expect(second).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      expect(second).not.toBe(first);
      expect(o.ms).toBeLessThan(ANSWER_LIMIT);
    },
  );

  it('403 ExpiredProviderToken again after the refresh: refreshed once only, failed ExpiredProviderToken after two requests', async () => {
    const o = await result('403 ExpiredProviderToken always');
    expect(pbxGot(o)).toEqual(failed('ExpiredProviderToken'));
    expect(o.attempts).toHaveLength(2);
    expect(o.attempts[1]!.headers['authorization']).not.toBe(o.attempts[0]!.headers['authorization']);
    expect(o.ms).toBeLessThan(1000);
  });

  it.each(PERMANENT.map(([status, reason]) => [`${status} ${reason}`, reason]))(
    '%s is never retried: exactly one request, failed %s, answered at once',
    async (name, reason) => {
      const o = await result(name);
      expect(pbxGot(o)).toEqual(failed(reason));
      expect(o.attempts).toHaveLength(1);
      expect(o.ms).toBeLessThan(1000);
    },
  );
});

describe('faults on the connection (one at a time)', () => {
  it('GOAWAY: retried on a new connection: ringing', async () => {
    const o = await ringWith('GOAWAY once', () => [{ goaway: true }], { warm: true });
    expect(pbxGot(o)).toEqual(sent);
    expect(outcomesOf(o)).toEqual(['fault:goaway', 200]);
    expect(o.connectionsOpened).toBe(1);
    expect(o.ms).toBeLessThan(1000);
  });

  it('GOAWAY on every connection: failed (Apple never answered the push) inside the deadline, reconnects spaced by the backoff', async () => {
    const o = await ringWith('GOAWAY always', () => [{ goaway: true, times: 1000 }], { warm: true });
    const got = pbxGot(o);
    expect({ ...got, reason: null }).toEqual({ ...failed('x'), reason: null });
    expect(['ConnectionError', 'Shutdown']).toContain(got.reason);
    expect(o.attempts.length).toBeGreaterThanOrEqual(2);
    expect(o.attempts.length).toBeLessThanOrEqual(15);
    for (const g of o.gaps) expect(g).toBeGreaterThanOrEqual(40);
    expect(o.connectionsOpened!).toBeLessThanOrEqual(o.attempts.length);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('a connection dropped mid-request: retried on a new connection: ringing', async () => {
    const o = await ringWith('connection dropped once', () => [{ dropConnection: true }], { warm: true });
    expect(pbxGot(o)).toEqual(sent);
    expect(outcomesOf(o)).toEqual(['fault:dropConnection', 200]);
    expect(o.connectionsOpened).toBe(1);
    expect(o.ms).toBeLessThan(1000);
  });

  it('every connection dropped: failed ConnectionError inside the deadline, no reconnect loop', async () => {
    const o = await ringWith('connection dropped always', () => [{ dropConnection: true, times: 1000 }], {
      warm: true,
    });
    expect(pbxGot(o)).toEqual(failed('ConnectionError'));
    expect(o.attempts.length).toBeGreaterThanOrEqual(2);
    expect(o.attempts.length).toBeLessThanOrEqual(15);
    for (const g of o.gaps) expect(g).toBeGreaterThanOrEqual(40);
    expect(o.connectionsOpened!).toBeLessThanOrEqual(o.attempts.length);
    expect(o.ms).toBeLessThan(ANSWER_LIMIT);
  });

  it('a connection that died while idle: the next ring pushes in one attempt plus a reconnect, far below the deadline', async () => {
    const warm = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
    expect(warm.body.status).toBe('ringing');
    t.sim.dropAllConnections();
    await sleep(100);
    const o = await ringWith('idle connection died (dropAllConnections)', () => []);
    expect(pbxGot(o)).toEqual(sent);
    expect(o.attempts.filter((a) => a.status === 200)).toHaveLength(1);
    expect(o.connectionsOpened).toBe(1);
    expect(o.ms).toBeLessThan(1000);
  });

  it('many requests timing out at once on a healthy connection do not tear it down under the other pushes', async () => {
    // One ring to a user with 12 registered devices that APNs holds: 12 requests time out together.
    // Meanwhile another ring's push is answered by APNs after 1 s. APNs is slow, not gone: the
    // connection stays, and that push is accepted on its first request.
    const user = `storm-${Date.now().toString(36)}`;
    const hung = Array.from({ length: 12 }, () => newToken());
    for (const [i, tk] of hung.entries()) {
      const put = await t.pbx.putDevice(user, `d${i}`, deviceBody(tk));
      expect(put.status).toBe(201);
      t.sim.injectFault({ token: tk, delayMs: 30_000, times: 1000 });
    }
    const warm = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
    expect(warm.body.status).toBe('ringing');
    const before = t.sim.connectionCount();
    const started = performance.now();
    const storm = t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: user } });
    await sleep(1500);
    const slowOk = newToken();
    t.sim.injectFault({ token: slowOk, delayMs: 1000 });
    const r = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(slowOk)] });
    const a = await storm;
    const wall = performance.now() - started;
    await sleep(1200); // a request aborted during its delay is recorded when the delay ends
    const attempts = t.sim.pushesFor(slowOk).sort((x, y) => x.at - y.at);
    const name = '12 timeouts at once + a slow (1 s) healthy push';
    matrix.set(name, {
      fault: name,
      tokens: [slowOk],
      reply: r,
      ms: r.ms,
      attempts,
      gaps: attempts.slice(1).map((x, i) => x.at - attempts[i]!.at),
      connectionsOpened: t.sim.connectionCount() - before,
    });
    expect(a.body.status).toBe('unreachable');
    expect(wall).toBeLessThan(ANSWER_LIMIT);
    expect(pbxGot({ reply: r } as Outcome)).toEqual(sent);
    expect({
      // Apple never answered them: each a timeout, none cut short by a connection we closed ourselves
      stormDeliveries: a.body.deliveries.map((d: any) => `${d.result} ${d.reason}`),
      slowPushRequests: attempts.map((x) => x.reason ?? x.status),
      newConnections: t.sim.connectionCount() - before,
    }).toEqual({ stormDeliveries: Array(12).fill('failed Timeout'), slowPushRequests: [200], newConnections: 0 });
  });

  it('ExpiredProviderToken for five devices at once: one fresh provider token, not one per device', async () => {
    const warm = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
    expect(warm.body.status).toBe('ringing');
    const tokens = Array.from({ length: 5 }, () => newToken());
    for (const tk of tokens) t.sim.injectFault({ token: tk, status: 403, reason: 'ExpiredProviderToken' });
    const r = await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1' },
      devices: tokens.map((tk) => inline(tk)),
    });
    expect(r.body.status).toBe('ringing');
    expect(r.body.deliveries.map((d: any) => d.result)).toEqual(Array(5).fill('sent'));
    const requests = tokens.flatMap((tk) => t.sim.pushesFor(tk));
    const rejected = new Set(requests.filter((x) => x.status === 403).map((x) => x.headers['authorization']));
    const retried = new Set(requests.filter((x) => x.status === 200).map((x) => x.headers['authorization']));
    expect({ rejectedJwts: rejected.size, freshJwts: retried.size }).toEqual({ rejectedJwts: 1, freshJwts: 1 });
    expect([...retried][0]).not.toBe([...rejected][0]);
  });

  it('connections are reused across webhooks, sequential and concurrent', async () => {
    const warm = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] });
    expect(warm.body.status).toBe('ringing');
    const before = t.sim.connectionCount();
    for (let i = 0; i < 5; i++) {
      const r = await t.pbx.ring({
        callId: uniqueCallId(),
        from: { number: '+1' },
        devices: [inline(newToken()), inline(newToken())],
      });
      expect(r.body.status).toBe('ringing');
    }
    const all = await Promise.all(
      Array.from({ length: 5 }, () =>
        t.pbx.ring({
          callId: uniqueCallId(),
          from: { number: '+1' },
          devices: [inline(newToken()), inline(newToken())],
        }),
      ),
    );
    expect(all.map((r) => r.body.status)).toEqual(Array(5).fill('ringing'));
    expect(t.sim.connectionCount() - before).toBe(0);
  });
});
