import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Reply } from '../../local/clients.js';
import { expectProblem, inline, newToken, uniqueCallId } from '../support/contract-helpers.js';
import { pushFor, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Waiting for a change instead of polling: ETags on every view, 304 for a view the client has,
 * and `Prefer: wait` holding the request until the view changes, over real HTTP on DynamoDB Local.
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => t.stop());

const ETAG = /^"[A-Za-z0-9_-]{10,}"$/;

async function ring(devices = 1, ringTimeoutSeconds = 60) {
  const callId = uniqueCallId();
  const tokens = Array.from({ length: devices }, () => newToken());
  const r = await t.pbx.ring({
    callId,
    from: { number: '+15551230000', displayName: 'Bob' },
    devices: tokens.map((tk) => inline(tk)),
    ringTimeoutSeconds,
  });
  expect(r.status).toBe(201);
  const callTokens = await Promise.all(tokens.map(async (tk) => (await pushFor(t.sim, tk)).token as string));
  return { callId, callTokens };
}

const etagOf = (r: Reply): string => {
  const etag = r.headers.get('etag');
  expect(etag).toMatch(ETAG);
  return etag!;
};

/** Starts a request now and reports when its answer came. */
function timed(p: Promise<Reply>): Promise<Reply & { answeredAt: number }> {
  return p.then((r) => ({ ...r, answeredAt: Date.now() }));
}

describe('ETags and 304', () => {
  it('the PBX view has a strong ETag; If-None-Match with it is 304 with the same ETag and no body', async () => {
    const { callId } = await ring();
    const first = await t.pbx.view(callId);
    expect(first.status).toBe(200);
    const etag = etagOf(first);
    const again = await t.pbx.view(callId, { etag });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.body).toBeUndefined();
    const other = await t.pbx.view(callId, { etag: '"something-else-entirely"' });
    expect(other.status).toBe(200);
    expect(etagOf(other)).toBe(etag);
  });

  it('a list of tags, a weak tag and `*` are understood; a malformed header is treated as absent', async () => {
    const { callId } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    expect((await t.pbx.view(callId, { etag: `"x", ${etag}, "y"` })).status).toBe(304);
    expect((await t.pbx.view(callId, { etag: `W/${etag}` })).status).toBe(304);
    expect((await t.pbx.view(callId, { etag: '*' })).status).toBe(304);
    for (const junk of ['no-quotes', `${etag} ${etag}`, '"unterminated', ',']) {
      const r = await t.pbx.view(callId, { etag: junk, waitSeconds: 5 });
      expect({ junk, status: r.status, waited: r.ms > 1000 }).toEqual({ junk, status: 200, waited: false });
    }
  });

  it("the app view's ETag ignores serverTime, and changes when the view does", async () => {
    const { callId, callTokens } = await ring();
    const a = await t.app.view(callId, callTokens[0]!);
    await new Promise((r) => setTimeout(r, 20));
    const b = await t.app.view(callId, callTokens[0]!);
    expect(b.body.serverTime).not.toBe(a.body.serverTime);
    expect(etagOf(b)).toBe(etagOf(a));
    expect((await t.app.view(callId, callTokens[0]!, { etag: etagOf(a) })).status).toBe(304);
    await t.pbx.cancel(callId);
    const c = await t.app.view(callId, callTokens[0]!, { etag: etagOf(a) });
    expect(c.status).toBe(200);
    expect(etagOf(c)).not.toBe(etagOf(a));
  });

  it('confirm, answer, decline and cancel carry the ETag of the view they return', async () => {
    const { callId, callTokens } = await ring(2);
    const confirmed = await t.app.confirm(callId, callTokens[0]!);
    expect(etagOf(confirmed)).toBe(etagOf(await t.app.view(callId, callTokens[0]!)));
    const answered = await t.app.answer(callId, callTokens[0]!);
    expect(answered.status).toBe(200);
    expect(etagOf(answered)).toBe(etagOf(await t.app.view(callId, callTokens[0]!)));
    const cancelled = await t.pbx.cancel(callId, 'error');
    expect(etagOf(cancelled)).toBe(etagOf(await t.pbx.view(callId)));

    const other = await ring();
    const declined = await t.app.decline(other.callId, other.callTokens[0]!);
    expect(etagOf(declined)).toBe(etagOf(await t.app.view(other.callId, other.callTokens[0]!)));
  });

  it('Prefer without If-None-Match is ignored (answered at once); wait=0 answers at once', async () => {
    const { callId } = await ring();
    const plain = await t.pbx.view(callId, { waitSeconds: 10 });
    expect(plain.status).toBe(200);
    expect(plain.ms).toBeLessThan(1000);
    expect(plain.headers.get('preference-applied')).toBeNull();
    const zero = await t.pbx.view(callId, { etag: etagOf(plain), waitSeconds: 0 });
    expect(zero.status).toBe(304);
    expect(zero.ms).toBeLessThan(1000);
  });
});

