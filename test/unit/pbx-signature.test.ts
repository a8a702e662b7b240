import { describe, expect, it } from '@jest/globals';
import { signatureOf, verifySignature } from '../../functions/core/pbx-signature.js';

const secrets = new Map([['acme', ['old-secret', 'new-secret']]]);
const secretsOf = (t: string) => secrets.get(t);
const now = 1_795_765_363_000;
const ts = String(now / 1000);
const body = Buffer.from('{"callId":"x"}');
const signed = (
  secret: string,
  o: Partial<{ timestamp: string; method: string; path: string; body: Buffer }> = {},
) => ({
  tenantId: 'acme',
  timestamp: o.timestamp ?? ts,
  signature: signatureOf(secret, o.timestamp ?? ts, o.method ?? 'POST', o.path ?? '/v1/pbx/calls', o.body ?? body),
  method: 'POST',
  paths: ['/v1/pbx/calls'],
  body,
});

describe('PBX signatures', () => {
  it('accepts either active secret (rotation)', () => {
    expect(verifySignature(signed('old-secret'), secretsOf, now)).toEqual({ ok: true, tenantId: 'acme' });
    expect(verifySignature(signed('new-secret'), secretsOf, now)).toEqual({ ok: true, tenantId: 'acme' });
  });

  it('signs "<timestamp>.<METHOD>.<path>.<raw body>" with HMAC-SHA256 as lowercase hex', () => {
    expect(signatureOf('s', '1', 'post', '/v1/pbx/calls?x=1', '{}')).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(signatureOf('s', '1', 'post', '/v1/pbx/calls', '{}')).toBe(
      signatureOf('s', '1', 'POST', '/v1/pbx/calls', Buffer.from('{}')),
    );
  });

  it('answers bad_signature alike for a wrong secret, body, path, method, unknown tenant and malformed headers', () => {
    const bad = [
      signed('wrong'),
      signed('new-secret', { body: Buffer.from('{"callId":"y"}') }),
      signed('new-secret', { path: '/v1/pbx/calls?' }),
      signed('new-secret', { method: 'PUT' }),
      { ...signed('new-secret'), tenantId: 'nobody' },
      { ...signed('new-secret'), tenantId: undefined },
      { ...signed('new-secret'), timestamp: undefined },
      { ...signed('new-secret'), timestamp: '12.5' },
      { ...signed('new-secret'), signature: `v2=${'0'.repeat(64)}` },
      { ...signed('new-secret'), signature: signed('new-secret').signature.toUpperCase() },
    ];
    for (const req of bad) expect(verifySignature(req, secretsOf, now)).toEqual({ ok: false, code: 'bad_signature' });
  });

  it('accepts a signature over any of the given spellings of the path', () => {
    const req = {
      ...signed('new-secret', { path: '/v1/pbx/calls/a%40b/cancel' }),
      paths: ['/v1/pbx/calls/a@b/cancel', '/v1/pbx/calls/a%40b/cancel'],
    };
    expect(verifySignature(req, secretsOf, now).ok).toBe(true);
    expect(verifySignature({ ...req, paths: ['/v1/pbx/calls/a@b/cancel'] }, secretsOf, now).ok).toBe(false);
  });

  it('never accepts the decoy secret used to keep timing even, for a known tenant or an unknown one', () => {
    const decoy = 'callwake-decoy-secret-for-constant-time';
    expect(verifySignature(signed(decoy), secretsOf, now)).toEqual({ ok: false, code: 'bad_signature' });
    expect(verifySignature({ ...signed(decoy), tenantId: 'nobody' }, secretsOf, now)).toEqual({
      ok: false,
      code: 'bad_signature',
    });
    const single = (t: string) => (t === 'solo' ? ['only-secret'] : undefined);
    expect(verifySignature({ ...signed(decoy), tenantId: 'solo' }, single, now)).toEqual({
      ok: false,
      code: 'bad_signature',
    });
    expect(verifySignature({ ...signed('only-secret'), tenantId: 'solo' }, single, now).ok).toBe(true);
  });

  it('answers stale_signature only for a valid signature more than 300 s off', () => {
    const at = (offset: number) => String(now / 1000 + offset);
    expect(verifySignature(signed('new-secret', { timestamp: at(300) }), secretsOf, now).ok).toBe(true);
    expect(verifySignature(signed('new-secret', { timestamp: at(-300) }), secretsOf, now).ok).toBe(true);
    expect(verifySignature(signed('new-secret', { timestamp: at(301) }), secretsOf, now)).toEqual({
      ok: false,
      code: 'stale_signature',
    });
    expect(verifySignature(signed('new-secret', { timestamp: at(-301) }), secretsOf, now)).toEqual({
      ok: false,
      code: 'stale_signature',
    });
    // The server's clock 999 ms into its second: 300 s is still 300 s, 301 s is not.
    const late = now + 999;
    expect(verifySignature(signed('new-secret', { timestamp: at(-300) }), secretsOf, late).ok).toBe(true);
    expect(verifySignature(signed('new-secret', { timestamp: at(300) }), secretsOf, late).ok).toBe(true);
    expect(verifySignature(signed('new-secret', { timestamp: at(-301) }), secretsOf, late)).toEqual({
      ok: false,
      code: 'stale_signature',
    });
    expect(verifySignature({ ...signed('wrong', { timestamp: at(-301) }) }, secretsOf, now)).toEqual({
      ok: false,
      code: 'bad_signature',
    });
  });
});
