import type { ApnsEnvironment } from '../core/call.js';
import type { Log, Pusher, PushOutcome, PushRequest } from '../core/ports.js';
import { ApnsConnection, type ApnsExchange } from './apns-connection.js';
import type { ProviderTokens } from './apns-jwt.js';

export const APPLE_HOSTS: Record<ApnsEnvironment, string> = {
  production: 'api.push.apple.com:443',
  sandbox: 'api.sandbox.push.apple.com:443',
};

/** Apple's answers that mean the token will never work again: drop the device. */
const PERMANENT_TOKEN_REASONS = new Set(['Unregistered', 'BadDeviceToken', 'DeviceTokenNotForTopic']);
const RETRYABLE_STATUSES = new Set([429, 500, 503]);
const PROVIDER_TOKEN_REASONS = new Set(['ExpiredProviderToken', 'InvalidProviderToken']);

export interface ApnsPusherOptions {
  tokens: ProviderTokens;
  /** `host:port` that takes every push whatever its environment (a simulator, a proxy). */
  hostOverride?: string;
  /** `host:port` for one environment, over `hostOverride` (e.g. two simulators, one per environment). */
  hosts?: Partial<Record<ApnsEnvironment, string>>;
  /** Extra trust for those hosts, when they are our own simulators; otherwise the system's CAs (and NODE_EXTRA_CA_CERTS). */
  ca?: string;
  log: Log;
  /** First retry delay; each next one doubles, with jitter. */
  backoffMs?: number;
  /** How long one attempt may wait for Apple before it is retried (within the push deadline). */
  attemptTimeoutMs?: number;
}

/**
 * The Pusher port over APNs' HTTP/2 provider API with token auth.
 * Retries what Apple says is passing (429, 500, 503, resets, GOAWAY) with jittered backoff
 * inside the deadline, honouring Retry-After; a rejected provider token is replaced once;
 * anything else is final. We speak the protocol ourselves (node:http2) because `apns2`
 * takes neither a port, nor a CA, nor a request timeout, nor an outside signing token.
 */
export class ApnsPusher implements Pusher {
  private readonly connections = new Map<string, ApnsConnection>();
  private readonly backoffMs: number;

  constructor(private readonly opts: ApnsPusherOptions) {
    this.backoffMs = opts.backoffMs ?? 100;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 2000;
  }

  private readonly attemptTimeoutMs: number;

  get teams(): readonly string[] {
    return this.opts.tokens.teams;
  }

  /** Where a device of this environment is pushed: Apple's host for it, unless overridden. */
  hostFor(environment: ApnsEnvironment): string {
    return this.opts.hosts?.[environment] ?? this.opts.hostOverride ?? APPLE_HOSTS[environment];
  }

  private connectionFor(environment: ApnsEnvironment): ApnsConnection {
    const host = this.hostFor(environment);
    let c = this.connections.get(host);
    if (!c) {
      const ownHost = host !== APPLE_HOSTS[environment];
      c = new ApnsConnection(`https://${host}`, ownHost && this.opts.ca ? { ca: this.opts.ca } : {});
      this.connections.set(host, c);
    }
    return c;
  }

  async send(req: PushRequest, deadline: number): Promise<PushOutcome> {
    let refreshedToken = false;
    let last: ApnsExchange | undefined;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const providerToken = await this.opts.tokens.tokenFor(req.teamId);
      if (!providerToken) return { result: 'failed', reason: 'UnknownTeam', permanent: false };
      const headers = {
        authorization: `bearer ${providerToken}`,
        'apns-push-type': req.pushType,
        'apns-topic': req.topic,
        'apns-priority': '10',
        'apns-expiration': String(req.expiration),
        ...(req.collapseId ? { 'apns-collapse-id': req.collapseId } : {}),
        'content-type': 'application/json',
      };
      const connection = this.connectionFor(req.environment);
      last = await connection.send(
        `/3/device/${req.pushToken}`,
        headers,
        req.payload,
        Math.min(deadline, Date.now() + this.attemptTimeoutMs),
      );

      if (last.kind === 'response') {
        if (last.status === 200) return { result: 'sent', apnsId: last.apnsId ?? '' };
        const reason = last.reason ?? `HTTP${last.status}`;
        if (PROVIDER_TOKEN_REASONS.has(reason) && !refreshedToken) {
          refreshedToken = true;
          await this.opts.tokens.invalidate(req.teamId, providerToken);
          continue;
        }
        if (!RETRYABLE_STATUSES.has(last.status)) {
          return { result: 'failed', reason, permanent: PERMANENT_TOKEN_REASONS.has(reason) };
        }
      } else if (last.kind === 'timeout') {
        connection.probe();
      }
      const wait = this.retryDelay(attempt, last.kind === 'response' ? last.retryAfterMs : undefined);
      if (Date.now() + wait >= deadline) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    return { result: 'failed', reason: reasonOf(last), permanent: false };
  }

  /** Full jitter on an exponential step; Apple's Retry-After, when given, is a floor. */
  private retryDelay(attempt: number, retryAfterMs: number | undefined): number {
    const step = Math.min(2000, this.backoffMs * 2 ** attempt);
    return Math.max(retryAfterMs ?? 0, step / 2 + Math.random() * (step / 2));
  }

  close(): void {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}

function reasonOf(last: ApnsExchange | undefined): string {
  if (!last || last.kind === 'timeout') return 'Timeout';
  if (last.kind === 'connection-error') return 'ConnectionError';
  return last.reason ?? `HTTP${last.status}`;
}
