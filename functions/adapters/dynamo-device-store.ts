import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { ApnsEnvironment } from '../core/call.js';
import { StaleRequestError, TooManyDevicesError } from '../core/errors.js';
import type { DeviceStore, PruneCause, RegisteredDevice, UserRecord } from '../core/ports.js';
import type { UserSettings } from '../core/settings.js';
import { isTransactionCanceled } from './dynamo-errors.js';
import { pushTokenOwnerKey as ownerKey, userKey } from './table-layout.js';
import {
  itemOfUserModel,
  lastChangeOf,
  registeredDevicesOf,
  type StoredDevice,
  type UserModel,
  userModelOf,
} from './user-item.js';

/**
 * The device registry in the single table:
 * - one item per user, pk `USER#<tenantId>#<userId>`, sk `DEVICES`: the user's devices, the
 *   markers of recent removals and prunes, the call settings, and a version. A ring reads it in
 *   one GetItem; every change is a versioned write, so the per-user limit holds under
 *   concurrency (user-item.ts says how it is stored);
 * - one item per push token, pk `PUSHTOKEN#<tenantId>#<sha256(token)>`, sk `OWNER`: which device
 *   holds the token, so a reinstalled app's token moves instead of leaving a twin.
 * Changes that touch both are one transaction; a lost race re-reads and tries again. Changes a
 * PBX signs carry their signed time, and one signed before the last change applied to the same
 * device (or the settings) is refused: a replayed capture cannot roll anything back.
 */
interface OwnerItem {
  userId: string;
  deviceId: string;
}

/** Optimistic writes on one user item: under N concurrent writers each round lets one through. */
const MAX_ATTEMPTS = 60;

type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

/** A change signed before the last one applied to the same resource rolls it back: refused. */
const refuseIfStale = (lastChange: number | undefined, signedAt: number) => {
  if (lastChange !== undefined && lastChange > signedAt) throw new StaleRequestError();
};