describe('Prefer: wait', () => {
  it('a waiting PBX GET learns of the decline within 300 ms of the decline’s answer', async () => {
    const { callId, callTokens } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    const waiting = timed(t.pbx.view(callId, { etag, waitSeconds: 10 }));
    await new Promise((r) => setTimeout(r, 300));
    const declined = await timed(t.app.decline(callId, callTokens[0]!));
    expect(declined.status).toBe(200);
    const woke = await waiting;
    expect(woke.status).toBe(200);
    expect(woke.body.status).toBe('declined');
    expect(etagOf(woke)).not.toBe(etag);
    expect(woke.headers.get('preference-applied')).toBe('wait=10');
    expect(woke.answeredAt - declined.answeredAt).toBeLessThan(300);
  });

  it('a waiting app GET learns that the caller hung up, within 300 ms of the cancel’s answer', async () => {
    const { callId, callTokens } = await ring();
    const etag = etagOf(await t.app.view(callId, callTokens[0]!));
    const waiting = timed(t.app.view(callId, callTokens[0]!, { etag, waitSeconds: 10 }));
    await new Promise((r) => setTimeout(r, 300));
    const cancelled = await timed(t.pbx.cancel(callId));
    const woke = await waiting;
    expect(woke.status).toBe(200);
    expect(woke.body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
    expect(woke.answeredAt - cancelled.answeredAt).toBeLessThan(300);
  });

  it('an unchanged view is 304 when the wait ends, with Preference-Applied', async () => {
    const { callId } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    const r = await t.pbx.view(callId, { etag, waitSeconds: 1 });
    expect(r.status).toBe(304);
    expect(r.headers.get('etag')).toBe(etag);
    expect(r.headers.get('preference-applied')).toBe('wait=1');
    expect(r.ms).toBeGreaterThanOrEqual(950);
    expect(r.ms).toBeLessThan(2000);
  });

  it('wait is capped at 20 s (Preference-Applied says so)', async () => {
    const { callId } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    const waiting = t.pbx.view(callId, { etag, waitSeconds: 3600 });
    await new Promise((r) => setTimeout(r, 200));
    await t.pbx.cancel(callId);
    const woke = await waiting;
    expect(woke.status).toBe(200);
    expect(woke.headers.get('preference-applied')).toBe('wait=20');
  });

  it('a view that already changed is answered at once, without Preference-Applied', async () => {
    const { callId } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    await t.pbx.cancel(callId);
    const r = await t.pbx.view(callId, { etag, waitSeconds: 10 });
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(1000);
    expect(r.headers.get('preference-applied')).toBeNull();
  });

  it('wakes at the ring timeout: PBX expired, app ended/unanswered, within 300 ms of expiresAt', async () => {
    const { callId, callTokens } = await ring(1, 5);
    const pbxFirst = await t.pbx.view(callId);
    const expiresAt = Date.parse(pbxFirst.body.expiresAt);
    const appFirst = await t.app.view(callId, callTokens[0]!);
    const [pbx, app] = await Promise.all([
      timed(t.pbx.view(callId, { etag: etagOf(pbxFirst), waitSeconds: 20 })),
      timed(t.app.view(callId, callTokens[0]!, { etag: etagOf(appFirst), waitSeconds: 20 })),
    ]);
    expect(pbx.body).toMatchObject({ status: 'expired', endReason: 'unanswered' });
    expect(app.body).toMatchObject({ status: 'ended', endReason: 'unanswered' });
    // The stack's clock follows real time (not shifted in this file).
    for (const r of [pbx, app]) {
      expect(r.answeredAt - expiresAt).toBeGreaterThanOrEqual(0);
      expect(r.answeredAt - expiresAt).toBeLessThan(300);
    }
  }, 15_000);

  it('many waiters on one call all wake on one change, and waiting writes nothing', async () => {
    const { callId, callTokens } = await ring(3);
    const before = await t.scanTable();
    const pbxEtag = etagOf(await t.pbx.view(callId));
    const appEtags = await Promise.all(callTokens.map(async (tk) => etagOf(await t.app.view(callId, tk))));
    const waiters = [
      ...Array.from({ length: 10 }, () => t.pbx.view(callId, { etag: pbxEtag, waitSeconds: 10 })),
      ...callTokens.flatMap((tk, i) =>
        Array.from({ length: 5 }, () => t.app.view(callId, tk, { etag: appEtags[i]!, waitSeconds: 10 })),
      ),
    ].map(timed);
    await new Promise((r) => setTimeout(r, 500));
    expect(await t.scanTable()).toEqual(before);
    const answered = await timed(t.app.answer(callId, callTokens[1]!));
    const woke = await Promise.all(waiters);
    expect(woke.map((r) => r.status)).toEqual(woke.map(() => 200));
    expect(Math.max(...woke.map((r) => r.answeredAt - answered.answeredAt))).toBeLessThan(1000);
    expect(woke.slice(0, 10).every((r) => r.body.status === 'answered')).toBe(true);
    expect(woke.slice(10, 15).every((r) => r.body.endReason === 'answeredElsewhere')).toBe(true);
    expect(woke.slice(15, 20).every((r) => r.body.status === 'answered')).toBe(true);
  });

  it('authentication is checked when the request arrives, before any wait', async () => {
    const { callId, callTokens } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    const forged = await t.pbx.send('GET', `/v1/pbx/calls/${encodeURIComponent(callId)}`, undefined, {
      secret: 'not-the-secret',
      headers: { 'if-none-match': etag, prefer: 'wait=10' },
    });
    expectProblem(forged, 401, 'bad_signature');
    expect(forged.ms).toBeLessThan(1000);
    const appEtag = etagOf(await t.app.view(callId, callTokens[0]!));
    const badToken = await t.app.view(callId, 'cw1.forged', { etag: appEtag, waitSeconds: 10 });
    expectProblem(badToken, 401, 'invalid_token');
    expect(badToken.ms).toBeLessThan(1000);
  });

  it('a malformed Prefer is treated as absent: 304 at once', async () => {
    const { callId } = await ring();
    const etag = etagOf(await t.pbx.view(callId));
    for (const prefer of ['wait=abc', 'wait=-1', 'wait=1.5', 'wait', 'wait=']) {
      const r = await t.pbx.send('GET', `/v1/pbx/calls/${encodeURIComponent(callId)}`, undefined, {
        headers: { 'if-none-match': etag, prefer },
      });
      expect({ prefer, status: r.status, quick: r.ms < 1000 }).toEqual({ prefer, status: 304, quick: true });
    }
    const listed = t.pbx.send('GET', `/v1/pbx/calls/${encodeURIComponent(callId)}`, undefined, {
      headers: { 'if-none-match': etag, prefer: 'respond-async, wait=1' },
    });
    expect((await listed).headers.get('preference-applied')).toBe('wait=1');
  });

  it('a call that is gone ends the wait with the answer a plain read gets', async () => {
    const { callId, callTokens } = await ring(1, 5);
    const etag = etagOf(await t.pbx.view(callId));
    const appEtag = etagOf(await t.app.view(callId, callTokens[0]!));
    t.clock.advance(5_000 + 3600_000 + 1_000);
    try {
      const pbx = await t.pbx.send('GET', `/v1/pbx/calls/${encodeURIComponent(callId)}`, undefined, {
        headers: { 'if-none-match': etag, prefer: 'wait=5' },
        timestamp: Math.floor(t.clock.now() / 1000),
      });
      expectProblem(pbx, 404, 'call_not_found');
      const app = await t.app.view(callId, callTokens[0]!, { etag: appEtag, waitSeconds: 5 });
      expect(expectProblem(app, 410, 'call_ended').call).toMatchObject({ status: 'ended', endReason: 'unanswered' });
    } finally {
      t.clock.advance(-(5_000 + 3600_000 + 1_000));
    }
  });
});
