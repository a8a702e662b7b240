/**
 * actOnCall, the contract's app API rules that live in the core (view, confirm, answer, decline,
 * token scope, a vanished call), checked on any World.
 */
import { describe, expect, it } from '@jest/globals';
import { type AppAction, actOnCall } from '../../../functions/core/app-calls.js';
import { vanishedAppView } from '../../../functions/core/call.js';
import { callIdHashOf } from '../../../functions/core/call-token.js';
import { cancelCall, viewCall } from '../../../functions/core/cancel-call.js';
import { iso } from '../../../functions/core/clock.js';
import { AppActionRefusedError, AppCallGoneError, TokenScopeError } from '../../../functions/core/errors.js';
import { inlineDeviceIdOf } from '../../../functions/core/ids.js';
import { callUuidOf, newToken } from '../contract-helpers.js';
import type { MakeWorld, World } from '../fakes/world.js';
import { claimsOf, HOUR, inlineDevice, ring, ringRequest } from './kit.js';

const ACTIONS: AppAction[] = ['view', 'confirm', 'answer', 'decline'];

/** A ringing call to `n` inline devices; `act(i, action)` is device i's app asking. */
async function ringing(w: World, n = 2, over: Parameters<typeof ringRequest>[0] = {}) {
  const tokens = Array.from({ length: n }, () => newToken());
  const req = ringRequest({ devices: tokens.map((t) => inlineDevice(t)), ...over });
  await ring(w, req);
  const act = (i: number, action: AppAction) => actOnCall(w.deps, claimsOf(w, tokens[i]!), req.callId, action);
  return { req, callId: req.callId, tokens, act };
}

/** What the failed promise was rejected with. */
async function refusal(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a refusal, got an answer');
}

