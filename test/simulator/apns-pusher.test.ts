/**
 * ApnsPusher driven directly against the APNs simulator over real sockets (HTTP/2 + TLS), built
 * the way local/stack.ts builds it. Exact attempt counts, spacing and give-up times, one fault at
 * a time, without the webhook around it.
 */
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ProviderTokens, teamKeyOf } from '../../functions/adapters/apns-jwt.js';
import { ApnsPusher } from '../../functions/adapters/apns-pusher.js';
import type { PushOutcome, PushRequest } from '../../functions/core/ports.js';
import { silentLog } from '../../functions/core/ports.js';
import { ApnsSimulator, createSimulatorKey, type Fault, type ReceivedPush } from '../../local/apns-simulator/index.js';
import { newToken } from '../support/contract-helpers.js';

const TEAM = 'PUSHTEAM01';
const KEY_ID = 'PUSHKEY001';
const TOPIC = 'com.example.phone.voip';

let sim: ApnsSimulator;
let pusher: ApnsPusher;
const extra: Array<{ close(): void }> = [];

const key = createSimulatorKey(TEAM, KEY_ID);

/** Each pusher has its own token cache, all signed with the one key the simulator trusts. */
function buildPusher(hostOverride: string): ApnsPusher {
  const tokens = new ProviderTokens(new Map([[key.teamId, teamKeyOf(key.teamId, key.keyId, key.privateKeyPem)]]), {
    now: Date.now,
  });
  return new ApnsPusher({ tokens, hostOverride, ca: sim.caPem, log: silentLog });
}

beforeAll(async () => {
  sim = await ApnsSimulator.start();
  sim.trustKey(key.teamId, key.keyId, key.publicKey);
  pusher = buildPusher(sim.address);
});
afterAll(async () => {
  pusher?.close();
  for (const c of extra) c.close();
  await sim?.stop();
});
beforeEach(() => sim.clearFaults());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const request = (pushToken: string): PushRequest => ({
  pushToken,
  teamId: TEAM,
  environment: 'sandbox',
  pushType: 'voip',
  topic: TOPIC,
  expiration: 0,
  payload: JSON.stringify({ aps: {}, callwake: { v: 1, type: 'call' } }),
});

interface Sent {
  outcome: PushOutcome;
  /** Wall time of send(), ms. */
  ms: number;
  /** Requests the simulator recorded for the token. */
  attempts: ReceivedPush[];
  /** Gaps between consecutive attempts (simulator receive times), ms. */
  gaps: number[];
}

async function push(token: string, budgetMs: number, p: ApnsPusher = pusher, settleMs = 0): Promise<Sent> {
  const started = Date.now();
  const outcome = await p.send(request(token), started + budgetMs);
  const ms = Date.now() - started;
  if (settleMs > 0) await sleep(settleMs);
  const attempts = sim.pushesFor(token).sort((a, b) => a.at - b.at); // a request held by a delay is recorded late
  const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
  return { outcome, ms, attempts, gaps };
}

const withFault = (token: string, fault: Omit<Fault, 'token'>) => sim.injectFault({ token, ...fault });

describe('retryable answers: 429, 500, 503', () => {
  it.each([
    [429, 'TooManyRequests'],
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
  ])('one %i is retried after a backoff and the push is sent', async (status, reason) => {
    const token = newToken();
    withFault(token, { status });
    const r = await push(token, 2000);
    expect(r.outcome).toEqual({ result: 'sent', apnsId: expect.any(String) });
    expect(r.attempts.map((a) => [a.status, a.reason ?? null])).toEqual([
      [status, reason],
      [200, null],
    ]);
    // a backoff, not a tight loop (first step: 50-100 ms with the default 100 ms base)
    expect(r.gaps[0]).toBeGreaterThanOrEqual(40);
    expect(r.gaps[0]).toBeLessThan(500);
  });

  it('a persistent 500: exponential, jittered backoff inside the deadline, then failed InternalServerError', async () => {
    const token = newToken();
    withFault(token, { status: 500, times: 1000 });
    const r = await push(token, 2500);
    expect(r.outcome).toEqual({ result: 'failed', reason: 'InternalServerError', permanent: false });
    expect(r.attempts.length).toBeGreaterThanOrEqual(3);
    expect(r.attempts.length).toBeLessThanOrEqual(12);
    expect(r.ms).toBeLessThanOrEqual(2500 + 50);
    // the steps grow
    expect(r.gaps[r.gaps.length - 1]!).toBeGreaterThan(2 * r.gaps[0]!);
    for (const g of r.gaps) expect(g).toBeGreaterThanOrEqual(40);
  });

  it('the backoff is jittered: the first retry delay differs from push to push', async () => {
    const firstGaps: number[] = [];
    for (let i = 0; i < 8; i++) {
      const token = newToken();
      withFault(token, { status: 503 });
      const r = await push(token, 2000);
      expect(r.outcome.result).toBe('sent');
      firstGaps.push(r.gaps[0]!);
    }
    expect(Math.max(...firstGaps) - Math.min(...firstGaps)).toBeGreaterThanOrEqual(5);
  });
});

