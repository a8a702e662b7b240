import type { TokenKeyRing } from '../core/call-token.js';
import { type ApnsTeamKey, teamKeyOf } from './apns-jwt.js';

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

/** `{"<tenantId>": ["<secret>", …]}` (a single string is taken as one secret). */
export function parseTenantSecrets(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [tenant, v] of Object.entries(object(text, 'tenant secrets'))) {
    const list =
      typeof v === 'string'
        ? [v]
        : Array.isArray(v)
          ? v.filter((s): s is string => typeof s === 'string' && s.length > 0)
          : [];
    if (list.length === 0) throw new SecretFormatError(`tenant ${tenant} has no secret`);
    out.set(tenant, list);
  }
  return out;
}

/** `{"<teamId>": {"keyId": "…", "privateKey": "<PEM of the .p8>"}}` */
export function parseApnsKeys(text: string): Map<string, ApnsTeamKey> {
  const out = new Map<string, ApnsTeamKey>();
  for (const [teamId, v] of Object.entries(object(text, 'APNs keys'))) {
    const { keyId, privateKey } = (v ?? {}) as { keyId?: unknown; privateKey?: unknown };
    if (typeof keyId !== 'string' || typeof privateKey !== 'string')
      throw new SecretFormatError(`APNs team ${teamId} needs keyId and privateKey`);
    out.set(teamId, teamKeyOf(teamId, keyId, privateKey));
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
