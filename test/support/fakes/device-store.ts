import type { ApnsEnvironment } from '../../../functions/core/call.js';
import { StaleRequestError, TooManyDevicesError } from '../../../functions/core/errors.js';
import type { DeviceStore, PruneCause, RegisteredDevice, UserRecord } from '../../../functions/core/ports.js';
import { DEFAULT_SETTINGS, type UserSettings } from '../../../functions/core/settings.js';

type Stored = Omit<RegisteredDevice, 'deviceId'>;
interface Owner {
  userId: string;
  deviceId: string;
}

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const key = (...parts: string[]): string => JSON.stringify(parts);

/**
 * The DeviceStore port in memory, with DynamoDeviceStore's semantics (test/support/checks/device-store.ts
 * runs the same checks on both): a user's devices, listed by deviceId, and for each push token
 * of a tenant the one device that holds it.
 * - `put` of a token another device of the tenant holds moves it: that device is removed (the
 *   same user's twin, or another user's device); tokens never move between tenants;
 * - at most `maxDevices` a user, counted after such a move; past it nothing changes;
 * - a device that changes its token releases the old one;
 * - `prune` removes a device only while it still holds the dead token, and keeps why
 *   (`prunedOf`: what the adapter keeps on the user's item for the `device.pruned` event; it also
 *   drops causes a day old, which no port reads, so this fake keeps them all).
 */
export class FakeDeviceStore implements DeviceStore {
  private readonly users = new Map<string, Map<string, Stored>>();
  private readonly owners = new Map<string, Owner>();
  private readonly pruned = new Map<string, Record<string, PruneCause>>();
  private readonly settings = new Map<string, UserSettings>();
  /** Signed time of the last change of each device (its PUT, its DELETE, or a move away). */
  private readonly changedAt = new Map<string, number>();
  private readonly settingsChangedAt = new Map<string, number>();

  /** A change signed before the last one applied to the same resource is refused. */
  private order(times: Map<string, number>, k: string, signedAt: number): void {
    const last = times.get(k);
    if (last !== undefined && last > signedAt) throw new StaleRequestError();
  }

  async lookup(tenantId: string, userId: string): Promise<UserRecord> {
    return {
      devices: await this.list(tenantId, userId),
      settings: copy(this.settings.get(key(tenantId, userId)) ?? DEFAULT_SETTINGS),
    };
  }

  async putSettings(tenantId: string, userId: string, settings: UserSettings, signedAt: number): Promise<void> {
    this.order(this.settingsChangedAt, key(tenantId, userId), signedAt);
    this.settings.set(key(tenantId, userId), copy(settings));
    this.settingsChangedAt.set(key(tenantId, userId), signedAt);
  }

  async setEnvironment(
    tenantId: string,
    userId: string,
    deviceId: string,
    pushToken: string,
    environment: ApnsEnvironment,
  ) {
    const d = this.devicesOf(tenantId, userId).get(deviceId);
    if (d?.pushToken === pushToken) d.environment = environment;
  }

  async clearAlertToken(tenantId: string, userId: string, deviceId: string, alertPushToken: string) {
    const d = this.devicesOf(tenantId, userId).get(deviceId);
    if (d?.alertPushToken === alertPushToken) delete d.alertPushToken;
  }

  private devicesOf(tenantId: string, userId: string): Map<string, Stored> {
    return this.users.get(key(tenantId, userId)) ?? new Map();
  }

  async list(tenantId: string, userId: string): Promise<RegisteredDevice[]> {
    return [...this.devicesOf(tenantId, userId)]
      .map(([deviceId, d]) => ({ ...copy(d), deviceId }))
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  async put(
    tenantId: string,
    userId: string,
    device: RegisteredDevice,
    maxDevices: number,
    signedAt: number,
  ): Promise<{ created: boolean }> {
    const { deviceId, ...stored } = copy(device);
    this.order(this.changedAt, key(tenantId, userId, deviceId), signedAt);
    const devices = new Map(this.devicesOf(tenantId, userId));
    const created = !devices.has(deviceId);
    const previousToken = devices.get(deviceId)?.pushToken;
    const owner = this.owners.get(key(tenantId, stored.pushToken));
    const movesFrom = owner && !(owner.userId === userId && owner.deviceId === deviceId) ? owner : undefined;
    if (movesFrom?.userId === userId) devices.delete(movesFrom.deviceId);
    devices.set(deviceId, stored);
    if (devices.size > maxDevices) throw new TooManyDevicesError(maxDevices);

    if (movesFrom && movesFrom.userId !== userId) this.devicesOf(tenantId, movesFrom.userId).delete(movesFrom.deviceId);
    if (movesFrom) {
      // The device that lost its token keeps the later of its own last change and the move's.
      const k = key(tenantId, movesFrom.userId, movesFrom.deviceId);
      this.changedAt.set(k, Math.max(signedAt, this.changedAt.get(k) ?? signedAt));
    }
    this.changedAt.set(key(tenantId, userId, deviceId), signedAt);
    if (previousToken !== undefined && previousToken !== stored.pushToken) {
      this.release(tenantId, previousToken, userId, deviceId);
    }
    this.owners.set(key(tenantId, stored.pushToken), { userId, deviceId });
    this.users.set(key(tenantId, userId), devices);
    return { created };
  }

  async remove(tenantId: string, userId: string, deviceId: string, signedAt: number): Promise<void> {
    this.order(this.changedAt, key(tenantId, userId, deviceId), signedAt);
    this.removeWhere(tenantId, userId, deviceId, () => true);
    this.changedAt.set(key(tenantId, userId, deviceId), signedAt);
  }

  async prune(tenantId: string, userId: string, deviceId: string, pushToken: string, cause: PruneCause) {
    if (!this.removeWhere(tenantId, userId, deviceId, (d) => d.pushToken === pushToken)) return;
    this.pruned.set(key(tenantId, userId), { ...this.pruned.get(key(tenantId, userId)), [deviceId]: copy(cause) });
  }

  /** Why each pruned device of a user was pruned. */
  prunedOf(tenantId: string, userId: string): Record<string, PruneCause> {
    return copy(this.pruned.get(key(tenantId, userId)) ?? {});
  }

  private removeWhere(tenantId: string, userId: string, deviceId: string, applies: (d: Stored) => boolean): boolean {
    const devices = this.devicesOf(tenantId, userId);
    const current = devices.get(deviceId);
    if (!current || !applies(current)) return false;
    devices.delete(deviceId);
    this.release(tenantId, current.pushToken, userId, deviceId);
    return true;
  }

  /** Forgets who holds a token, if it is still this device. */
  private release(tenantId: string, pushToken: string, userId: string, deviceId: string): void {
    const owner = this.owners.get(key(tenantId, pushToken));
    if (owner?.userId === userId && owner.deviceId === deviceId) this.owners.delete(key(tenantId, pushToken));
  }
}