describe('Retry-After', () => {
  it('is honoured: the second attempt is not sent before the given seconds', async () => {
    const token = newToken();
    withFault(token, { status: 429, retryAfterSeconds: 1 });
    const r = await push(token, 2500);
    expect(r.outcome.result).toBe('sent');
    expect(r.attempts).toHaveLength(2);
    expect(r.gaps[0]).toBeGreaterThanOrEqual(990);
    expect(r.gaps[0]).toBeLessThan(1500);
  });

  it('longer than the whole deadline: gives up at once with the reason, never waits past the deadline', async () => {
    const token = newToken();
    withFault(token, { status: 503, retryAfterSeconds: 10 });
    const r = await push(token, 2000, pusher, 300);
    expect(r.outcome).toEqual({ result: 'failed', reason: 'ServiceUnavailable', permanent: false });
    expect(r.attempts).toHaveLength(1);
    expect(r.ms).toBeLessThan(300);
  });

  it('longer than the deadline that remains: gives up when told, not at the deadline', async () => {
    const token = newToken();
    withFault(token, { status: 429, retryAfterSeconds: 1, delayMs: 1200 });
    const r = await push(token, 2000, pusher, 300);
    expect(r.outcome).toEqual({ result: 'failed', reason: 'TooManyRequests', permanent: false });
    expect(r.attempts).toHaveLength(1);
    expect(r.ms).toBeGreaterThanOrEqual(1190);
    expect(r.ms).toBeLessThan(1600);
  });
});

describe('APNs never answers', () => {
  it('one attempt that hangs is timed out and retried inside the deadline: the push is sent', async () => {
    const token = newToken();
    withFault(token, { delayMs: 4000 });
    const r = await push(token, 3000);
    expect({
      outcome: r.outcome.result,
      ...(r.outcome.result === 'failed' ? { reason: r.outcome.reason } : {}),
    }).toEqual({ outcome: 'sent' });
    expect(r.ms).toBeLessThan(3000);
    expect(sim.pushesFor(token).filter((a) => a.status === 200)).toHaveLength(1);
  });

  it('an APNs that always hangs: failed Timeout, by the deadline and not later', async () => {
    const token = newToken();
    withFault(token, { delayMs: 30_000, times: 1000 });
    const r = await push(token, 1500);
    expect(r.outcome).toEqual({ result: 'failed', reason: 'Timeout', permanent: false });
    expect(r.ms).toBeGreaterThanOrEqual(1450);
    expect(r.ms).toBeLessThanOrEqual(1500 + 50);
  });

  it('a deadline already past: failed Timeout at once, nothing sent', async () => {
    const token = newToken();
    const started = Date.now();
    const outcome = await pusher.send(request(token), started - 1);
    expect(outcome).toEqual({ result: 'failed', reason: 'Timeout', permanent: false });
    expect(Date.now() - started).toBeLessThan(50);
    await sleep(100);
    expect(sim.pushesFor(token)).toHaveLength(0);
  });
});

