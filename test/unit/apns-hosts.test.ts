import { describe, expect, it } from '@jest/globals';
import { ProviderTokens } from '../../functions/adapters/apns-jwt.js';
import { ApnsPusher } from '../../functions/adapters/apns-pusher.js';
import { silentLog } from '../../functions/core/ports.js';

const tokens = new ProviderTokens(new Map(), { now: Date.now });

describe('APNs hosts', () => {
  it("sends each device to Apple's host for its environment", () => {
    const pusher = new ApnsPusher({ tokens, log: silentLog });
    expect(pusher.hostFor('production')).toBe('api.push.apple.com:443');
    expect(pusher.hostFor('sandbox')).toBe('api.sandbox.push.apple.com:443');
  });

  it('sends every push to APNS_HOST when one is set, whatever the environment', () => {
    const pusher = new ApnsPusher({ tokens, log: silentLog, hostOverride: '127.0.0.1:8443' });
    expect(pusher.hostFor('production')).toBe('127.0.0.1:8443');
    expect(pusher.hostFor('sandbox')).toBe('127.0.0.1:8443');
  });
});
