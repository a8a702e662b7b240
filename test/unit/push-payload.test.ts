import { describe, expect, it } from '@jest/globals';
import type { Call } from '../../functions/core/call.js';
import { buildPushPayload, MAX_PAYLOAD_BYTES } from '../../functions/core/push-payload.js';

const call = (caller: Call['caller']): Call => ({
  tenantId: 'acme',
  callId: 'c'.repeat(256),
  callUuid: '6f1c0000-0000-5000-8000-000000000000',
  status: 'ringing',
  tombstone: false,
  createdAt: 1_795_765_363_000,
  expiresAt: 1_795_765_423_000,
  lifetimeEnd: 1_795_769_023_000,
  caller,
  hasVideo: true,
  devices: {},
});
const content = (caller: Call['caller']) => ({
  call: call(caller),
  token: 't'.repeat(73),
  apiUrl: 'https://api.example.com/v1/app',
  sentAt: 1_795_765_363_442,
});

describe('push payloads', () => {
  it('builds the contract VoIP payload', () => {
    const p = JSON.parse(buildPushPayload('voip', content({ number: '+1555', displayName: 'Bob', uri: 'sip:bob@x' })));
    expect(p).toEqual({
      aps: {},
      callwake: {
        v: 1,
        type: 'call',
        callId: 'c'.repeat(256),
        callUuid: '6f1c0000-0000-5000-8000-000000000000',
        caller: { number: '+1555', displayName: 'Bob' },
        hasVideo: true,
        token: 't'.repeat(73),
        api: 'https://api.example.com/v1/app',
        sentAt: 1_795_765_363_442,
        expiresAt: 1_795_765_423_000,
      },
    });
  });

  it('puts the uri in only when there is no number', () => {
    expect(JSON.parse(buildPushPayload('voip', content({ uri: 'sip:bob@x' }))).callwake.caller).toEqual({
      uri: 'sip:bob@x',
    });
  });

  it('builds the alert payload with the display name, else number, else uri as body', () => {
    const alert = (caller: Call['caller']) => JSON.parse(buildPushPayload('alert', content(caller))).aps;
    expect(alert({ number: '+1555', displayName: 'Bob' })).toEqual({
      alert: { title: 'Incoming call', body: 'Bob' },
      sound: 'default',
      'interruption-level': 'time-sensitive',
      category: 'INCOMING_CALL',
    });
    expect(alert({ number: '+1555' }).alert.body).toBe('+1555');
    expect(alert({ uri: 'sip:bob@x' }).alert.body).toBe('sip:bob@x');
  });

  it.each(['voip', 'alert'] as const)('shortens a huge display name by code points until the %s push fits', (type) => {
    // Control characters escape to 6 bytes each and emoji are 4 bytes: the worst cases for size.
    const name = '\u0001'.repeat(300) + '\u{1F600}'.repeat(2000);
    const payload = buildPushPayload(
      type,
      content({ number: '+1555', displayName: name, uri: `sip:${'u'.repeat(500)}` }),
    );
    expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES[type]);
    const shown: string = JSON.parse(payload).callwake.caller.displayName;
    expect(name.startsWith(shown)).toBe(true);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown).not.toMatch(/[\uD800-\uDBFF]$/); // never half an emoji
  });

  it('leaves a name that fits alone', () => {
    const name = '\u{1F600}'.repeat(256);
    expect(
      JSON.parse(buildPushPayload('voip', content({ number: '+1', displayName: name }))).callwake.caller.displayName,
    ).toBe(name);
  });
});
