import { describe, expect, it } from '@jest/globals';
import { describePusherContract } from '../../support/checks/pusher.js';
import { VirtualClock } from '../../support/fakes/clock.js';
import { FakePusher } from '../../support/fakes/pusher.js';

/** The fake held to the outcomes ApnsPusher gives against the simulator (test/simulator/pusher-contract.test.ts). */
describePusherContract('FakePusher', 'FAKETEAM01', () => {
  const clock = new VirtualClock();
  const pusher = new FakePusher(['FAKETEAM01'], clock);
  return {
    pusher,
    timer: clock,
    slackMs: 0,
    arrange(token, b) {
      if (b.kind === 'accept') pusher.accept(token);
      else if (b.kind === 'refuse') pusher.reject(token, b.reason);
      else pusher.silence(token);
    },
    received: (token) => pusher.sentTo(token).length,
  };
});

describe('FakePusher, beyond the contract', () => {
  const push = (pushToken: string) => ({
    pushToken,
    teamId: 'T',
    environment: 'sandbox' as const,
    pushType: 'voip' as const,
    topic: 'b.voip',
    expiration: 0,
    payload: '{}',
  });

  it('an answer that takes time comes that much later; one later than the deadline is Timeout at the deadline', async () => {
    const clock = new VirtualClock();
    const pusher = new FakePusher(['T'], clock).accept('aa', 300).reject('bb', 'Unregistered', 400);
    const start = clock.now();
    const [a, b] = await Promise.all([pusher.send(push('aa'), start + 1000), pusher.send(push('bb'), start + 350)]);
    expect(a).toEqual({ result: 'sent', apnsId: expect.any(String) });
    expect(b).toEqual({ result: 'failed', reason: 'Timeout', permanent: false });
    expect(clock.now()).toBe(start + 350);
  });

  it('knows a device by its token in either case, and records each push with its deadline and time', async () => {
    const clock = new VirtualClock();
    const pusher = new FakePusher(['T'], clock).reject('ABCD', 'BadDeviceToken');
    expect(await pusher.send(push('abcd'), clock.now() + 10)).toMatchObject({ reason: 'BadDeviceToken' });
    expect(pusher.sentTo('AbCd')).toEqual([{ request: push('abcd'), deadline: clock.now() + 10, at: clock.now() }]);
  });
});
