/**
 * What the Pusher port answers for what APNs does, written once and run against the fake
 * (test/unit, virtual time) and ApnsPusher against the APNs simulator (test/simulator, real
 * sockets and time), so the outcomes the use-case tests steer the fake to are the real ones.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { Timer } from '../../../functions/core/clock.js';
import type { Pusher, PushRequest } from '../../../functions/core/ports.js';

/** What APNs does with pushes to one device token. */
export type ApnsBehaviour =
  | { kind: 'accept' }
  /** Answers every attempt with this status and reason. */
  | { kind: 'refuse'; status: number; reason: string }
  | { kind: 'never-answer' };

export interface PusherHarness {
  pusher: Pusher;
  /** The time deadlines are in. */
  timer: Timer;
  /** How late an answer given up by the deadline may come (real sockets and timers are not exact). */
  slackMs: number;
  arrange(pushToken: string, behaviour: ApnsBehaviour): void;
  /** How many requests for this token reached APNs. */
  received(pushToken: string): number;
}

export function describePusherContract(
  name: string,
  team: string,
  setup: () => PusherHarness | Promise<PusherHarness>,
): void {
  const request = (pushToken: string, teamId = team): PushRequest => ({
    pushToken,
    teamId,
    environment: 'sandbox',
    pushType: 'voip',
    topic: 'com.example.phone.voip',
    expiration: 0,
    payload: JSON.stringify({ aps: {}, callwake: { v: 1, type: 'call' } }),
  });
  const token = () => randomBytes(32).toString('hex');

  describe(`Pusher contract: ${name}`, () => {
    it('names its configured team', async () => {
      const h = await setup();
      expect(h.pusher.teams).toEqual([team]);
    });

    it('a push APNs accepts is sent, with its apns-id', async () => {
      const h = await setup();
      const t = token();
      h.arrange(t, { kind: 'accept' });
      const outcome = await h.pusher.send(request(t), h.timer.now() + 2000);
      expect(outcome).toEqual({ result: 'sent', apnsId: expect.stringMatching(/^[0-9A-Fa-f-]{36}$/) });
      expect(h.received(t)).toBe(1);
    });

    it.each([
      [410, 'Unregistered', true],
      [400, 'BadDeviceToken', true],
      [400, 'DeviceTokenNotForTopic', true],
      [400, 'BadTopic', false],
      [413, 'PayloadTooLarge', false],
      [403, 'Forbidden', false],
    ])('refused %i %s: failed with that reason, permanent=%s (a dead token)', async (status, reason, permanent) => {
      const h = await setup();
      const t = token();
      h.arrange(t, { kind: 'refuse', status, reason });
      expect(await h.pusher.send(request(t), h.timer.now() + 2000)).toEqual({ result: 'failed', reason, permanent });
    });

    it('an APNs that answers 500 to every attempt: failed InternalServerError, not permanent, by the deadline', async () => {
      const h = await setup();
      const t = token();
      h.arrange(t, { kind: 'refuse', status: 500, reason: 'InternalServerError' });
      const deadline = h.timer.now() + 600;
      const outcome = await h.pusher.send(request(t), deadline);
      expect(outcome).toEqual({ result: 'failed', reason: 'InternalServerError', permanent: false });
      expect(h.timer.now()).toBeLessThanOrEqual(deadline + h.slackMs);
    });

    it('an APNs that never answers: failed Timeout, not permanent, at the deadline and not later', async () => {
      const h = await setup();
      const t = token();
      h.arrange(t, { kind: 'never-answer' });
      const deadline = h.timer.now() + 600;
      const outcome = await h.pusher.send(request(t), deadline);
      expect(outcome).toEqual({ result: 'failed', reason: 'Timeout', permanent: false });
      expect(h.timer.now()).toBeGreaterThanOrEqual(deadline - h.slackMs);
      expect(h.timer.now()).toBeLessThanOrEqual(deadline + h.slackMs);
    });

    it('a deadline already past: failed Timeout at once, nothing reaches APNs', async () => {
      const h = await setup();
      const t = token();
      const started = h.timer.now();
      expect(await h.pusher.send(request(t), started - 1)).toEqual({
        result: 'failed',
        reason: 'Timeout',
        permanent: false,
      });
      expect(h.timer.now()).toBeLessThanOrEqual(started + h.slackMs);
      expect(h.received(t)).toBe(0);
    });

    it('a team that is not configured: failed UnknownTeam, nothing reaches APNs', async () => {
      const h = await setup();
      const t = token();
      expect(await h.pusher.send(request(t, 'NOTOURTEAM'), h.timer.now() + 2000)).toEqual({
        result: 'failed',
        reason: 'UnknownTeam',
        permanent: false,
      });
      expect(h.received(t)).toBe(0);
    });
  });
}
