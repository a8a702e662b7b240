import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { documentClient } from '../../functions/adapters/dynamo-table.js';
import { ringingKey } from '../../functions/adapters/table-layout.js';
import { REQUEST_WINDOW_SECONDS } from '../../functions/core/limits.js';
import { expectProblem, inline, newToken, uniqueCallId } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Finding 3 (medium): one throttle for everyone. Within API Gateway's limit one tenant could take
 * all capacity (30 pushes a create, unbounded users). Each tenant now has a limit on its requests
 * and on its calls ringing at once (429 `rate_limited` with Retry-After); the route throttles in
 * front of the API are checked by the CDK tests.
 */
let t: TestStack;
const PER_SECOND = 2; // 20 a window
beforeAll(async () => {
  t = await startTestStack({ events: {}, tenantLimits: { requestsPerSecond: PER_SECOND, ringingCalls: 3 } });
});
afterAll(async () => t.stop());

/** Waits for the start of a fresh window, so a test's requests all fall in one. */
async function freshWindow() {
  const ms = REQUEST_WINDOW_SECONDS * 1000;
  await new Promise((r) => setTimeout(r, ms - (t.clock.now() % ms) + 20));
}

describe('per-tenant limits', () => {
  it('a tenant past its request limit gets 429 rate_limited with Retry-After; another tenant does not', async () => {
    await freshWindow();
    const max = PER_SECOND * REQUEST_WINDOW_SECONDS;
    const answers = [];
    for (let i = 0; i < max + 5; i++) answers.push(await t.pbx.listDevices('flooder'));
    expect(answers.slice(0, max).map((r) => r.status)).toEqual(Array(max).fill(200));
    for (const r of answers.slice(max)) {
      expectProblem(r, 429, 'rate_limited');
      const retryAfter = Number(r.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(REQUEST_WINDOW_SECONDS);
    }
    expect((await t.other.listDevices('calm')).status).toBe(200);
  }, 30_000);

  it('unsigned junk never counts against a tenant', async () => {
    await freshWindow();
    for (let i = 0; i < 60; i++) {
      const r = await t.pbx.send('GET', '/v1/pbx/users/x/devices', undefined, { secret: 'x'.repeat(40) });
      expect(r.status).toBe(401);
    }
    expect((await t.pbx.listDevices('after-junk')).status).toBe(200);
  }, 30_000);

  it('a tenant with all its ringing slots taken gets 429; a slot comes back when a call ends', async () => {
    await freshWindow();
    const ring = () =>
      t.other.ring({
        callId: uniqueCallId(),
        from: { number: '+1' },
        devices: [inline(newToken())],
        ringTimeoutSeconds: 60,
      });
    const calls = [await ring(), await ring(), await ring()];
    expect(calls.map((r) => r.body.status)).toEqual(['ringing', 'ringing', 'ringing']);
    const refused = await ring();
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // acme's slots are its own.
    expect(
      (await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] })).status,
    ).toBe(201);
    expect((await t.other.cancel(calls[0]!.body.callId)).status).toBe(200);
    const deadline = Date.now() + 5000;
    let again = await ring();
    while (again.status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      again = await ring();
    }
    expect(again.status).toBe(201);
    for (const c of [calls[1]!, calls[2]!, again]) await t.other.cancel(c.body.callId);
  }, 30_000);

  it('at the ringing limit a retried create keeps its stored answer (200, 409, 410); a new call gets 429', async () => {
    await freshWindow();
    const body = () => ({
      callId: uniqueCallId(),
      from: { number: '+1' },
      devices: [inline(newToken())],
      ringTimeoutSeconds: 60,
    });
    // Wait for slots freed by earlier tests' cancels, then take all three.
    const first = body();
    let created = await t.other.ring(first);
    for (const deadline = Date.now() + 5000; created.status === 429 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      created = await t.other.ring(first);
    }
    expect(created.status).toBe(201);
    const others = [body(), body()];
    for (const b of others) expect((await t.other.ring(b)).status).toBe(201);
    expectProblem(await t.other.ring(body()), 429, 'rate_limited');

    const retried = await t.other.ring(first);
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual(created.body);
    expectProblem(await t.other.ring({ ...first, from: { number: '+2' } }), 409, 'call_id_conflict');
    // A callId cancelled before its create: the tombstone's 410, not 429.
    const early = body();
    expect((await t.other.cancel(early.callId)).status).toBe(200);
    expectProblem(await t.other.ring(early), 410, 'call_ended');
    for (const b of [first, ...others]) await t.other.cancel(b.callId);
  }, 30_000);

  it('a retried create takes no second slot, and a refused one gives its slot back', async () => {
    await freshWindow();
    const doc = documentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! });
    const ringing = async () =>
      ((await doc.send(new GetCommand({ TableName: t.tableName, Key: ringingKey('acme'), ConsistentRead: true }))).Item
        ?.ringing as number | undefined) ?? 0;
    const before = await ringing();
    const body = { callId: uniqueCallId(), from: { number: '+1' }, devices: [inline(newToken())] };
    expect((await t.pbx.ring(body)).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await t.pbx.ring(body)).status).toBe(200);
    expect(await ringing()).toBe(before + 1);
    await t.pbx.putSettings('dnd-user', { doNotDisturb: { enabled: true } });
    const rejected = await t.pbx.ring({ callId: uniqueCallId(), from: { number: '+1' }, to: { userId: 'dnd-user' } });
    expect(rejected.body.status).toBe('rejected');
    expect(await ringing()).toBe(before + 1);
    doc.destroy();
  }, 30_000);
});
