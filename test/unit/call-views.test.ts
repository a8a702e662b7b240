import { describe, expect, it } from '@jest/globals';
import { appViewOf, type Call, pbxViewOf, vanishedAppView } from '../../functions/core/call.js';

const base: Call = {
  tenantId: 'acme',
  callId: 'c1',
  callUuid: 'u1',
  status: 'ringing',
  tombstone: false,
  createdAt: 1000,
  expiresAt: 61_000,
  lifetimeEnd: 3_661_000,
  caller: { number: '+1555' },
  hasVideo: false,
  metadata: {},
  devices: {
    d0: { deviceId: 'a', pushType: 'voip', delivery: 'sent' },
    d1: { deviceId: 'b', pushType: 'voip', delivery: 'sent' },
  },
};

describe('call views', () => {
  it('turns a ringing call past its ring timeout into expired / unanswered when read', () => {
    expect(pbxViewOf(base, 60_999)).toMatchObject({ status: 'ringing', endReason: null });
    expect(pbxViewOf(base, 61_000)).toMatchObject({ status: 'expired', endReason: 'unanswered' });
    expect(appViewOf(base, 'd0', 61_000)).toMatchObject({ status: 'ended', endReason: 'unanswered' });
  });

  it('shows the winner answered and everyone else answeredElsewhere; a decline likewise', () => {
    const answered = { ...base, status: 'answered' as const, answeredBy: 'a' };
    expect(appViewOf(answered, 'd0', 2000)).toMatchObject({ status: 'answered', endReason: null });
    expect(appViewOf(answered, 'd1', 2000)).toMatchObject({ status: 'ended', endReason: 'answeredElsewhere' });
    expect(appViewOf(answered, 'd0', 100_000).status).toBe('answered'); // answered calls do not expire
    const declined = { ...base, status: 'declined' as const, declinedBy: 'b' };
    expect(appViewOf(declined, 'd1', 2000)).toMatchObject({ status: 'declined', endReason: null });
    expect(appViewOf(declined, 'd0', 2000)).toMatchObject({ status: 'ended', endReason: 'declinedElsewhere' });
  });

  it('ends an answered call that is cancelled for the answering device too, keeping answeredBy', () => {
    const c = { ...base, status: 'cancelled' as const, endReason: 'failed' as const, answeredBy: 'a' };
    expect(appViewOf(c, 'd0', 2000)).toMatchObject({ status: 'ended', endReason: 'failed' });
    expect(pbxViewOf(c, 2000)).toMatchObject({ status: 'cancelled', endReason: 'failed', answeredBy: 'a' });
  });

  it('shows unreachable as ended / failed, and a vanished call with nulls', () => {
    expect(appViewOf({ ...base, status: 'unreachable' }, 'd0', 2000)).toMatchObject({
      status: 'ended',
      endReason: 'failed',
    });
    expect(pbxViewOf({ ...base, status: 'unreachable' }, 2000).endReason).toBe('failed');
    expect(vanishedAppView('c1', 'u1', 2000)).toEqual({
      callId: 'c1',
      callUuid: 'u1',
      status: 'ended',
      endReason: 'unanswered',
      caller: null,
      hasVideo: null,
      expiresAt: null,
      metadata: null,
      serverTime: '1970-01-01T00:00:02.000Z',
    });
  });

  it('lists devices in slot order with ISO times', () => {
    const c = {
      ...base,
      devices: {
        d10: { deviceId: 'k', pushType: 'voip' as const, delivery: 'sent' as const },
        d2: { deviceId: 'c', pushType: 'alert' as const, delivery: 'failed' as const, confirmedAt: 5000 },
      },
    };
    const v = pbxViewOf(c, 2000);
    expect(v.devices.map((d) => d.deviceId)).toEqual(['c', 'k']);
    expect(v.devices[0]).toEqual({
      deviceId: 'c',
      delivery: 'failed',
      confirmedAt: '1970-01-01T00:00:05.000Z',
      answeredAt: null,
      declinedAt: null,
    });
    expect(v.createdAt).toBe('1970-01-01T00:00:01.000Z');
  });
});
