import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { METRICS_NAMESPACE, metricsPort, powertoolsMetrics } from '../../functions/adapters/metrics.js';
import { deviceBody, inline, newToken, uniqueCallId } from '../support/contract-helpers.js';
import { RecordingMetrics } from '../support/fakes/metrics.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * What an operator sees of a call in CloudWatch: each use case reports its metrics through the
 * Metrics port (here recorded), and the deployed port writes them in the embedded metric format.
 */
let t: TestStack;
const metrics = new RecordingMetrics();
beforeAll(async () => {
  t = await startTestStack({
    events: { retry: { attemptTimeoutMs: 500, firstRetryMs: 200, baseMs: 100, maxMs: 200, giveUpAfterMs: 300 } },
    metrics,
  });
});
afterAll(async () => t.stop());

describe('a call’s metrics', () => {
  it('created, rung, pushes sent and failed by reason, push and webhook latency, confirm delay, answer', async () => {
    const dead = newToken();
    t.sim.markUnregistered(dead);
    const [a, b] = [newToken(), newToken()];
    const r = await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1' },
      devices: [inline(a), inline(b), inline(dead)],
    });
    const token = ((await t.sim.waitForPush(a)).payload as { callwake: { token: string } }).callwake.token;
    await t.app.confirm(r.body.callId, token);
    await t.app.answer(r.body.callId, token);
    expect(metrics.total('CallsCreated')).toBe(1);
    expect(metrics.total('CallsRung')).toBe(1);
    expect(metrics.total('PushesSent')).toBe(2);
    expect(metrics.total('PushesFailed', (d) => d.reason === 'Unregistered')).toBe(1);
    expect(metrics.total('PushLatency')).toBe(3);
    expect(metrics.total('WebhookLatency')).toBe(1);
    expect(metrics.total('ConfirmDelay')).toBe(1);
    expect(metrics.total('Answers')).toBe(1);
    expect(metrics.points.find((p) => p.name === 'CallsCreated')?.dimensions.tenant).toBe('acme');
  });

  it('unreachable, rejected, cancels, expiries, declines, waits and callbacks', async () => {
    const totalOf = (n: Parameters<RecordingMetrics['total']>[0]) => metrics.total(n);
    const [unreachable0, rejected0, cancels0, declines0, waits0, dead0] = [
      totalOf('CallsUnreachable'),
      totalOf('CallsRejected'),
      totalOf('Cancels'),
      totalOf('Declines'),
      totalOf('WaitsHeld'),
      totalOf('CallbacksDeadLettered'),
    ];
    const dead = newToken();
    t.sim.markUnregistered(dead);
    await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(dead)] });
    await t.pbx.putDevice('m-user', 'phone', deviceBody(newToken()));
    await t.pbx.putSettings('m-user', { blockedCallers: ['+1666'] });
    await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1666' }, to: { userId: 'm-user' } });

    await t.pbx.putWebhook({ url: 'http://127.0.0.1:9/nobody-listens', events: ['call.cancelled'] });
    const tk = newToken();
    const c = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(tk)] });
    const etag = (await t.pbx.view(c.body.callId)).headers.get('etag')!;
    await t.pbx.view(c.body.callId, { etag, waitSeconds: 1 });
    await t.pbx.cancel(c.body.callId);

    const d = newToken();
    const dc = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(d)] });
    const dt = ((await t.sim.waitForPush(d)).payload as { callwake: { token: string } }).callwake.token;
    await t.app.decline(dc.body.callId, dt);

    const deadline = Date.now() + 8000;
    while (metrics.total('CallbacksDeadLettered') === dead0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(metrics.total('CallsUnreachable') - unreachable0).toBe(1);
    expect(metrics.total('CallsRejected', (x) => x.reason === 'blocked') - rejected0).toBe(1);
    expect(metrics.total('Cancels', (x) => x.reason === 'remoteEnded') - cancels0).toBe(1);
    expect(metrics.total('Declines') - declines0).toBe(1);
    expect(metrics.total('WaitsHeld', (x) => x.outcome === 'timedOut') - waits0).toBe(1);
    expect(metrics.total('CallbacksRetried')).toBeGreaterThanOrEqual(1);
    expect(metrics.total('CallbacksDeadLettered') - dead0).toBe(1);
    await t.pbx.deleteWebhook();
  }, 20_000);

  it('a ring that rings out counts an expiry', async () => {
    const expiries = metrics.total('Expiries');
    await t.pbx.ring({
      callId: uniqueCallId(),
      from: { number: '+1' },
      devices: [inline(newToken())],
      ringTimeoutSeconds: 5,
    });
    const deadline = Date.now() + 9000;
    while (metrics.total('Expiries') === expiries && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(metrics.total('Expiries') - expiries).toBe(1);
  }, 15_000);
});