export function describeAppCalls(name: string, make: MakeWorld): void {
  describe(`actOnCall (${name})`, () => {
    describe('view and confirm', () => {
      it('view: the app view of a ringing call, changing nothing', async () => {
        const w = make();
        const { callId, act } = await ringing(w, 1, {
          from: { number: '+15550001111', uri: 'sip:bob@example.com' },
          hasVideo: true,
          metadata: { registrar: 'sip:pbx.example.com;transport=tls' },
        });
        const created = w.clock.now();
        w.clock.advance(1500);
        expect(await act(0, 'view')).toEqual({
          callId,
          callUuid: callUuidOf(w.tenant, callId),
          status: 'ringing',
          endReason: null,
          caller: { number: '+15550001111', displayName: null, uri: 'sip:bob@example.com' },
          hasVideo: true,
          expiresAt: iso(created + 60_000),
          metadata: { registrar: 'sip:pbx.example.com;transport=tls' },
          serverTime: iso(created + 1500),
        });
        expect((await viewCall(w.deps, w.tenant, callId)).devices[0]!.confirmedAt).toBeNull();
      });

      it('confirm: records the device’s confirmedAt once, answers the app view', async () => {
        const w = make();
        const { callId, act } = await ringing(w);
        const at = w.clock.now();
        expect(await act(1, 'confirm')).toMatchObject({ callId, status: 'ringing' });
        w.clock.advance(3000);
        await act(1, 'confirm');
        expect((await viewCall(w.deps, w.tenant, callId)).devices.map((d) => d.confirmedAt)).toEqual([null, iso(at)]);
      });

      it('confirm on a call that ended answers 200 with the view that says so', async () => {
        const w = make();
        const { callId, act } = await ringing(w);
        await cancelCall(w.deps, w.tenant, callId, 'caller_hangup');
        expect(await act(0, 'confirm')).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
      });
    });

    describe('answer and decline', () => {
      it('the first answer wins (again 200 for the same device); every other device sees answeredElsewhere', async () => {
        const w = make();
        const { callId, act, tokens } = await ringing(w, 3);
        const at = w.clock.now();
        expect(await act(1, 'answer')).toMatchObject({ status: 'answered', endReason: null });
        w.clock.advance(500);
        expect(await act(1, 'answer')).toMatchObject({ status: 'answered', endReason: null });
        const lost = await refusal(act(0, 'answer'));
        expect(lost).toBeInstanceOf(AppActionRefusedError);
        expect(lost.view).toMatchObject({ callId, status: 'ended', endReason: 'answeredElsewhere' });
        expect(await act(2, 'view')).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
        const declined = await refusal(act(2, 'decline'));
        expect(declined).toBeInstanceOf(AppActionRefusedError);
        expect(declined.view).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
        // the answering device's own decline is refused too, and its view stays answered
        expect((await refusal(act(1, 'decline'))).view).toMatchObject({ status: 'answered' });
        expect(await viewCall(w.deps, w.tenant, callId)).toMatchObject({
          status: 'answered',
          answeredBy: inlineDeviceIdOf(tokens[1]!),
          devices: [{ answeredAt: null }, { answeredAt: iso(at) }, { answeredAt: null }],
        });
      });

      it('exactly one of many devices answering at once wins', async () => {
        const w = make();
        const { callId, act } = await ringing(w, 6);
        const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => act(i, 'answer')));
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(5);
        for (const r of lost) {
          expect(r.reason).toBeInstanceOf(AppActionRefusedError);
          expect(r.reason.view).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
        }
        const view = await viewCall(w.deps, w.tenant, callId);
        expect(view.devices.filter((d) => d.answeredAt !== null)).toHaveLength(1);
      });

      it('a decline declines the call for every device (again 200 for the same device); an answer after it loses', async () => {
        const w = make();
        const { callId, act } = await ringing(w, 2);
        expect(await act(0, 'decline')).toMatchObject({ status: 'declined', endReason: null });
        expect(await act(0, 'decline')).toMatchObject({ status: 'declined', endReason: null });
        expect(await act(1, 'view')).toMatchObject({ status: 'ended', endReason: 'declinedElsewhere' });
        const lost = await refusal(act(1, 'answer'));
        expect(lost).toBeInstanceOf(AppActionRefusedError);
        expect(lost.view).toMatchObject({ status: 'ended', endReason: 'declinedElsewhere' });
        expect(await viewCall(w.deps, w.tenant, callId)).toMatchObject({ status: 'declined', endReason: null });
      });

      it('never after a cancel, past the ring end, or on an unreachable call: refused with how it ended', async () => {
        const w = make();
        const cancelled = await ringing(w, 1);
        await cancelCall(w.deps, w.tenant, cancelled.callId, 'timeout');
        const t = newToken();
        w.pusher.reject(t, 'BadTopic');
        const unreachable = ringRequest({ devices: [inlineDevice(t)] });
        await ring(w, unreachable);
        const expired = await ringing(w, 1, { ringTimeoutSeconds: 5 });
        w.clock.advance(5000);
        const cases = {
          cancelled: [cancelled.act, 'unanswered'],
          expired: [expired.act, 'unanswered'],
          unreachable: [
            (_i: number, a: AppAction) => actOnCall(w.deps, claimsOf(w, t), unreachable.callId, a),
            'failed',
          ],
        } as const;
        for (const [state, [act, endReason]] of Object.entries(cases)) {
          for (const action of ['answer', 'decline'] as const) {
            const e = await refusal(act(0, action));
            expect({ state, action, refused: e instanceof AppActionRefusedError, view: e.view }).toEqual({
              state,
              action,
              refused: true,
              view: expect.objectContaining({ status: 'ended', endReason }),
            });
          }
        }
      });
    });

    describe('the token', () => {
      it('a genuine token for another callId: TokenScopeError (403), whatever the action, nothing written', async () => {
        const w = make();
        const one = await ringing(w, 1);
        const other = await ringing(w, 1);
        for (const action of ACTIONS) {
          await expect(actOnCall(w.deps, claimsOf(w, one.tokens[0]!), other.callId, action)).rejects.toBeInstanceOf(
            TokenScopeError,
          );
        }
        expect((await viewCall(w.deps, w.tenant, other.callId)).status).toBe('ringing');
        expect((await viewCall(w.deps, w.tenant, one.callId)).devices[0]!.confirmedAt).toBeNull();
      });

      it('past the call’s lifetime: AppCallGoneError with the vanished view (ended / unanswered, the callUuid, nulls)', async () => {
        const w = make();
        const { callId, act } = await ringing(w, 1, { ringTimeoutSeconds: 5 });
        w.clock.advance(5000 + HOUR);
        for (const action of ACTIONS) {
          const e = await refusal(act(0, action));
          expect(e).toBeInstanceOf(AppCallGoneError);
          expect(e.view).toEqual(vanishedAppView(callId, callUuidOf(w.tenant, callId), w.clock.now()));
        }
      });

      it('a genuine token whose call is not there (never stored, tombstoned, or no such device slot): gone, nothing written', async () => {
        const w = make();
        const now = w.clock.now();
        const claims = (callId: string, slot = 0) => ({
          callUuid: callUuidOf(w.tenant, callId),
          callIdHash: callIdHashOf(callId),
          slot,
          lifetimeEnd: now + HOUR,
        });
        const neverStored = ringRequest().callId;
        const tombstoned = ringRequest().callId;
        await cancelCall(w.deps, w.tenant, tombstoned, 'caller_hangup');
        const { callId } = await ringing(w, 1);
        for (const [what, c, id] of [
          ['never stored', claims(neverStored), neverStored],
          ['tombstone', claims(tombstoned), tombstoned],
          ['no slot 5', claims(callId, 5), callId],
        ] as const) {
          for (const action of ACTIONS) {
            const e = await refusal(actOnCall(w.deps, c, id, action));
            expect({ what, action, gone: e instanceof AppCallGoneError, view: e.view }).toEqual({
              what,
              action,
              gone: true,
              view: vanishedAppView(id, c.callUuid, now),
            });
          }
        }
        await expect(viewCall(w.deps, w.tenant, neverStored)).rejects.toThrow();
        expect(await viewCall(w.deps, w.tenant, tombstoned)).toMatchObject({ status: 'cancelled', devices: [] });
        expect(await viewCall(w.deps, w.tenant, callId)).toMatchObject({
          status: 'ringing',
          devices: [{ confirmedAt: null, answeredAt: null, declinedAt: null }],
        });
      });
    });
  });
}
