import { randomUUID } from 'node:crypto';
import type { ApnsEnvironment } from '../../../functions/core/call.js';
import type { Clock } from '../../../functions/core/clock.js';
import type { CallStore, Deps, DeviceStore } from '../../../functions/core/ports.js';
import { TEAM_ID } from '../contract-helpers.js';
import { FakeCallStore } from './call-store.js';
import { VirtualClock } from './clock.js';
import { FakeDeviceStore } from './device-store.js';
import { CapturedLog } from './log.js';
import { FakePusher } from './pusher.js';
import { FakeTokenKeys } from './token-keys.js';

export interface WorldOptions {
  /** Apple teams the pusher is configured for. @default [TEAM_ID] */
  teams?: string[];
  /** @default 5000 */
  pushDeadlineMs?: number;
  /** @default 'production' */
  defaultEnvironment?: ApnsEnvironment;
}

export interface Stores {
  calls: CallStore;
  devices: DeviceStore;
}

/** Everything a use case is given, and the fakes behind it for a test to steer and inspect. */
export interface World {
  deps: Deps;
  /** A tenant of its own, so worlds sharing one table never meet. */
  tenant: string;
  clock: VirtualClock;
  pusher: FakePusher;
  keys: FakeTokenKeys;
  log: CapturedLog;
}

/** Builds a world's stores on its clock (the fakes by default; DynamoDB in the integration tier). */
export type StoresOn = (clock: Clock) => Stores;

export const fakeStores: StoresOn = (clock) => ({ calls: new FakeCallStore(clock), devices: new FakeDeviceStore() });

export type MakeWorld = (o?: WorldOptions) => World;

/** A world on virtual time with the fake pusher and keys, on the given stores. */
export function worldOn(stores: StoresOn): MakeWorld {
  return (o = {}) => {
    const clock = new VirtualClock();
    const pusher = new FakePusher(o.teams ?? [TEAM_ID], clock);
    const keys = new FakeTokenKeys();
    const log = new CapturedLog();
    const deps: Deps = {
      ...stores(clock),
      pusher,
      clock,
      timer: clock,
      tokenKeys: keys.tokenKeys,
      defaultEnvironment: o.defaultEnvironment ?? 'production',
      pushDeadlineMs: o.pushDeadlineMs ?? 5000,
      waitPollMs: 100,
      log,
    };
    return { deps, tenant: `tenant-${randomUUID().slice(0, 8)}`, clock, pusher, keys, log };
  };
}

export const fakeWorld: MakeWorld = worldOn(fakeStores);
