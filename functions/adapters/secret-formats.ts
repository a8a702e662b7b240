import type { TokenKeyRing } from '../core/call-token.js';
import type { AppRef, TenantConfig, TenantLimits } from '../core/tenants.js';

/**
 * The three secrets' JSON shapes (docs/deploy.md shows how to write them), read into what the
 * functions use. A secret that does not parse stops initialisation with a SecretFormatError.
 */

export class SecretFormatError extends Error {}

const object = (text: string, what: string): Record<string, unknown> => {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new SecretFormatError(`${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new SecretFormatError(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
};

/** A PBX secret must be long enough that guessing it is hopeless. */
export const MIN_TENANT_SECRET_BYTES = 32;

const strings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];

function appsOf(tenant: string, v: unknown): AppRef[] {
  if (!Array.isArray(v)) throw new SecretFormatError(`tenant ${tenant}: "apps" must be a list of {teamId, bundleId}`);
  return v.map((a) => {
    const { teamId, bundleId } = (a ?? {}) as { teamId?: unknown; bundleId?: unknown };
    if (typeof teamId !== 'string' || typeof bundleId !== 'string' || !teamId || !bundleId) {
      throw new SecretFormatError(`tenant ${tenant}: each app needs a teamId and a bundleId`);
    }
    return { teamId, bundleId };
  });
}

function limitsOf(tenant: string, v: unknown): Partial<TenantLimits> {
  const { requestsPerSecond, ringingCalls } = (v ?? {}) as Record<string, unknown>;
  const ok = (n: unknown) => n === undefined || (Number.isInteger(n) && (n as number) > 0);
  if (!ok(requestsPerSecond) || !ok(ringingCalls)) {
    throw new SecretFormatError(`tenant ${tenant}: limits must be positive integers`);
  }
  return {
    ...(requestsPerSecond === undefined ? {} : { requestsPerSecond: requestsPerSecond as number }),
    ...(ringingCalls === undefined ? {} : { ringingCalls: ringingCalls as number }),
  };
}

/**
 * The tenants: `{"<tenantId>": {"secrets": ["…"], "apps": [{"teamId", "bundleId"}], "limits": {…}}}`,
 * or the v1 form `{"<tenantId>": ["<secret>", …]}` (a tenant that may push to every configured app:
 * for a deployment with one tenant). Refuses, naming the tenant and never the secret: a tenant
 * without a secret, a secret under 32 bytes, a secret two tenants share (either could then act
 * as the other, since the tenant id is not signed).
 */
export function parseTenants(text: string): Map<string, TenantConfig> {
  return tenantsFrom(Object.entries(object(text, 'tenant secrets')));
}

/** The same rules for tenants given as entries (the local stack's configuration). */
export function tenantsFrom(entries: Iterable<[string, unknown]>): Map<string, TenantConfig> {
  const out = new Map<string, TenantConfig>();
  const owners = new Map<string, string>();
  for (const [tenant, v] of entries) {
    const form = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    const secrets = strings(form ? form.secrets : v);
    if (secrets.length === 0) throw new SecretFormatError(`tenant ${tenant} has no secret`);
    for (const secret of secrets) {
      if (Buffer.byteLength(secret, 'utf8') < MIN_TENANT_SECRET_BYTES) {
        throw new SecretFormatError(`tenant ${tenant} has a secret shorter than ${MIN_TENANT_SECRET_BYTES} bytes`);
      }
      const other = owners.get(secret);
      if (other !== undefined && other !== tenant) {
        throw new SecretFormatError(`tenants ${other} and ${tenant} share a secret; each needs its own`);
      }
      owners.set(secret, tenant);
    }
    out.set(tenant, {
      secrets,
      ...(form?.apps === undefined ? {} : { apps: appsOf(tenant, form.apps) }),
      ...(form?.limits === undefined ? {} : { limits: limitsOf(tenant, form.limits) }),
    });
  }
  return out;
}

/**
 * `{"<teamId>": {"keyId": "…", "privateKey": "<PEM of the .p8>"}}`, as given: the key is read
 * into a signing key where it is used (functions/apns.ts), so no function that never pushes
 * carries the APNs code.
 */
export function parseApnsKeys(text: string): Map<string, { keyId: string; privateKey: string }> {
  const out = new Map<string, { keyId: string; privateKey: string }>();
  for (const [teamId, v] of Object.entries(object(text, 'APNs keys'))) {
    const { keyId, privateKey } = (v ?? {}) as { keyId?: unknown; privateKey?: unknown };
    if (typeof keyId !== 'string' || typeof privateKey !== 'string')
      throw new SecretFormatError(`APNs team ${teamId} needs keyId and privateKey`);
    out.set(teamId, { keyId, privateKey });
  }
  return out;
}

/**
 * `{"current": "<kid>", "keys": {"<kid>": "<secret>", …}}`, or the generated
 * `{"kid": "<kid>", "key": "<secret>"}`. Old kids stay in `keys` while their tokens may live.
 */
export function parseTokenKeys(text: string): TokenKeyRing {
  const v = object(text, 'token keys');
  if (typeof v.kid === 'string' && typeof v.key === 'string' && v.key.length >= 16) {
    const key = { kid: v.kid, secret: v.key };
    return { current: key, all: [key] };
  }
  const keys = (v.keys ?? {}) as Record<string, unknown>;
  const all = Object.entries(keys)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1].length >= 16)
    .map(([kid, secret]) => ({ kid, secret }));
  const current = all.find((k) => k.kid === v.current);
  if (!current)
    throw new SecretFormatError('token keys need "current" naming one of "keys" (each at least 16 characters)');
  return { current, all };
}