describe('broken streams and connections', () => {
  it('a reset stream is retried: sent on the second attempt', async () => {
    const token = newToken();
    withFault(token, { resetStream: true });
    const r = await push(token, 2000);
    expect(r.outcome.result).toBe('sent');
    expect(r.attempts.map((a) => a.reason ?? a.status)).toEqual(['fault:resetStream', 200]);
    expect(r.gaps[0]).toBeGreaterThanOrEqual(40);
  });

  it('streams reset every time: failed ConnectionError inside the deadline', async () => {
    const token = newToken();
    withFault(token, { resetStream: true, times: 1000 });
    const r = await push(token, 1500);
    expect(r.outcome).toEqual({ result: 'failed', reason: 'ConnectionError', permanent: false });
    expect(r.attempts.length).toBeGreaterThanOrEqual(3);
    expect(r.attempts.length).toBeLessThanOrEqual(12);
    expect(r.ms).toBeLessThanOrEqual(1500 + 50);
  });

  it('GOAWAY: the push is retried on a new connection and sent', async () => {
    await push(newToken(), 2000); // a warm connection
    const before = sim.connectionCount();
    const token = newToken();
    withFault(token, { goaway: true });
    const r = await push(token, 2000);
    expect(r.outcome.result).toBe('sent');
    expect(r.attempts.map((a) => a.reason ?? a.status)).toEqual(['fault:goaway', 200]);
    expect(sim.connectionCount()).toBe(before + 1);
  });

  it('GOAWAY on every connection: failed (Apple never answered the push), no reconnect loop', async () => {
    const before = sim.connectionCount();
    const token = newToken();
    withFault(token, { goaway: true, times: 1000 });
    const r = await push(token, 1500);
    expect(r.outcome.result).toBe('failed');
    expect(['ConnectionError', 'Shutdown']).toContain((r.outcome as { reason: string }).reason);
    expect(r.attempts.length).toBeGreaterThanOrEqual(2);
    expect(r.attempts.length).toBeLessThanOrEqual(12);
    expect(sim.connectionCount() - before).toBeLessThanOrEqual(r.attempts.length);
    expect(r.ms).toBeLessThanOrEqual(1500 + 50);
  });

  it('a connection dropped mid-request: retried on a new connection and sent', async () => {
    await push(newToken(), 2000);
    const before = sim.connectionCount();
    const token = newToken();
    withFault(token, { dropConnection: true });
    const r = await push(token, 2000);
    expect(r.outcome.result).toBe('sent');
    expect(r.attempts.map((a) => a.reason ?? a.status)).toEqual(['fault:dropConnection', 200]);
    expect(sim.connectionCount()).toBe(before + 1);
    expect(r.ms).toBeLessThan(1000);
  });

  it('a connection that died while idle (TCP reset): the next push is sent in one attempt plus a reconnect', async () => {
    await push(newToken(), 2000);
    const before = sim.connectionCount();
    sim.dropAllConnections();
    await sleep(100);
    const token = newToken();
    const r = await push(token, 3000);
    expect(r.outcome.result).toBe('sent');
    expect(r.ms).toBeLessThan(1000);
    expect(r.attempts.filter((a) => a.status === 200)).toHaveLength(1);
    expect(sim.connectionCount()).toBe(before + 1);
  });

  it('a connection that died silently while idle (packets dropped, no reset): with the default 5 s deadline the next push is still sent', async () => {
    const proxy = await BlackholeProxy.start(sim.port);
    extra.push(proxy);
    const viaProxy = buildPusher(`127.0.0.1:${proxy.port}`);
    extra.push(viaProxy);
    expect((await push(newToken(), 2000, viaProxy)).outcome.result).toBe('sent');
    proxy.blackholeExisting(); // the NAT / firewall forgot the connection while the Lambda was frozen
    const token = newToken();
    const r = await push(token, 5000, viaProxy);
    expect({
      outcome: r.outcome.result,
      ...(r.outcome.result === 'failed' ? { reason: r.outcome.reason } : {}),
    }).toEqual({ outcome: 'sent' });
    expect(r.ms).toBeLessThan(5000);
    expect(proxy.connections).toBeGreaterThanOrEqual(2);
  });

  it('nothing listening / every connection refused: failed ConnectionError inside the deadline, reconnects spaced by the backoff', async () => {
    const refuser = await ClosingServer.start();
    extra.push(refuser);
    const p = buildPusher(`127.0.0.1:${refuser.port}`);
    extra.push(p);
    const token = newToken();
    const started = Date.now();
    const outcome = await p.send(request(token), started + 1500);
    const ms = Date.now() - started;
    expect(outcome).toEqual({ result: 'failed', reason: 'ConnectionError', permanent: false });
    expect(ms).toBeLessThanOrEqual(1500 + 50);
    expect(refuser.accepted).toBeGreaterThanOrEqual(2);
    expect(refuser.accepted).toBeLessThanOrEqual(12); // never a tight reconnect loop
  });
});

describe('timeouts on a healthy connection', () => {
  it('twelve requests timing out at once do not tear down the connection under a push in flight', async () => {
    await push(newToken(), 2000);
    const before = sim.connectionCount();
    const hung = Array.from({ length: 12 }, () => newToken());
    for (const tk of hung) withFault(tk, { delayMs: 30_000, times: 1000 });
    const started = Date.now();
    const hanging = hung.map((tk) => pusher.send(request(tk), started + 3000));
    await sleep(1500);
    const slowOk = newToken();
    withFault(slowOk, { delayMs: 1000 }); // answered 200 after 1 s, i.e. after the twelve time out
    const r = await push(slowOk, 3000, pusher, 600);
    const outcomes = await Promise.all(hanging);
    expect(r.outcome.result).toBe('sent');
    expect({
      hung: outcomes.map((o) => (o.result === 'failed' ? o.reason : o.result)),
      // its first request was answered: not aborted by a reconnect and sent again
      slowPushRequests: r.attempts.map((a) => a.reason ?? a.status),
      newConnections: sim.connectionCount() - before,
    }).toEqual({ hung: Array(12).fill('Timeout'), slowPushRequests: [200], newConnections: 0 });
  });
});

