import { describe, expect, it } from '@jest/globals';
import { parsePnParam, resolveTargets, topicOf } from '../../functions/core/targets.js';

const token = (c: string) => c.repeat(64);

describe('targets', () => {
  it('reads RFC 8599 pn-param: team, bundle and push type', () => {
    expect(parsePnParam('ABCDE12345.com.example.phone.voip')).toEqual({
      teamId: 'ABCDE12345',
      bundleId: 'com.example.phone',
      pushType: 'voip',
    });
    expect(parsePnParam('ABCDE12345.com.example.phone')).toEqual({
      teamId: 'ABCDE12345',
      bundleId: 'com.example.phone',
      pushType: 'alert',
    });
    expect(parsePnParam('ABCDE12345.voip')).toBeUndefined();
    expect(parsePnParam('nodot')).toBeUndefined();
    expect(topicOf({ bundleId: 'com.x', pushType: 'voip' })).toBe('com.x.voip');
    expect(topicOf({ bundleId: 'com.x', pushType: 'alert' })).toBe('com.x');
  });

  it('pushes a token reached inline and through the registry once, as the registry device', () => {
    const registered = [
      {
        deviceId: 'reg',
        platform: 'ios' as const,
        pushToken: token('a'),
        bundleId: 'com.x',
        teamId: 'T',
        environment: 'production' as const,
        pushType: 'voip' as const,
        updatedAt: 0,
      },
    ];
    const inline = [
      { pnProvider: 'apns' as const, pnPrid: token('A'), pnParam: 'T.com.x.voip' },
      { pnProvider: 'apns' as const, pnPrid: token('b'), pnParam: 'T.com.x.voip' },
      { pnProvider: 'apns' as const, pnPrid: token('b'), pnParam: 'T.com.x.voip' },
    ];
    const targets = resolveTargets('alice', registered, inline, 'sandbox');
    expect(
      targets.map((t) => [t.deviceId.startsWith('inline-') ? 'inline' : t.deviceId, t.registeredTo, t.environment]),
    ).toEqual([
      ['reg', 'alice', 'production'],
      ['inline', undefined, 'sandbox'],
    ]);
  });
});
