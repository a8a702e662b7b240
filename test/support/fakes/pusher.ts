import type { Timer } from '../../../functions/core/clock.js';
import type { Pusher, PushOutcome, PushRequest } from '../../../functions/core/ports.js';

/** Apple's answers that mean the token will never work again (the real pusher's rule). */
const PERMANENT_REASONS = new Set(['Unregistered', 'BadDeviceToken', 'DeviceTokenNotForTopic']);
const TIMEOUT: PushOutcome = { result: 'failed', reason: 'Timeout', permanent: false };

type Reply = { accept: true } | { reason: string } | { silent: true };

export interface SentPush {
  request: PushRequest;
  deadline: number;
  /** Timer time when the push went out. */
  at: number;
}

/**
 * The Pusher port as APNs would answer it, in virtual time (test/support/checks/pusher.ts holds it
 * and ApnsPusher to the same outcomes). Every token is accepted at once unless told otherwise;
 * a reply may take time; one that would come after the deadline is `Timeout` at the deadline.
 * Apple's device tokens are hex: a token is the same device in either case.
 */
export class FakePusher implements Pusher {
  /** The pushes that reached "APNs", in order. */
  readonly sent: SentPush[] = [];
  private readonly replies = new Map<string, { reply: Reply; afterMs: number }>();
  private apnsIds = 0;

  constructor(
    readonly teams: readonly string[],
    private readonly timer: Timer,
  ) {}

  accept(pushToken: string, afterMs = 0): this {
    return this.plan(pushToken, { accept: true }, afterMs);
  }

  /** Apple refuses the push with this reason (`Unregistered`, `BadDeviceToken`, `InternalServerError`, …). */
  reject(pushToken: string, reason: string, afterMs = 0): this {
    return this.plan(pushToken, { reason }, afterMs);
  }

  /** Apple never answers. */
  silence(pushToken: string): this {
    return this.plan(pushToken, { silent: true }, 0);
  }

  /** The pushes one device got. */
  sentTo(pushToken: string): SentPush[] {
    return this.sent.filter((p) => p.request.pushToken.toLowerCase() === pushToken.toLowerCase());
  }

  async send(request: PushRequest, deadline: number): Promise<PushOutcome> {
    if (!this.teams.includes(request.teamId)) return { result: 'failed', reason: 'UnknownTeam', permanent: false };
    if (this.timer.now() >= deadline) return TIMEOUT;
    this.sent.push({ request, deadline, at: this.timer.now() });
    const { reply, afterMs } = this.replies.get(request.pushToken.toLowerCase()) ?? {
      reply: { accept: true },
      afterMs: 0,
    };
    if ('silent' in reply || this.timer.now() + afterMs > deadline) {
      await this.timer.sleep(deadline - this.timer.now());
      return TIMEOUT;
    }
    if (afterMs > 0) await this.timer.sleep(afterMs);
    if ('accept' in reply)
      return { result: 'sent', apnsId: `00000000-0000-4000-8000-${String(++this.apnsIds).padStart(12, '0')}` };
    return { result: 'failed', reason: reply.reason, permanent: PERMANENT_REASONS.has(reply.reason) };
  }

  private plan(pushToken: string, reply: Reply, afterMs: number): this {
    this.replies.set(pushToken.toLowerCase(), { reply, afterMs });
    return this;
  }
}
