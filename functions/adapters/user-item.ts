import type { PruneCause, RegisteredDevice } from '../core/ports.js';
import { DEFAULT_SETTINGS, type UserSettings } from '../core/settings.js';

/** A registered device as the user's item keeps it: with the signed time of its last change. */
export type StoredDevice = RegisteredDevice & { changedAt?: number };

/**
 * One user's item, as the device store works with it. Everything keyed by a PBX's id (a device
 * id may be `constructor` or `__proto__`) is held in Maps and stored as lists of entries, never
 * as objects keyed by the id: a DynamoDB map read back into a plain object loses a key named
 * `__proto__` and inherits ones named `constructor` or `toString`.
 */
export interface UserModel {
  version: number;
  devices: Map<string, StoredDevice>;
  /** deviceId -> signed time (unix seconds) of the DELETE (or move) that removed it. */
  removed: Map<string, number>;
  /** deviceId -> why APNs called its token dead: what `device.pruned` events come from. */
  pruned: Map<string, PruneCause>;
  settings: UserSettings;
  /** Signed time (unix seconds) of the settings' last change. */
  settingsChangedAt?: number;
}

/** A removal or prune is remembered this long: longer than any signature stays valid (±300 s). */
export const MARKER_KEPT_MS = 24 * 60 * 60 * 1000;

interface StoredItem {
  version?: number;
  devices?: unknown;
  removed?: unknown;
  pruned?: unknown;
  settings?: UserSettings;
  settingsChangedAt?: number;
  [other: string]: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

/** Entries of a list of `{deviceId, …}`, or of the earlier form, an object keyed by device id. */
function entriesOf<T>(stored: unknown): [string, T][] {
  if (Array.isArray(stored)) {
    return stored.filter(isRecord).map((e) => {
      const { deviceId, ...rest } = e;
      return [String(deviceId), rest as T];
    });
  }
  return isRecord(stored) ? (Object.entries(stored) as [string, T][]) : [];
}

export function userModelOf(item: StoredItem | undefined): UserModel {
  return {
    version: item?.version ?? 0,
    devices: new Map(
      entriesOf<Omit<StoredDevice, 'deviceId'>>(item?.devices).map(([deviceId, d]) => [deviceId, { ...d, deviceId }]),
    ),
    removed: new Map(entriesOf<{ at: number }>(item?.removed).map(([deviceId, r]) => [deviceId, r.at])),
    pruned: new Map(entriesOf<PruneCause>(item?.pruned)),
    settings: item?.settings ?? DEFAULT_SETTINGS,
    ...(item?.settingsChangedAt === undefined ? {} : { settingsChangedAt: item.settingsChangedAt }),
  };
}

/** The item's attributes for a model (markers past their keeping time are dropped on the way). */
export function itemOfUserModel(m: UserModel, now: number): Record<string, unknown> {
  const recentSeconds = (now - MARKER_KEPT_MS) / 1000;
  return {
    version: m.version,
    devices: [...m.devices.values()],
    removed: [...m.removed].filter(([, at]) => at > recentSeconds).map(([deviceId, at]) => ({ deviceId, at })),
    pruned: [...m.pruned]
      .filter(([, cause]) => cause.at > now - MARKER_KEPT_MS)
      .map(([deviceId, cause]) => ({ deviceId, ...cause })),
    ...(m.settings === DEFAULT_SETTINGS ? {} : { settings: m.settings }),
    ...(m.settingsChangedAt === undefined ? {} : { settingsChangedAt: m.settingsChangedAt }),
  };
}

/** The latest signed time a change to this device was made at: its PUT, or its removal. */
export function lastChangeOf(m: UserModel, deviceId: string): number | undefined {
  const times = [m.devices.get(deviceId)?.changedAt, m.removed.get(deviceId)].filter(
    (t): t is number => t !== undefined,
  );
  return times.length === 0 ? undefined : Math.max(...times);
}

/** Registered devices as the port gives them: by device id, without the store's own fields. */
export function registeredDevicesOf(m: UserModel): RegisteredDevice[] {
  return [...m.devices.values()]
    .map(({ changedAt: _changedAt, ...d }) => d)
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
}
