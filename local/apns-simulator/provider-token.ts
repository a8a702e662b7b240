/**
 * Provider authentication tokens (JWT, ES256) as APNs checks them: header `alg` ES256 and `kid`,
 * claims `iss` (team id) and `iat` (seconds), signature in JOSE form (raw r||s, 64 bytes).
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { Reason, type ReasonString } from './reasons.js';

/** A token whose `iat` is older than this is stale (Apple: refresh at least once an hour). */
export const PROVIDER_TOKEN_MAX_AGE_SECONDS = 3600;
/** A token whose `iat` is further than this in the future is refused as invalid. */
export const PROVIDER_TOKEN_MAX_FUTURE_SKEW_SECONDS = 300;
/** Apple: refresh no more than once per 20 minutes. */
export const PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS = 20 * 60 * 1000;

export type TokenCheck =
  | { ok: true; teamId: string; keyId: string; issuedAt: number }
  /** `teamId`/`keyId` are set only when the signature was verified (a stale token). */
  | { ok: false; status: 403; reason: ReasonString; teamId?: string; keyId?: string };

/** Public keys trusted for token auth, by team id and key id. */
export class TrustedKeys {
  private readonly keys = new Map<string, KeyObject>();

  add(teamId: string, keyId: string, key: KeyObject | string): void {
    const publicKey = typeof key === 'string' ? createPublicKey(key) : toPublic(key);
    const details = publicKey.asymmetricKeyDetails;
    if (publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
      throw new Error('APNs provider keys are P-256 (prime256v1) EC keys');
    }
    this.keys.set(mapKey(teamId, keyId), publicKey);
  }

  get(teamId: string, keyId: string): KeyObject | undefined {
    return this.keys.get(mapKey(teamId, keyId));
  }
}

function toPublic(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

function mapKey(teamId: string, keyId: string): string {
  return `${teamId}\u0000${keyId}`;
}

/** Checks an `authorization` header value. `nowMs` is the current time in epoch ms. */
export function checkProviderToken(authorization: string | undefined, keys: TrustedKeys, nowMs: number): TokenCheck {
  if (authorization === undefined || authorization.trim() === '') {
    return { ok: false, status: 403, reason: Reason.MissingProviderToken };
  }
  const invalid = (): TokenCheck => ({ ok: false, status: 403, reason: Reason.InvalidProviderToken });
  const match = /^bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match?.[1]) return invalid();
  const parts = match[1].split('.');
  if (parts.length !== 3) return invalid();
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = decodeJsonObject(headerPart);
  const claims = decodeJsonObject(claimsPart);
  if (!header || !claims) return invalid();
  const keyId = typeof header['kid'] === 'string' && header['kid'] !== '' ? header['kid'] : undefined;
  const teamId = typeof claims['iss'] === 'string' && claims['iss'] !== '' ? claims['iss'] : undefined;
  if (header['alg'] !== 'ES256' || keyId === undefined || teamId === undefined) {
    return invalid();
  }
  const iat = claims['iat'];
  if (typeof iat !== 'number' || !Number.isInteger(iat)) return invalid();
  const key = keys.get(teamId, keyId);
  if (!key) return invalid();
  const signature = decodeBase64Url(signaturePart);
  if (signature?.length !== 64) return invalid();
  const signed = Buffer.from(`${headerPart}.${claimsPart}`, 'ascii');
  if (!verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    return invalid();
  }
  const nowSeconds = Math.floor(nowMs / 1000);
  if (iat > nowSeconds + PROVIDER_TOKEN_MAX_FUTURE_SKEW_SECONDS) return invalid();
  if (nowSeconds - iat > PROVIDER_TOKEN_MAX_AGE_SECONDS) {
    return { ok: false, status: 403, reason: Reason.ExpiredProviderToken, teamId, keyId };
  }
  return { ok: true, teamId, keyId, issuedAt: iat };
}

/**
 * Tracks the tokens each team has used, to refuse a new token presented less than 20 minutes
 * after the team's previous new token (429 `TooManyProviderTokenUpdates`). A token already
 * accepted stays usable until it expires.
 */
export class TokenUpdateTracker {
  private readonly teams = new Map<string, { lastNewAt: number; tokens: Map<string, number> }>();

  /** True when the token may be used now; records it as the team's current token if new. */
  admit(teamId: string, token: string, issuedAtSeconds: number, nowMs: number): boolean {
    const team = this.teams.get(teamId);
    if (!team) {
      this.teams.set(teamId, { lastNewAt: nowMs, tokens: new Map([[token, issuedAtSeconds]]) });
      return true;
    }
    if (team.tokens.has(token)) return true;
    if (nowMs - team.lastNewAt < PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS) return false;
    for (const [known, iat] of team.tokens) {
      if (nowMs / 1000 - iat > PROVIDER_TOKEN_MAX_AGE_SECONDS) team.tokens.delete(known);
    }
    team.tokens.set(token, issuedAtSeconds);
    team.lastNewAt = nowMs;
    return true;
  }

  clear(): void {
    this.teams.clear();
  }
}

function decodeBase64Url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  return Buffer.from(text, 'base64url');
}

function decodeJsonObject(text: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(text);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
