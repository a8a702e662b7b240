/**
 * The DeviceStore port's semantics, written once and run against the in-memory fake (test/unit)
 * and DynamoDeviceStore on DynamoDB Local (test/integration).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { TooManyDevicesError } from '../../../functions/core/errors.js';
import type { DeviceStore, RegisteredDevice } from '../../../functions/core/ports.js';

export type MakeDeviceStore = () => DeviceStore | Promise<DeviceStore>;

const MAX = 20;

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
      expect(await store.put(tenant, 'alice', first, MAX)).toEqual({ created: true });
      expect(await store.list(tenant, 'alice')).toEqual([first]);
      const second = registered('phone', { bundleId: 'com.example.other', updatedAt: first.updatedAt + 1000 });
      expect(await store.put(tenant, 'alice', second, MAX)).toEqual({ created: false });
      expect(await store.list(tenant, 'alice')).toEqual([second]);
    });

    it('lists a user’s devices ordered by deviceId', async () => {
      const { store, tenant } = await setup();
      const devices = ['b', 'a', 'C', 'a-2', '10', '9'].map((id) => registered(id));
      for (const d of devices) await store.put(tenant, 'alice', d, MAX);
      expect(ids(await store.list(tenant, 'alice'))).toEqual(['10', '9', 'C', 'a', 'a-2', 'b']);
    });

    it('keeps users and tenants apart', async () => {
      const { store, tenant } = await setup();
      const other = `t-${randomUUID()}`;
      const a = registered('phone');
      const b = registered('phone');
      const c = registered('phone');
      await store.put(tenant, 'alice', a, MAX);
      await store.put(tenant, 'bob', b, MAX);
      await store.put(other, 'alice', c, MAX);
      expect(await store.list(tenant, 'alice')).toEqual([a]);
      expect(await store.list(tenant, 'bob')).toEqual([b]);
      expect(await store.list(other, 'alice')).toEqual([c]);
    });

    describe('a push token has one device in a tenant', () => {
      it('registered under another deviceId of the same user, it moves there: no twin is left', async () => {
        const { store, tenant } = await setup();
        const old = registered('old-install');
        await store.put(tenant, 'alice', old, MAX);
        await store.put(tenant, 'alice', registered('keep'), MAX);
        const fresh = registered('new-install', { pushToken: old.pushToken });
        expect(await store.put(tenant, 'alice', fresh, MAX)).toEqual({ created: true });
        expect(ids(await store.list(tenant, 'alice'))).toEqual(['keep', 'new-install']);
      });

      it('registered for another user of the tenant, it moves from that user', async () => {
        const { store, tenant } = await setup();
        const bobs = registered('phone');
        await store.put(tenant, 'bob', bobs, MAX);
        await store.put(tenant, 'bob', registered('tablet'), MAX);
        await store.put(tenant, 'alice', registered('phone', { pushToken: bobs.pushToken }), MAX);
        expect(ids(await store.list(tenant, 'bob'))).toEqual(['tablet']);
        expect(ids(await store.list(tenant, 'alice'))).toEqual(['phone']);
      });

      it('never moves between tenants', async () => {
        const { store, tenant } = await setup();
        const other = `t-${randomUUID()}`;
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX);
        await store.put(other, 'bob', registered('phone', { pushToken: d.pushToken }), MAX);
        expect(await store.list(tenant, 'alice')).toEqual([d]);
        expect(ids(await store.list(other, 'bob'))).toEqual(['phone']);
      });

      it('a device that changes its token releases the old one: the next holder of it evicts nobody', async () => {
        const { store, tenant } = await setup();
        const first = registered('phone');
        await store.put(tenant, 'alice', first, MAX);
        const renewed = registered('phone');
        await store.put(tenant, 'alice', renewed, MAX);
        await store.put(tenant, 'bob', registered('phone', { pushToken: first.pushToken }), MAX);
        expect(await store.list(tenant, 'alice')).toEqual([renewed]);
        // and the renewed token is still held by alice's phone: it moves when registered elsewhere
        await store.put(tenant, 'carol', registered('phone', { pushToken: renewed.pushToken }), MAX);
        expect(await store.list(tenant, 'alice')).toEqual([]);
      });

      it('a removed device releases its token: its next holder evicts nobody', async () => {
        const { store, tenant } = await setup();
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX);
        await store.remove(tenant, 'alice', 'phone');
        const laptop = registered('laptop');
        await store.put(tenant, 'alice', laptop, MAX);
        const bobs = registered('phone', { pushToken: d.pushToken });
        expect(await store.put(tenant, 'bob', bobs, MAX)).toEqual({ created: true });
        expect(await store.list(tenant, 'alice')).toEqual([laptop]);
        expect(await store.list(tenant, 'bob')).toEqual([bobs]);
      });
    });

    describe(`at most ${MAX} devices a user`, () => {
      const full = async () => {
        const s = await setup();
        const devices = Array.from({ length: MAX }, (_, i) => registered(`d${String(i).padStart(2, '0')}`));
        for (const d of devices) await s.store.put(s.tenant, 'alice', d, MAX);
        return { ...s, devices };
      };

      it('one more is refused (TooManyDevicesError) and changes nothing', async () => {
        const { store, tenant, devices } = await full();
        const extra = registered('one-too-many');
        await expect(store.put(tenant, 'alice', extra, MAX)).rejects.toBeInstanceOf(TooManyDevicesError);
        await expect(store.put(tenant, 'alice', extra, MAX)).rejects.toMatchObject({ limit: MAX });
        expect(await store.list(tenant, 'alice')).toEqual(devices);
        // its token was not taken either: registering it for someone else moves nothing
        await store.put(tenant, 'bob', registered('phone', { pushToken: extra.pushToken }), MAX);
        expect(await store.list(tenant, 'alice')).toEqual(devices);
      });

      it('replacing one of them is fine, and so is a token moving in from a twin (counted after the move)', async () => {
        const { store, tenant, devices } = await full();
        const replaced = registered('d05');
        expect(await store.put(tenant, 'alice', replaced, MAX)).toEqual({ created: false });
        const moved = registered('reinstalled', { pushToken: devices[0]!.pushToken });
        expect(await store.put(tenant, 'alice', moved, MAX)).toEqual({ created: true });
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
        await store.put(tenant, 'alice', registered('phone'), MAX);
        await store.put(tenant, 'alice', keep, MAX);
        await store.remove(tenant, 'alice', 'phone');
        await store.remove(tenant, 'alice', 'phone');
        await store.remove(tenant, 'nobody', 'phone');
        expect(await store.list(tenant, 'alice')).toEqual([keep]);
      });

      it('prune removes the device while it still has the dead token', async () => {
        const { store, tenant } = await setup();
        const d = registered('phone');
        await store.put(tenant, 'alice', d, MAX);
        await store.prune(tenant, 'alice', 'phone', d.pushToken, cause);
        expect(await store.list(tenant, 'alice')).toEqual([]);
        // the token is released with it
        const bobs = registered('phone', { pushToken: d.pushToken });
        expect(await store.put(tenant, 'bob', bobs, MAX)).toEqual({ created: true });
        expect(await store.list(tenant, 'bob')).toEqual([bobs]);
      });

      it('prune leaves a device that has a fresh token since (a dead token never evicts a live one)', async () => {
        const { store, tenant } = await setup();
        const dead = registered('phone');
        await store.put(tenant, 'alice', dead, MAX);
        const fresh = registered('phone');
        await store.put(tenant, 'alice', fresh, MAX);
        await store.prune(tenant, 'alice', 'phone', dead.pushToken, cause);
        await store.prune(tenant, 'alice', 'absent', dead.pushToken, cause);
        expect(await store.list(tenant, 'alice')).toEqual([fresh]);
      });
    });
  });
}
