/** What a worker's next push to each token should come to, given the APNs faults it set up. */

export interface Expectation {
  result: 'sent' | 'failed';
  reason?: string;
  /** A failure for good: the registry must drop the device in the same request. */
  permanent?: boolean;
}

export class DeliveryExpectations {
  /** Tokens every later push fails for (marked unregistered, or bound to another topic). */
  private readonly dead = new Set<string>();
  /** Faults injected for the next ring only. */
  private readonly nextRing = new Map<string, Expectation>();

  markDead(token: string) {
    this.dead.add(token.toLowerCase());
  }

  expectOnNextRing(token: string, e: Expectation) {
    this.nextRing.set(token.toLowerCase(), e);
  }

  /** The ring went out: its one-off faults are used up. */
  ringSent() {
    this.nextRing.clear();
  }

  of(token: string): Expectation {
    const t = token.toLowerCase();
    const planned = this.nextRing.get(t);
    if (planned) return planned;
    if (this.dead.has(t)) return { result: 'failed', reason: 'Unregistered', permanent: true };
    return { result: 'sent' };
  }
}
