/**
 * The DeviceStore port's semantics, written once and run against the in-memory fake (test/unit)
 * and DynamoDeviceStore on DynamoDB Local (test/integration).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { StaleRequestError, TooManyDevicesError } from '../../../functions/core/errors.js';
import type { DeviceStore, RegisteredDevice } from '../../../functions/core/ports.js';
import { DEFAULT_SETTINGS } from '../../../functions/core/settings.js';

export type MakeDeviceStore = () => DeviceStore | Promise<DeviceStore>;

const MAX = 20;
/** Every change here is signed in the same second: ordering applies them all (see the stale checks). */
const SIGNED_AT = Math.floor(Date.now() / 1000);

const token = (): string => randomBytes(32).toString('hex');

export const registered = (deviceId: string, over: Partial<RegisteredDevice> = {}): RegisteredDevice => ({
  deviceId,
  platform: 'ios',
  pushToken: token(),
  bundleId: 'com.example.phone',
  teamId: 'LOCALTEAM1',
  environment: 'production',
  pushType: 'voip',
  updatedAt: Date.UTC(2030, 0, 1),
  ...over,
});

const ids = (devices: RegisteredDevice[]) => devices.map((d) => d.deviceId);

/** Why a prune happened (the store keeps it for the `device.pruned` event; no port reads it back). */
const cause = {
  reason: 'Unregistered',
  callId: 'a84b4c76e66710@pbx.example.com',
  callUuid: randomUUID(),
  at: Date.now(),
};