describe('the deployed metrics port (CloudWatch embedded metric format)', () => {
  const written: string[] = [];
  let spy: { mockRestore(): void };
  beforeAll(() => {
    spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    written.splice(0);
  });
  afterAll(() => spy.mockRestore());

  const emf = () =>
    written
      .flatMap((w) => w.split('\n'))
      .filter((l) => l.includes('_aws'))
      .map(
        (l) =>
          JSON.parse(l) as {
            _aws: {
              CloudWatchMetrics: {
                Namespace: string;
                Dimensions: string[][];
                Metrics: { Name: string; Unit: string }[];
              }[];
            };
          } & Record<string, unknown>,
      );

  it('one namespace; metrics without dimensions buffered per invocation; Apple’s reason a dimension', () => {
    const pt = powertoolsMetrics('callwake-test');
    const port = metricsPort(pt, false);
    port.count('CallsCreated', 1, { tenant: 'acme' });
    port.count('PushesFailed', 1, { reason: 'Unregistered' });
    port.time('WebhookLatency', 12);
    pt.publishStoredMetrics();
    const lines = emf();
    expect(lines.every((l) => l._aws.CloudWatchMetrics[0]!.Namespace === METRICS_NAMESPACE)).toBe(true);
    const failed = lines.find((l) => 'PushesFailed' in l && 'Reason' in l)!;
    expect(failed.Reason).toBe('Unregistered');
    expect(failed._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'Reason']]);
    // Every value is also in the service-wide series the alarms read.
    const main = lines.find((l) => 'CallsCreated' in l)!;
    expect(main.PushesFailed).toBe(1);
    expect(main._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service']]);
    expect(main.WebhookLatency).toBe(12);
    expect(main._aws.CloudWatchMetrics[0]!.Metrics).toEqual(
      expect.arrayContaining([{ Name: 'WebhookLatency', Unit: MetricUnit.Milliseconds }]),
    );
    // The tenant is not a dimension unless the operator opts in.
    expect(JSON.stringify(lines)).not.toContain('acme');
  });

  it('with METRICS_BY_TENANT the tenant becomes a dimension', () => {
    const pt = powertoolsMetrics('callwake-test');
    const port = metricsPort(pt, true);
    port.count('CallsCreated', 1, { tenant: 'acme' });
    port.count('PushesFailed', 1, { tenant: 'acme', reason: 'BadDeviceToken' });
    pt.publishStoredMetrics();
    const lines = emf();
    const byTenant = lines.find((l) => 'CallsCreated' in l && 'Tenant' in l)!;
    expect(byTenant.Tenant).toBe('acme');
    expect(byTenant._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'Tenant']]);
    // Reason and tenant each their own set: the by-reason series survive; no reason-by-tenant product.
    const failed = lines.find((l) => 'PushesFailed' in l && 'Reason' in l)!;
    expect(failed._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['service', 'Reason'],
      ['service', 'Tenant'],
    ]);
    // And the service-wide totals.
    const totals = lines.find((l) => !('Tenant' in l))!;
    expect([totals.CallsCreated, totals.PushesFailed]).toEqual([1, 1]);
    expect(totals._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service']]);
  });
});
