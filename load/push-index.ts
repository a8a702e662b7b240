import type { ApnsSimulator, ReceivedPush } from '../local/apns-simulator/index.js';
import { callwakeOf } from './wire.js';

/**
 * The pushes the APNs simulator received, indexed by device token and callUuid as they arrive
 * (`pushesFor` scans every push ever received: too slow for tens of thousands).
 */
export class PushIndex {
  private cursor = 0;
  private readonly byKey = new Map<string, ReceivedPush[]>();

  constructor(private readonly sim: ApnsSimulator) {}

  private sync() {
    const all = this.sim.received;
    for (; this.cursor < all.length; this.cursor++) {
      const p = all[this.cursor]!;
      const uuid = callwakeOf(p.payload)?.callUuid;
      if (typeof uuid !== 'string') continue;
      const key = `${p.token.toLowerCase()} ${uuid}`;
      const list = this.byKey.get(key);
      if (list) list.push(p);
      else this.byKey.set(key, [p]);
    }
  }

  /** Every request for this device and call, whatever APNs answered. */
  all(token: string, callUuid: string): ReceivedPush[] {
    this.sync();
    return this.byKey.get(`${token.toLowerCase()} ${callUuid}`) ?? [];
  }

  /** The pushes APNs accepted (200) for this device and call. */
  accepted(token: string, callUuid: string): ReceivedPush[] {
    return this.all(token, callUuid).filter((p) => p.status === 200);
  }
}
