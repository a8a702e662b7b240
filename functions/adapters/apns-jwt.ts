import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
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

/**
 * Apple rejects a provider token refreshed more than once per 20 minutes
 * (TooManyProviderTokenUpdates) or older than an hour (ExpiredProviderToken). A token is
 * replaced once it is this old: inside that window, with room for a slow push.
 */
export const REPLACE_AFTER_MS = 40 * 60 * 1000;

/** How long a push waits for the shared token before minting one of its own. */
const SHARE_PATIENCE_MS = 500;

export function mintProviderToken(key: ApnsTeamKey, issuedAtMs: number): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: key.keyId })).toString('base64url');
  const claims = Buffer.from(JSON.stringify({ iss: key.teamId, iat: Math.floor(issuedAtMs / 1000) })).toString(
    'base64url',
  );
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${header}.${claims}.${signature.toString('base64url')}`;
}

export interface SharedToken {
  token: string;
  mintedAt: number;
}

/**
 * Where every container of a deployment finds the team's current provider token, so that many
 * warm Lambda containers present one token instead of each minting its own.
 */
export interface ProviderTokenShare {
  read(teamId: string, keyId: string): Promise<SharedToken | undefined>;
  /** Stores `next` only if the stored token is still `previous` (or there is none): one writer wins. */
  replace(teamId: string, keyId: string, next: SharedToken, previous: SharedToken | undefined): Promise<boolean>;
}

/**
 * One provider token per team: cached in the container, shared through `share` across
 * containers, replaced REPLACE_AFTER_MS after it was minted (or at once when Apple rejects it)
 * by whichever container gets there first; the others adopt the winner's token.
 */
export class ProviderTokens {
  private readonly cache = new Map<string, SharedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Counts the tokens this instance minted (and got stored): tests check the sharing with it. */
  minted = 0;

  constructor(
    private readonly keys: ReadonlyMap<string, ApnsTeamKey>,
    private readonly clock: Clock,
    private readonly share?: ProviderTokenShare,
  ) {}

  get teams(): string[] {
    return [...this.keys.keys()];
  }

  private fresh(t: SharedToken | undefined): t is SharedToken {
    return t !== undefined && this.clock.now() - t.mintedAt < REPLACE_AFTER_MS;
  }

  async tokenFor(teamId: string): Promise<string | undefined> {
    const key = this.keys.get(teamId);
    if (!key) return undefined;
    const cached = this.cache.get(teamId);
    if (this.fresh(cached)) return cached.token;
    // One refresh per team at a time in this container.
    let p = this.inflight.get(teamId);
    if (!p) {
      p = this.refresh(key, cached).finally(() => this.inflight.delete(teamId));
      this.inflight.set(teamId, p);
    }
    return p;
  }

  /** Apple rejected `token` (expired or invalid): replace it, unless another container already did. */
  async invalidate(teamId: string, token: string): Promise<void> {
    const key = this.keys.get(teamId);
    const cached = this.cache.get(teamId);
    if (!key || cached?.token !== token) return;
    await this.refresh(key, cached, true);
  }

  private async refresh(key: ApnsTeamKey, known: SharedToken | undefined, rejected = false): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((r) => (timer = setTimeout(() => r('slow'), SHARE_PATIENCE_MS)));
    try {
      const token = await Promise.race([this.refreshShared(key, known, rejected), slow]);
      // The share is slow or unreachable: a token of our own still lets the call ring in time.
      return token === 'slow' ? this.mintLocally(key) : token;
    } catch {
      return this.mintLocally(key);
    } finally {
      clearTimeout(timer);
    }
  }

  private mint(key: ApnsTeamKey): SharedToken {
    const now = this.clock.now();
    return { token: mintProviderToken(key, now), mintedAt: now };
  }

  private adopt(teamId: string, t: SharedToken): string {
    this.cache.set(teamId, t);
    return t.token;
  }

  private mintLocally(key: ApnsTeamKey): string {
    this.minted++;
    return this.adopt(key.teamId, this.mint(key));
  }

  private async refreshShared(key: ApnsTeamKey, known: SharedToken | undefined, rejected: boolean): Promise<string> {
    let current = known;
    if (this.share) {
      const stored = await this.share.read(key.teamId, key.keyId);
      const storedIsRejected = rejected && stored?.token === known?.token;
      if (this.fresh(stored) && !storedIsRejected) return this.adopt(key.teamId, stored);
      current = stored;
    }
    const next = this.mint(key);
    if (this.share && !(await this.share.replace(key.teamId, key.keyId, next, current))) {
      // Another container replaced it first: use theirs.
      const winner = await this.share.read(key.teamId, key.keyId);
      if (winner) return this.adopt(key.teamId, winner);
    }
    this.minted++;
    return this.adopt(key.teamId, next);
  }
}