export function describeDeviceStoreContract(name: string, make: MakeDeviceStore): void {
  /** A store and a tenant of its own (stores built on one table share it). */
  const setup = async () => ({ store: await make(), tenant: `t-${randomUUID()}` });

  describe(`DeviceStore contract: ${name}`, () => {
    it('an unknown user has no devices', async () => {
      const { store, tenant } = await setup();
      expect(await store.list(tenant, 'nobody')).toEqual([]);
    });

    it('registers (created) and replaces (not created) a device, keeping every field as given', async () => {
      const { store, tenant } = await setup();
      const first = registered('phone', { environment: 'sandbox', pushType: 'alert', teamId: 'TEAM2' });
      expect(await store.put(tenant, 'alice', first, MAX, SIGNED_AT)).toEqual({ created: true });
      expect(await store.list(tenant, 'alice')).toEqual([first]);
      const second = registered('phone', { bundleId: 'com.example.other', updatedAt: first.updatedAt + 1000 });
      expect(await store.put(tenant, 'alice', second, MAX, SIGNED_AT)).toEqual({ created: false });
      expect(await store.list(tenant, 'alice')).toEqual([second]);
    });

    it('lists a user’s devices ordered by deviceId', async () => {
      const { store, tenant } = await setup();
      const devices = ['b', 'a', 'C', 'a-2', '10', '9'].map((id) => registered(id));
      for (const d of devices) await store.put(tenant, 'alice', d, MAX, SIGNED_AT);
      expect(ids(await store.list(tenant, 'alice'))).toEqual(['10', '9', 'C', 'a', 'a-2', 'b']);
    });

    it('keeps users and tenants apart', async () => {
      const { store, tenant } = await setup();
      const other = `t-${randomUUID()}`;
      const a = registered('phone');
      const b = registered('phone');
      const c = registered('phone');
      await store.put(tenant, 'alice', a, MAX, SIGNED_AT);
      await store.put(tenant, 'bob', b, MAX, SIGNED_AT);
      await store.put(other, 'alice', c, MAX, SIGNED_AT);
      expect(await store.list(tenant, 'alice')).toEqual([a]);
      expect(await store.list(tenant, 'bob')).toEqual([b]);
      expect(await store.list(other, 'alice')).toEqual([c]);
    });

    describe('a push token has one device in a tenant', () => {
      it('registered under another deviceId of the same user, it moves there: no twin is left', async () => {
        const { store, tenant } = await setup();
        const old = registered('old-install');
        await store.put(tenant, 'alice', old, MAX, SIGNED_AT);
        await store.put(tenant, 'alice', registered('keep'), MAX, SIGNED_AT);
        const fresh = registered('new-install', { pushToken: old.pushToken });
        expect(await store.put(tenant, 'alice', fresh, MAX, SIGNED_AT)).toEqual({ created: true });
        expect(ids(await store.list(tenant, 'alice'))).toEqual(['keep', 'new-install']);
      });

      it('registered for another user of the tenant, it moves from that user', async () => {
        const { store, tenant } = await setup();
        const bobs = registered('phone');
        await store.put(tenant, 'bob', bobs, MAX, SIGNED_AT);
        await store.put(tenant, 'bob', registered('tablet'), MAX, SIGNED_AT);
        await store.put(tenant, 'alice', registered('phone', { pushToken: bobs.pushToken }), MAX, SIGNED_AT);
        expect(ids(await store.list(tenant, 'bob'))).toEqual(['tablet']);
        expect(ids(await store.list(tenant, 'alice'))).toEqual(['phone']);
      });

      it('never moves between tenants', async () => {
        const { store, tenant } = await setup();
        const other = `t-${randomUUID()}`;
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX, SIGNED_AT);
        await store.put(other, 'bob', registered('phone', { pushToken: d.pushToken }), MAX, SIGNED_AT);
        expect(await store.list(tenant, 'alice')).toEqual([d]);
        expect(ids(await store.list(other, 'bob'))).toEqual(['phone']);
      });

      it('a device that changes its token releases the old one: the next holder of it evicts nobody', async () => {
        const { store, tenant } = await setup();
        const first = registered('phone');
        await store.put(tenant, 'alice', first, MAX, SIGNED_AT);
        const renewed = registered('phone');
        await store.put(tenant, 'alice', renewed, MAX, SIGNED_AT);
        await store.put(tenant, 'bob', registered('phone', { pushToken: first.pushToken }), MAX, SIGNED_AT);
        expect(await store.list(tenant, 'alice')).toEqual([renewed]);
        // and the renewed token is still held by alice's phone: it moves when registered elsewhere
        await store.put(tenant, 'carol', registered('phone', { pushToken: renewed.pushToken }), MAX, SIGNED_AT);
        expect(await store.list(tenant, 'alice')).toEqual([]);
      });

      it('a removed device releases its token: its next holder evicts nobody', async () => {
        const { store, tenant } = await setup();
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX, SIGNED_AT);
        await store.remove(tenant, 'alice', 'phone', SIGNED_AT);
        const laptop = registered('laptop');
        await store.put(tenant, 'alice', laptop, MAX, SIGNED_AT);
        const bobs = registered('phone', { pushToken: d.pushToken });
        expect(await store.put(tenant, 'bob', bobs, MAX, SIGNED_AT)).toEqual({ created: true });
        expect(await store.list(tenant, 'alice')).toEqual([laptop]);
        expect(await store.list(tenant, 'bob')).toEqual([bobs]);
      });
    });

    describe(`at most ${MAX} devices a user`, () => {
      const full = async () => {
        const s = await setup();
        const devices = Array.from({ length: MAX }, (_, i) => registered(`d${String(i).padStart(2, '0')}`));
        for (const d of devices) await s.store.put(s.tenant, 'alice', d, MAX, SIGNED_AT);
        return { ...s, devices };
      };

      it('one more is refused (TooManyDevicesError) and changes nothing', async () => {
        const { store, tenant, devices } = await full();
        const extra = registered('one-too-many');
        await expect(store.put(tenant, 'alice', extra, MAX, SIGNED_AT)).rejects.toBeInstanceOf(TooManyDevicesError);
        await expect(store.put(tenant, 'alice', extra, MAX, SIGNED_AT)).rejects.toMatchObject({ limit: MAX });
        expect(await store.list(tenant, 'alice')).toEqual(devices);
        // its token was not taken either: registering it for someone else moves nothing
        await store.put(tenant, 'bob', registered('phone', { pushToken: extra.pushToken }), MAX, SIGNED_AT);
        expect(await store.list(tenant, 'alice')).toEqual(devices);
      });

      it('replacing one of them is fine, and so is a token moving in from a twin (counted after the move)', async () => {
        const { store, tenant, devices } = await full();
        const replaced = registered('d05');
        expect(await store.put(tenant, 'alice', replaced, MAX, SIGNED_AT)).toEqual({ created: false });
        const moved = registered('reinstalled', { pushToken: devices[0]!.pushToken });
        expect(await store.put(tenant, 'alice', moved, MAX, SIGNED_AT)).toEqual({ created: true });
        const listed = await store.list(tenant, 'alice');
        expect(listed).toHaveLength(MAX);
        expect(ids(listed)).not.toContain('d00');
        expect(listed).toContainEqual(moved);
        expect(listed).toContainEqual(replaced);
      });
    });

    describe('remove and prune', () => {
      it('remove takes the device away; removing an absent one is fine', async () => {
        const { store, tenant } = await setup();
        const keep = registered('keep');
        await store.put(tenant, 'alice', registered('phone'), MAX, SIGNED_AT);
        await store.put(tenant, 'alice', keep, MAX, SIGNED_AT);
        await store.remove(tenant, 'alice', 'phone', SIGNED_AT);
        await store.remove(tenant, 'alice', 'phone', SIGNED_AT);
        await store.remove(tenant, 'nobody', 'phone', SIGNED_AT);
        expect(await store.list(tenant, 'alice')).toEqual([keep]);
      });

      it('prune removes the device while it still has the dead token', async () => {
        const { store, tenant } = await setup();
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX, SIGNED_AT);
        await store.prune(tenant, 'alice', 'phone', d.pushToken, cause);
        expect(await store.list(tenant, 'alice')).toEqual([]);
        // the token is released with it
        const bobs = registered('phone', { pushToken: d.pushToken });
        expect(await store.put(tenant, 'bob', bobs, MAX, SIGNED_AT)).toEqual({ created: true });
        expect(await store.list(tenant, 'bob')).toEqual([bobs]);
      });

      it('prune leaves a device that has a fresh token since (a dead token never evicts a live one)', async () => {
        const { store, tenant } = await setup();
        const dead = registered('phone');
        await store.put(tenant, 'alice', dead, MAX, SIGNED_AT);
        const fresh = registered('phone');
        await store.put(tenant, 'alice', fresh, MAX, SIGNED_AT);
        await store.prune(tenant, 'alice', 'phone', dead.pushToken, cause);
        await store.prune(tenant, 'alice', 'absent', dead.pushToken, cause);
        expect(await store.list(tenant, 'alice')).toEqual([fresh]);
      });
    });

    describe('changes are ordered by their signed time', () => {
      const T = SIGNED_AT;

      it('a PUT or DELETE signed before the last PUT of the device is stale and changes nothing', async () => {
        const { store, tenant } = await setup();
        const older = registered('phone');
        const newer = registered('phone');
        await store.put(tenant, 'alice', newer, MAX, T + 10);
        await expect(store.put(tenant, 'alice', older, MAX, T + 9)).rejects.toBeInstanceOf(StaleRequestError);
        await expect(store.remove(tenant, 'alice', 'phone', T + 9)).rejects.toBeInstanceOf(StaleRequestError);
        expect(await store.list(tenant, 'alice')).toEqual([newer]);
      });

      it('a PUT signed before a DELETE does not bring the device back, even once it is gone', async () => {
        const { store, tenant } = await setup();
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX, T);
        await store.remove(tenant, 'alice', 'phone', T + 5);
        await expect(store.put(tenant, 'alice', d, MAX, T + 4)).rejects.toBeInstanceOf(StaleRequestError);
        expect(await store.list(tenant, 'alice')).toEqual([]);
        // A DELETE of a device that was never there is remembered too.
        await store.remove(tenant, 'alice', 'never', T + 5);
        await expect(store.put(tenant, 'alice', registered('never'), MAX, T + 1)).rejects.toBeInstanceOf(
          StaleRequestError,
        );
      });

      it('a change signed in the same second as the last one applies; a later one always does', async () => {
        const { store, tenant } = await setup();
        await store.put(tenant, 'alice', registered('phone'), MAX, T);
        const same = registered('phone');
        await store.put(tenant, 'alice', same, MAX, T);
        expect(await store.list(tenant, 'alice')).toEqual([same]);
        await store.remove(tenant, 'alice', 'phone', T);
        const later = registered('phone');
        expect(await store.put(tenant, 'alice', later, MAX, T + 1)).toEqual({ created: true });
        expect(await store.list(tenant, 'alice')).toEqual([later]);
      });

      it('a token moving away, even by a change signed earlier, never lets an older PUT back to its old device', async () => {
        const { store, tenant } = await setup();
        const phone = registered('phone');
        await store.put(tenant, 'alice', phone, MAX, T + 10);
        // The pad takes the phone's token with a request signed before the phone's last change.
        await store.put(tenant, 'bob', registered('pad', { pushToken: phone.pushToken }), MAX, T + 5);
        expect(await store.list(tenant, 'alice')).toEqual([]);
        // A PUT to the phone signed between the two is older than what the phone already had.
        await expect(store.put(tenant, 'alice', registered('phone'), MAX, T + 7)).rejects.toBeInstanceOf(
          StaleRequestError,
        );
        expect(await store.list(tenant, 'alice')).toEqual([]);
        const later = registered('phone');
        expect(await store.put(tenant, 'alice', later, MAX, T + 10)).toEqual({ created: true });
      });

      it('another device’s order is its own', async () => {
        const { store, tenant } = await setup();
        await store.put(tenant, 'alice', registered('phone'), MAX, T + 10);
        const pad = registered('pad');
        expect(await store.put(tenant, 'alice', pad, MAX, T)).toEqual({ created: true });
      });

      it('settings signed before the last settings are stale and change nothing', async () => {
        const { store, tenant } = await setup();
        const newer = { ...DEFAULT_SETTINGS, blockedCallers: ['+1'] };
        await store.putSettings(tenant, 'alice', newer, T + 10);
        await expect(store.putSettings(tenant, 'alice', DEFAULT_SETTINGS, T + 9)).rejects.toBeInstanceOf(
          StaleRequestError,
        );
        expect((await store.lookup(tenant, 'alice')).settings).toEqual(newer);
        await store.putSettings(tenant, 'alice', DEFAULT_SETTINGS, T + 10);
        expect((await store.lookup(tenant, 'alice')).settings).toEqual(DEFAULT_SETTINGS);
      });

      it('ids that are prototype names are plain ids', async () => {
        const { store, tenant } = await setup();
        const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];
        const devices = names.map((id) => registered(id));
        for (const d of devices) await store.put(tenant, 'alice', d, MAX, T);
        expect(ids(await store.list(tenant, 'alice')).sort()).toEqual([...names].sort());
        await store.remove(tenant, 'alice', 'toString', T);
        await store.remove(tenant, 'alice', 'isPrototypeOf', T);
        expect(ids(await store.list(tenant, 'alice')).sort()).toEqual(names.filter((n) => n !== 'toString').sort());
        expect(await store.list(tenant, '__proto__')).toEqual([]);
      });
    });
  });
}
