import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ApnsEnvironment } from '../core/call.js';
import { TooManyDevicesError } from '../core/errors.js';
import type { DeviceStore, PruneCause, RegisteredDevice, UserRecord } from '../core/ports.js';
import { DEFAULT_SETTINGS, type UserSettings } from '../core/settings.js';
import { isTransactionCanceled } from './dynamo-errors.js';
import { pushTokenOwnerKey as ownerKey, userKey } from './table-layout.js';

/**
 * The device registry in the single table:
 * - one item per user, pk `USER#<tenantId>#<userId>`, sk `DEVICES`: a map of the user's devices
 *   and a version. A ring reads it in one GetItem; every change is a versioned write, so the
 *   per-user limit holds under concurrency;
 * - one item per push token, pk `PUSHTOKEN#<tenantId>#<sha256(token)>`, sk `OWNER`: which device
 *   holds the token, so a reinstalled app's token moves instead of leaving a twin.
 * Changes that touch both are one transaction; a lost race re-reads and tries again.
 */
type Stored = Omit<RegisteredDevice, 'deviceId'>;
export interface UserItem {
  devices: Record<string, Stored>;
  version: number;
  /**
   * Devices removed because APNs called their token dead, with why: what the events function
   * turns into `device.pruned`. Entries are dropped a day later, at the item's next write.
   */
  pruned?: Record<string, PruneCause>;
  /** The user's call settings: read with the devices, in the ring's one read. */
  settings?: UserSettings;
}
interface OwnerItem {
  userId: string;
  deviceId: string;
}

/** A prune's record outlives any stream retry of its event. */
const PRUNE_RECORD_KEPT_MS = 24 * 60 * 60 * 1000;
/** Optimistic writes on one user item: under N concurrent writers each round lets one through. */
const MAX_ATTEMPTS = 60;

export class DynamoDeviceStore implements DeviceStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async list(tenantId: string, userId: string): Promise<RegisteredDevice[]> {
    return devicesOf(await this.readUser(tenantId, userId));
  }

  async lookup(tenantId: string, userId: string): Promise<UserRecord> {
    const user = await this.readUser(tenantId, userId);
    return { devices: devicesOf(user), settings: user?.settings ?? DEFAULT_SETTINGS };
  }

  /** One update of the user item (made if missing); its version moves, so device writers re-read. */
  async putSettings(tenantId: string, userId: string, settings: UserSettings): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: userKey(tenantId, userId),
        UpdateExpression:
          'SET settings = :s, devices = if_not_exists(devices, :none), version = if_not_exists(version, :zero) + :one',
        ExpressionAttributeValues: { ':s': settings, ':none': {}, ':zero': 0, ':one': 1 },
      }),
    );
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
    change: (d: Stored) => Stored | undefined,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const user = await this.readUser(tenantId, userId);
      const current = user?.devices[deviceId];
      const changed = current && change(current);
      if (!user || !changed) return;
      if (
        await this.commit([this.putUser(tenantId, userId, { ...user.devices, [deviceId]: changed }, user)], attempt)
      ) {
        return;
      }
    }
  }

  async put(
    tenantId: string,
    userId: string,
    device: RegisteredDevice,
    maxDevices: number,
  ): Promise<{ created: boolean }> {
    const { deviceId, ...stored } = device;
    for (let attempt = 0; ; attempt++) {
      const [user, owner] = await Promise.all([
        this.readUser(tenantId, userId),
        this.readOwner(tenantId, device.pushToken),
      ]);
      const devices = { ...(user?.devices ?? {}) };
      const created = devices[deviceId] === undefined;
      const previousToken = devices[deviceId]?.pushToken;
      const movesFrom = owner && !(owner.userId === userId && owner.deviceId === deviceId) ? owner : undefined;
      if (movesFrom?.userId === userId) delete devices[movesFrom.deviceId];
      devices[deviceId] = stored;
      if (Object.keys(devices).length > maxDevices) throw new TooManyDevicesError(maxDevices);

      const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
        this.putUser(tenantId, userId, devices, user),
        {
          Put: {
            TableName: this.table,
            Item: { ...ownerKey(tenantId, device.pushToken), userId, deviceId },
            ...this.ownerUnchanged(owner),
          },
        },
      ];
      if (movesFrom && movesFrom.userId !== userId) {
        items.push({
          Update: {
            TableName: this.table,
            Key: userKey(tenantId, movesFrom.userId),
            UpdateExpression: 'REMOVE devices.#d SET version = version + :one',
            ConditionExpression: 'devices.#d.pushToken = :token',
            ExpressionAttributeNames: { '#d': movesFrom.deviceId },
            ExpressionAttributeValues: { ':token': device.pushToken, ':one': 1 },
          },
        });
      }
      if (previousToken !== undefined && previousToken !== device.pushToken) {
        items.push(this.releaseOwner(tenantId, previousToken, userId, deviceId));
      }
      if (await this.commit(items, attempt)) return { created };
    }
  }

  async remove(tenantId: string, userId: string, deviceId: string): Promise<void> {
    await this.removeWhere(tenantId, userId, deviceId, () => true);
  }

  async prune(tenantId: string, userId: string, deviceId: string, pushToken: string, cause: PruneCause) {
    await this.removeWhere(tenantId, userId, deviceId, (d) => d.pushToken === pushToken, cause);
  }

  private async removeWhere(
    tenantId: string,
    userId: string,
    deviceId: string,
    applies: (d: Stored) => boolean,
    pruneCause?: PruneCause,
  ) {
    for (let attempt = 0; ; attempt++) {
      const user = await this.readUser(tenantId, userId);
      const current = user?.devices[deviceId];
      if (!user || !current || !applies(current)) return;
      const devices = { ...user.devices };
      delete devices[deviceId];
      const pruned = pruneCause ? { ...user.pruned, [deviceId]: pruneCause } : user.pruned;
      const items = [
        this.putUser(tenantId, userId, devices, user, pruned),
        this.releaseOwner(tenantId, current.pushToken, userId, deviceId),
      ];
      if (await this.commit(items, attempt)) return;
    }
  }

  /** The whole user item, rewritten: what this store does not manage is carried over as read. */
  private putUser(
    tenantId: string,
    userId: string,
    devices: Record<string, Stored>,
    before: UserItem | undefined,
    pruned = before?.pruned,
  ) {
    const recentPruned = Object.fromEntries(
      Object.entries(pruned ?? {}).filter(([, c]) => c.at > Date.now() - PRUNE_RECORD_KEPT_MS),
    );
    return {
      Put: {
        TableName: this.table,
        Item: {
          ...before,
          ...userKey(tenantId, userId),
          devices,
          version: (before?.version ?? 0) + 1,
          ...(Object.keys(recentPruned).length > 0 ? { pruned: recentPruned } : { pruned: undefined }),
        },
        ...(before
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

  private async readUser(tenantId: string, userId: string): Promise<UserItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: userKey(tenantId, userId), ConsistentRead: true }),
    );
    return out.Item as UserItem | undefined;
  }

  private async readOwner(tenantId: string, pushToken: string): Promise<OwnerItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: ownerKey(tenantId, pushToken), ConsistentRead: true }),
    );
    return out.Item as OwnerItem | undefined;
  }
}

function devicesOf(user: UserItem | undefined): RegisteredDevice[] {
  return Object.entries(user?.devices ?? {})
    .map(([deviceId, d]) => ({ ...d, deviceId }))
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
}