export class DynamoDeviceStore implements DeviceStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => number = Date.now,
  ) {}

  async list(tenantId: string, userId: string): Promise<RegisteredDevice[]> {
    return registeredDevicesOf(await this.readUser(tenantId, userId));
  }

  async lookup(tenantId: string, userId: string): Promise<UserRecord> {
    const user = await this.readUser(tenantId, userId);
    return { devices: registeredDevicesOf(user), settings: user.settings };
  }

  async putSettings(tenantId: string, userId: string, settings: UserSettings, signedAt: number): Promise<void> {
    await this.changeUser(tenantId, userId, (user) => {
      refuseIfStale(user.settingsChangedAt, signedAt);
      return { ...user, settings, settingsChangedAt: signedAt };
    });
  }

  async setEnvironment(
    tenantId: string,
    userId: string,
    deviceId: string,
    pushToken: string,
    environment: ApnsEnvironment,
  ) {
    await this.changeDevice(tenantId, userId, deviceId, (d) =>
      d.pushToken === pushToken ? { ...d, environment } : undefined,
    );
  }

  async clearAlertToken(tenantId: string, userId: string, deviceId: string, alertPushToken: string) {
    await this.changeDevice(tenantId, userId, deviceId, ({ alertPushToken: current, ...rest }) =>
      current === alertPushToken ? rest : undefined,
    );
  }

  /** A versioned rewrite of one device, when `change` still applies to it (undefined: leave it). */
  private async changeDevice(
    tenantId: string,
    userId: string,
    deviceId: string,
    change: (d: StoredDevice) => StoredDevice | undefined,
  ): Promise<void> {
    await this.changeUser(tenantId, userId, (user) => {
      const current = user.devices.get(deviceId);
      const changed = current && change(current);
      return changed ? { ...user, devices: new Map(user.devices).set(deviceId, changed) } : undefined;
    });
  }

  /** A versioned rewrite of the user's item alone (undefined from `change`: nothing to write). */
  private async changeUser(tenantId: string, userId: string, change: (u: UserModel) => UserModel | undefined) {
    for (let attempt = 0; ; attempt++) {
      const user = await this.readUser(tenantId, userId);
      const changed = change(user);
      if (!changed) return;
      if (await this.commit([this.putUser(tenantId, userId, changed, user)], attempt)) return;
    }
  }

  async put(
    tenantId: string,
    userId: string,
    device: RegisteredDevice,
    maxDevices: number,
    signedAt: number,
  ): Promise<{ created: boolean }> {
    const { deviceId } = device;
    for (let attempt = 0; ; attempt++) {
      const [user, owner] = await Promise.all([
        this.readUser(tenantId, userId),
        this.readOwner(tenantId, device.pushToken),
      ]);
      refuseIfStale(lastChangeOf(user, deviceId), signedAt);
      const devices = new Map(user.devices);
      const removed = new Map(user.removed);
      const created = !devices.has(deviceId);
      const previousToken = devices.get(deviceId)?.pushToken;
      const movesFrom = owner && !(owner.userId === userId && owner.deviceId === deviceId) ? owner : undefined;
      // The token moves: the device that held it is removed, as if by this request.
      if (movesFrom?.userId === userId) {
        devices.delete(movesFrom.deviceId);
        removed.set(movesFrom.deviceId, movedAwayAt(user, movesFrom.deviceId, signedAt));
      }
      devices.set(deviceId, { ...device, changedAt: signedAt });
      removed.delete(deviceId);
      if (devices.size > maxDevices) throw new TooManyDevicesError(maxDevices);

      const items: TransactItem[] = [
        this.putUser(tenantId, userId, { ...user, devices, removed }, user),
        {
          Put: {
            TableName: this.table,
            Item: { ...ownerKey(tenantId, device.pushToken), userId, deviceId },
            ...this.ownerUnchanged(owner),
          },
        },
      ];
      if (movesFrom && movesFrom.userId !== userId) {
        const other = await this.readUser(tenantId, movesFrom.userId);
        if (other.devices.get(movesFrom.deviceId)?.pushToken === device.pushToken) {
          const otherDevices = new Map(other.devices);
          otherDevices.delete(movesFrom.deviceId);
          const otherRemoved = new Map(other.removed).set(
            movesFrom.deviceId,
            movedAwayAt(other, movesFrom.deviceId, signedAt),
          );
          items.push(
            this.putUser(tenantId, movesFrom.userId, { ...other, devices: otherDevices, removed: otherRemoved }, other),
          );
        }
      }
      if (previousToken !== undefined && previousToken !== device.pushToken) {
        items.push(this.releaseOwner(tenantId, previousToken, userId, deviceId));
      }
      if (await this.commit(items, attempt)) return { created };
    }
  }

  async remove(tenantId: string, userId: string, deviceId: string, signedAt: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const user = await this.readUser(tenantId, userId);
      refuseIfStale(lastChangeOf(user, deviceId), signedAt);
      const current = user.devices.get(deviceId);
      const devices = new Map(user.devices);
      devices.delete(deviceId);
      // Even an absent device is marked: a PUT signed before this DELETE must not bring it back.
      const removed = new Map(user.removed).set(deviceId, signedAt);
      const items: TransactItem[] = [this.putUser(tenantId, userId, { ...user, devices, removed }, user)];
      if (current) items.push(this.releaseOwner(tenantId, current.pushToken, userId, deviceId));
      if (await this.commit(items, attempt)) return;
    }
  }

  async prune(tenantId: string, userId: string, deviceId: string, pushToken: string, cause: PruneCause) {
    for (let attempt = 0; ; attempt++) {
      const user = await this.readUser(tenantId, userId);
      const current = user.devices.get(deviceId);
      if (current?.pushToken !== pushToken) return; // a dead token must not evict a fresh one
      const devices = new Map(user.devices);
      devices.delete(deviceId);
      const pruned = new Map(user.pruned).set(deviceId, cause);
      const items = [
        this.putUser(tenantId, userId, { ...user, devices, pruned }, user),
        this.releaseOwner(tenantId, current.pushToken, userId, deviceId),
      ];
      if (await this.commit(items, attempt)) return;
    }
  }

  /** The whole user item, rewritten, if it is still the version read. */
  private putUser(tenantId: string, userId: string, next: UserModel, before: UserModel): TransactItem {
    return {
      Put: {
        TableName: this.table,
        Item: {
          ...userKey(tenantId, userId),
          ...itemOfUserModel({ ...next, version: before.version + 1 }, this.now()),
        },
        ...(before.version > 0
          ? { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': before.version } }
          : { ConditionExpression: 'attribute_not_exists(pk)' }),
      },
    };
  }

  /** The owner record must still say what we read, or another writer got there first. */
  private ownerUnchanged(owner: OwnerItem | undefined) {
    return owner
      ? {
          ConditionExpression: 'userId = :ou AND deviceId = :od',
          ExpressionAttributeValues: { ':ou': owner.userId, ':od': owner.deviceId },
        }
      : { ConditionExpression: 'attribute_not_exists(pk)' };
  }

  /**
   * Forget a token's owner record. While a device holds a token its owner record names it
   * (every change to either is one transaction), so anything else is a race: retry.
   */
  private releaseOwner(tenantId: string, pushToken: string, userId: string, deviceId: string) {
    return {
      Delete: {
        TableName: this.table,
        Key: ownerKey(tenantId, pushToken),
        ConditionExpression: 'attribute_not_exists(pk) OR (userId = :u AND deviceId = :d)',
        ExpressionAttributeValues: { ':u': userId, ':d': deviceId },
      },
    };
  }

  private async commit(items: unknown[], attempt: number): Promise<boolean> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items as never }));
      return true;
    } catch (e) {
      if (!isTransactionCanceled(e) || attempt + 1 >= MAX_ATTEMPTS) throw e;
      await new Promise((r) => setTimeout(r, 2 + Math.random() * Math.min(40, 5 * (attempt + 1))));
      return false;
    }
  }

  private async readUser(tenantId: string, userId: string): Promise<UserModel> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: userKey(tenantId, userId), ConsistentRead: true }),
    );
    return userModelOf(out.Item);
  }

  private async readOwner(tenantId: string, pushToken: string): Promise<OwnerItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: ownerKey(tenantId, pushToken), ConsistentRead: true }),
    );
    return out.Item as OwnerItem | undefined;
  }
}

/**
 * The marker of a device whose token moved away: the later of the move's signed time and the
 * device's own last change, so a move signed earlier cannot make room for a PUT to that device
 * signed before the change it already had.
 */
function movedAwayAt(user: UserModel, deviceId: string, signedAt: number): number {
  return Math.max(signedAt, lastChangeOf(user, deviceId) ?? signedAt);
}
