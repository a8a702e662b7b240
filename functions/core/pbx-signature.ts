import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * PBX request signing: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<raw body>")>`.
 * Exported for PBX integrators and tests as well as for the verifier.
 */
export const MAX_SKEW_SECONDS = 300;

export function signatureOf(
  secret: string,
  timestamp: string,
  method: string,
  path: string,
  body: Buffer | string,
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.${method.toUpperCase()}.${path}.`);
  mac.update(body);
  return `v1=${mac.digest('hex')}`;
}

export interface SignedRequest {
  tenantId: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  method: string;
  /** The path (with `?query`) as signed; several when the exact spelling sent is unknown. */
  paths: readonly string[];
  body: Buffer;
}

export type SignatureVerdict =
  | { ok: true; tenantId: string }
  | { ok: false; code: 'bad_signature' | 'stale_signature' };

/** Any integer: a wrong one (milliseconds, say) with a valid signature is stale, not malformed. */
const TIMESTAMP = /^-?[0-9]+$/;
const SIGNATURE = /^v1=[0-9a-f]{64}$/;
// Pads the comparisons to at least two secrets' worth, so timing shows neither an unknown tenant
// nor one that is not rotating; it never counts as a match.
const DECOY_SECRET = 'callwake-decoy-secret-for-constant-time';

/**
 * Every failure before the skew check gets the same answer (`bad_signature`), so a caller
 * cannot tell an unknown tenant from a wrong signature. Each of the tenant's secrets is
 * compared (rotation), all of them, against every spelling of the path, in constant time.
 */
export function verifySignature(
  req: SignedRequest,
  secretsOf: (tenantId: string) => readonly string[] | undefined,
  nowMs: number,
): SignatureVerdict {
  const { tenantId, timestamp, signature } = req;
  if (!tenantId || !timestamp || !signature || !TIMESTAMP.test(timestamp) || !SIGNATURE.test(signature)) {
    return { ok: false, code: 'bad_signature' };
  }
  const known = secretsOf(tenantId) ?? [];
  // Always at least two secrets' worth of HMACs: an unknown tenant, or one not rotating, must not
  // answer faster. A decoy is computed but can never match, whoever knows its value.
  const candidates = [
    ...known.map((secret) => ({ secret, real: true })),
    { secret: DECOY_SECRET, real: false },
    { secret: DECOY_SECRET, real: false },
  ];
  const given = Buffer.from(signature, 'latin1');
  let matched = false;
  for (const { secret, real } of candidates.slice(0, Math.max(2, known.length))) {
    for (const path of req.paths) {
      const expected = Buffer.from(signatureOf(secret, timestamp, req.method, path, req.body), 'latin1');
      if (timingSafeEqual(given, expected) && real) matched = true;
    }
  }
  if (!matched) return { ok: false, code: 'bad_signature' };
  // Whole seconds on both sides: a timestamp exactly 300 s old stays good for the whole second
  // the server's clock is in (a client that signs at now − 300 s must not depend on milliseconds).
  if (Math.abs(Math.floor(nowMs / 1000) - Number(timestamp)) > MAX_SKEW_SECONDS)
    return { ok: false, code: 'stale_signature' };
  return { ok: true, tenantId };
}
