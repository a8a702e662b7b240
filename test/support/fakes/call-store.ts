import type { Call, EndReason } from '../../../functions/core/call.js';
import type { Clock } from '../../../functions/core/clock.js';
import type { CallStore, DeliveryResult, TransitionResult } from '../../../functions/core/ports.js';

type Results = Record<string, DeliveryResult>;

/**
 * What a stored item is: a JSON document. A copy in and a copy out, undefined members dropped
 * (the DynamoDB adapter's `removeUndefinedValues`), so no caller holds the stored object.
 */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * The CallStore port in memory, with DynamoCallStore's semantics (test/support/checks/call-store.ts
 * runs the same checks on both):
 * - an item past its `lifetimeEnd` is absent to every read and condition (DynamoDB deletes late);
 *   `create` and `putTombstone` judge that at the new item's `createdAt`, the transitions at `now`,
 *   `get` at the store's clock;
 * - each write is one conditional step, as one UpdateItem is: a cancel takes a ringing call (not past
 *   its ring end) or an answered one; an answer/decline takes a ringing call, or is repeated by the
 *   device that already won it; anything else is `unchanged` with the call as it is;
 * - `recordDeliveries` asks for no lifetime (as the adapter's condition does not), turns a ringing
 *   call `unreachable` when nothing was sent, and reports `ringing` to the PBX when a device already
 *   answered or declined (a push given up on reached it after all);
 * - first times are kept (`deliveredAt`, `answeredAt`, a device's `confirmedAt`, …), as
 *   `if_not_exists` keeps them; `markExpired` marks a call once, only while it rings past its end.
 */
export class FakeCallStore implements CallStore {
  private readonly items = new Map<string, Call>();

  constructor(private readonly clock: Clock) {}

  private live(callUuid: string, now: number): Call | undefined {
    const call = this.items.get(callUuid);
    return call && call.lifetimeEnd > now ? call : undefined;
  }

  async create(call: Call): Promise<{ created: true } | { created: false; existing: Call }> {
    const holder = this.live(call.callUuid, call.createdAt);
    if (holder) return { created: false, existing: copy(holder) };
    this.items.set(call.callUuid, copy(call));
    return { created: true };
  }

  async get(callUuid: string): Promise<Call | undefined> {
    const call = this.live(callUuid, this.clock.now());
    return call && copy(call);
  }

  async recordDeliveries(
    callUuid: string,
    results: Results,
    answerStatus: 'ringing' | 'unreachable',
    now: number,
  ): Promise<Call | undefined> {
    const call = this.items.get(callUuid);
    if (!call) return undefined;
    // DynamoDB refuses an update path through a map entry that does not exist.
    const missing = Object.keys(results).filter((slot) => !call.devices[slot]);
    if (missing.length > 0) throw new Error(`no device in slot ${missing.join(', ')} of call ${callUuid}`);
    let told = answerStatus;
    if (answerStatus === 'unreachable') {
      if (call.status === 'ringing') Object.assign(call, { status: 'unreachable', endReason: 'failed' });
      else if (call.status === 'answered' || call.status === 'declined') told = 'ringing';
    }
    for (const [slot, { alertEnvironment, ...result }] of Object.entries(results)) {
      const device = call.devices[slot]!;
      Object.assign(device, copy(result));
      if (alertEnvironment && device.alert) device.alert.environment = alertEnvironment;
    }
    call.answerStatus = told;
    call.deliveredAt ??= now;
    return copy(call);
  }

  async cancel(callUuid: string, endReason: EndReason, now: number): Promise<TransitionResult> {
    const call = this.live(callUuid, now);
    if (!call) return { outcome: 'absent' };
    if (!((call.status === 'ringing' && call.expiresAt > now) || call.status === 'answered')) {
      return { outcome: 'unchanged', call: copy(call) };
    }
    Object.assign(call, { status: 'cancelled', endReason, endedAt: now });
    return { outcome: 'changed', call: copy(call) };
  }

  async putTombstone(tombstone: Call): Promise<boolean> {
    if (this.live(tombstone.callUuid, tombstone.createdAt)) return false;
    this.items.set(tombstone.callUuid, copy(tombstone));
    return true;
  }

  answer(callUuid: string, slot: string, now: number): Promise<TransitionResult> {
    return this.decide(callUuid, slot, now, 'answered');
  }

  decline(callUuid: string, slot: string, now: number): Promise<TransitionResult> {
    return this.decide(callUuid, slot, now, 'declined');
  }

  private async decide(
    callUuid: string,
    slot: string,
    now: number,
    to: 'answered' | 'declined',
  ): Promise<TransitionResult> {
    const call = this.live(callUuid, now);
    if (!call) return { outcome: 'absent' };
    const device = call.devices[slot];
    const by = to === 'answered' ? 'answeredBy' : 'declinedBy';
    const wins =
      device !== undefined &&
      ((call.status === 'ringing' && call.expiresAt > now) || (call.status === to && call[by] === device.deviceId));
    if (!wins) return { outcome: 'unchanged', call: copy(call) };
    const at = to === 'answered' ? 'answeredAt' : 'declinedAt';
    call.status = to;
    call[by] = device.deviceId;
    call[at] ??= now;
    device[at] ??= now;
    return { outcome: 'changed', call: copy(call) };
  }

  async isRinging(callUuid: string): Promise<boolean> {
    return this.items.get(callUuid)?.status === 'ringing';
  }

  async markExpired(callUuid: string, now: number): Promise<boolean> {
    const call = this.live(callUuid, now);
    if (call?.status !== 'ringing' || call.expiresAt > now || call.expiredAt !== undefined) return false;
    call.expiredAt = now;
    return true;
  }

  async confirm(callUuid: string, slot: string, now: number): Promise<Call | undefined> {
    const call = this.live(callUuid, now);
    const device = call?.devices[slot];
    if (!call || !device) return undefined;
    device.confirmedAt ??= now;
    return copy(call);
  }
}
