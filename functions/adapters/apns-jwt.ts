import { type KeyObject, createPrivateKey, sign } from 'node:crypto';
import type { Clock } from '../core/clock.js';

/** One Apple team's token-signing key (a .p8), chosen by the push's team id. */
export interface ApnsTeamKey {
  teamId: string;
  keyId: string;
  privateKey: KeyObject;
}

export const teamKeyOf = (teamId: string, keyId: string, privateKeyPem: string): ApnsTeamKey => ({
  teamId,
  keyId,
  privateKey: createPrivateKey(privateKeyPem),
});

/** Apple rejects a token refreshed more than once per 20 minutes, or older than an hour. */
export const TOKEN_REFRESH_AFTER_MS = 50 * 60 * 1000;

export function mintProviderToken(key: ApnsTeamKey, issuedAtMs: number): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: key.keyId })).toString('base64url');
  const claims = Buffer.from(JSON.stringify({ iss: key.teamId, iat: Math.floor(issuedAtMs / 1000) })).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${header}.${claims}.${signature.toString('base64url')}`;
}

/** Caches one provider token per team and replaces it when it ages out or Apple rejects it. */
export class ProviderTokens {
  private readonly cache = new Map<string, { token: string; mintedAt: number }>();

  constructor(
    private readonly keys: ReadonlyMap<string, ApnsTeamKey>,
    private readonly clock: Clock,
  ) {}

  get teams(): string[] {
    return [...this.keys.keys()];
  }

  tokenFor(teamId: string): string | undefined {
    const key = this.keys.get(teamId);
    if (!key) return undefined;
    const now = this.clock.now();
    const cached = this.cache.get(teamId);
    if (cached && now - cached.mintedAt < TOKEN_REFRESH_AFTER_MS) return cached.token;
    const token = mintProviderToken(key, now);
    this.cache.set(teamId, { token, mintedAt: now });
    return token;
  }

  /** Apple said the token is expired or invalid: the next push mints a fresh one. */
  invalidate(teamId: string, token: string): void {
    if (this.cache.get(teamId)?.token === token) this.cache.delete(teamId);
  }
}
