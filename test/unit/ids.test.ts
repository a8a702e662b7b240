import { describe, expect, it } from '@jest/globals';
import { callUuidOf, inlineDeviceIdOf, isCallId, isSimpleId, uuidV5 } from '../../functions/core/ids.js';
import { CALL_UUID_NAMESPACE } from '../support/contract-helpers.js';

describe('ids', () => {
  it('computes RFC 9562 UUID v5 (the RFC example vector)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('derives the callUuid in the contract’s namespace from <tenantId>/<callId>', () => {
    expect(callUuidOf('acme', 'a84b4c76e66710@pbx.example.com')).toBe(
      uuidV5(CALL_UUID_NAMESPACE, 'acme/a84b4c76e66710@pbx.example.com'),
    );
  });

  it('derives the same lowercase callUuid for the same tenant and callId, another for another tenant', () => {
    const a = callUuidOf('acme', 'a84b4c76e66710@pbx.example.com');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(callUuidOf('acme', 'a84b4c76e66710@pbx.example.com')).toBe(a);
    expect(callUuidOf('globex', 'a84b4c76e66710@pbx.example.com')).not.toBe(a);
  });

  it.each([
    ['alice', true],
    ['a.b:c@d+e-f_g', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['.', false],
    ['..', false],
    ['al ice', false],
    ['al/ice', false],
    ['ålice', false],
  ])('simple id %j valid=%s', (id, ok) => {
    expect(isSimpleId(id)).toBe(ok);
  });

  it.each([
    ['a84b4c76e66710@pbx.example.com', true],
    ['!"$%&\'()*+,-.:;<=>@[\\]^_`{|}~', true],
    ['x'.repeat(256), true],
    ['x'.repeat(257), false],
    ['a b', false],
    ['a/b', false],
    ['a?b', false],
    ['a#b', false],
    ['.', false],
    ['..', false],
    ['\u00e9', false],
    ['a\tb', false],
  ])('callId %j valid=%s', (id, ok) => {
    expect(isCallId(id)).toBe(ok);
  });

  it('gives inline devices a stable id that does not reveal the token', () => {
    const token = 'AB'.repeat(32);
    expect(inlineDeviceIdOf(token)).toBe(inlineDeviceIdOf(token.toLowerCase()));
    expect(inlineDeviceIdOf(token)).toMatch(/^inline-[0-9a-f]{24}$/);
    expect(inlineDeviceIdOf(token)).not.toContain('abab');
  });
});
