import { describe, expect, it } from '@jest/globals';
import { callIdHashOf, mintCallToken, type TokenKeyRing, verifyCallToken } from '../../functions/core/call-token.js';
import { callUuidOf } from '../../functions/core/ids.js';

const k1 = { kid: 'k1', secret: 'first-secret-at-least-16' };
const k2 = { kid: 'k2', secret: 'second-secret-at-least-16' };
const ring: TokenKeyRing = { current: k1, all: [k1] };
const claims = {
  callUuid: callUuidOf('acme', 'x'.repeat(256)),
  callIdHash: callIdHashOf('x'.repeat(256)),
  slot: 29,
  lifetimeEnd: 1_795_765_423_000,
};

describe('call tokens', () => {
  it('round-trips its claims and stays under 200 characters for the longest callId', () => {
    const token = mintCallToken(k1, claims);
    expect(token.length).toBeLessThanOrEqual(200);
    expect(verifyCallToken(ring, token)).toEqual(claims);
  });

  it('rejects a token with any character changed', () => {
    const token = mintCallToken(k1, claims);
    for (let i = 4; i < token.length; i += 3) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const forged = token.slice(0, i) + c + token.slice(i + 1);
      if (forged === token) continue;
      expect(verifyCallToken(ring, forged)).toBeUndefined();
    }
  });

  it('has exactly one spelling: the spare bits of the last base64url character are not ignored', () => {
    const token = mintCallToken(k1, claims);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const flip = (s: string, at: number) => s.slice(0, at) + alphabet[alphabet.indexOf(s[at]!) ^ 1] + s.slice(at + 1);
    const [, tag, payload, mac] = token.split('.') as [string, string, string, string];
    expect(verifyCallToken(ring, flip(token, token.length - 1))).toBeUndefined();
    expect(verifyCallToken(ring, `cw1.${tag}.${flip(payload, payload.length - 1)}.${mac}`)).toBeUndefined();
  });

  it('rejects tokens signed with an unknown key, and garbage', () => {
    expect(
      verifyCallToken(ring, mintCallToken({ kid: 'k1', secret: 'another-secret-entirely' }, claims)),
    ).toBeUndefined();
    expect(verifyCallToken(ring, mintCallToken(k2, claims))).toBeUndefined();
    for (const junk of [
      '',
      'cw1',
      'cw1...',
      'Bearer x',
      'x'.repeat(201),
      `cw1.AAAAAA.${'A'.repeat(39)}.${'A'.repeat(22)}`,
    ]) {
      expect(verifyCallToken(ring, junk)).toBeUndefined();
    }
  });

  it('keeps verifying tokens of a key being rotated out while new ones use the new key', () => {
    const old = mintCallToken(k1, claims);
    const rotated: TokenKeyRing = { current: k2, all: [k2, k1] };
    expect(verifyCallToken(rotated, old)).toEqual(claims);
    expect(verifyCallToken(rotated, mintCallToken(rotated.current, claims))).toEqual(claims);
    expect(verifyCallToken({ current: k2, all: [k2] }, old)).toBeUndefined();
  });
});