describe('provider token rejected', () => {
  it.each(['ExpiredProviderToken', 'InvalidProviderToken'])(
    '%s: a fresh token once, the retried request carries a different JWT, sent',
    async (reason) => {
      const token = newToken();
      withFault(token, { status: 403, reason });
      const r = await push(token, 2000);
      expect(r.outcome.result).toBe('sent');
      expect(r.attempts.map((a) => a.reason ?? a.status)).toEqual([reason, 200]);
      const [first, second] = r.attempts.map((a) => a.headers['authorization']);
      expect(second).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      expect(second).not.toBe(first);
      // the fresh token is kept: the next push uses it, not a third one
      const next = await push(newToken(), 2000);
      expect(next.attempts[0]!.headers['authorization']).toBe(second);
    },
  );

  it('rejected again after the refresh: failed with the reason after exactly two requests', async () => {
    const token = newToken();
    withFault(token, { status: 403, reason: 'ExpiredProviderToken', times: 5 });
    const r = await push(token, 2000, pusher, 300);
    expect(r.outcome).toEqual({ result: 'failed', reason: 'ExpiredProviderToken', permanent: false });
    expect(r.attempts).toHaveLength(2);
    expect(r.attempts[1]!.headers['authorization']).not.toBe(r.attempts[0]!.headers['authorization']);
  });
});

describe('permanent errors are never retried', () => {
  it.each([
    [400, 'BadDeviceToken', true],
    [410, 'Unregistered', true],
    [400, 'DeviceTokenNotForTopic', true],
    [413, 'PayloadTooLarge', false],
    [400, 'BadTopic', false],
    [400, 'TopicDisallowed', false],
    [400, 'BadExpirationDate', false],
    [400, 'BadPriority', false],
    [400, 'InvalidPushType', false],
    [400, 'MissingTopic', false],
    [403, 'Forbidden', false],
    [404, 'BadPath', false],
    [405, 'MethodNotAllowed', false],
  ])('%i %s: exactly one request, failed with the reason (permanent: %s)', async (status, reason, permanent) => {
    const token = newToken();
    withFault(token, { status, reason, times: 5 });
    const r = await push(token, 2000, pusher, 200);
    expect(r.outcome).toEqual({ result: 'failed', reason, permanent });
    expect(r.attempts).toHaveLength(1);
    expect(r.ms).toBeLessThan(300);
  });
});

describe('connections', () => {
  it('one connection is reused for sequential and concurrent pushes', async () => {
    await push(newToken(), 2000);
    const before = sim.connectionCount();
    for (let i = 0; i < 10; i++) expect((await push(newToken(), 2000)).outcome.result).toBe('sent');
    const all = await Promise.all(Array.from({ length: 20 }, () => push(newToken(), 2000)));
    expect(all.map((r) => r.outcome.result)).toEqual(Array(20).fill('sent'));
    expect(sim.connectionCount()).toBe(before);
  });
});

/** A TCP relay to the simulator whose existing connections can be made to drop every byte silently. */
class BlackholeProxy {
  connections = 0;
  private readonly pairs: Array<{ a: net.Socket; b: net.Socket; dead: boolean }> = [];
  private constructor(private readonly server: net.Server) {}

  static async start(targetPort: number): Promise<BlackholeProxy> {
    const server = net.createServer();
    const proxy = new BlackholeProxy(server);
    server.on('connection', (a) => {
      proxy.connections += 1;
      const b = net.connect(targetPort, '127.0.0.1');
      const pair = { a, b, dead: false };
      proxy.pairs.push(pair);
      a.on('data', (d) => void (pair.dead || b.write(d)));
      b.on('data', (d) => void (pair.dead || a.write(d)));
      for (const s of [a, b]) {
        s.on('error', () => undefined);
        s.on('close', () => {
          if (!pair.dead) {
            a.destroy();
            b.destroy();
          }
        });
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  blackholeExisting(): void {
    for (const p of this.pairs) p.dead = true;
  }

  close(): void {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    this.server.close();
  }
}

/** Accepts TCP connections and closes them at once: an endpoint that never lets a connection live. */
class ClosingServer {
  accepted = 0;
  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<ClosingServer> {
    const server = net.createServer();
    const s = new ClosingServer(server);
    server.on('connection', (sock) => {
      s.accepted += 1;
      sock.on('error', () => undefined);
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return s;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  close(): void {
    this.server.close();
  }
}
