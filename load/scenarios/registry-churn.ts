/**
 * The registry changes: a device replaced, an app reinstalled (same token, new deviceId), a phone
 * handed to another user, a device deleted or added, a team that is not configured. The list is
 * compared with the model after each change.
 */
import { BUNDLE, OTHER_TEAM } from '../apps.js';
import {
  addDevice,
  checkRegistry,
  MAX_REGISTERED,
  putDevice,
  type RegisteredDevice,
  userWithDevices,
} from '../registry.js';
import { chance, newPushToken, pick, weighted } from '../util.js';
import type { Worker } from '../worker.js';
import { EP, expectStatus, send } from '../world.js';

export async function registryChurn(wk: Worker) {
  const w = wk.w;
  const userId = userWithDevices(wk);
  const devices = wk.users.get(userId)!;
  const where = `w${wk.id} registry-churn ${userId}`;
  const what = weighted([
    [3, 'replace'],
    [2, 'move-token'],
    [2, 'move-to-other-user'],
    [2, 'delete'],
    [2, 'add'],
    [1, 'unknown-team'],
  ] as const);
  const r = pick([...devices.values()]);
  switch (what) {
    case 'replace': {
      // Same device re-registered (app relaunch), sometimes a changed environment.
      if (chance(0.5)) r.environment = r.environment === 'production' ? 'sandbox' : 'production';
      await putDevice(wk, userId, r, 200, `${where}: replace ${r.deviceId}`);
      break;
    }
    case 'move-token': {
      // A reinstalled app: same token, new deviceId; the old one must not stay behind.
      const moved: RegisteredDevice = { ...r, deviceId: wk.uid('iphone-reinstalled') };
      const res = await putDevice(wk, userId, moved, 201, `${where}: move ${r.deviceId} -> ${moved.deviceId}`);
      if (res.status === 201) {
        devices.delete(r.deviceId);
        devices.set(moved.deviceId, moved);
      }
      break;
    }
    case 'move-to-other-user': {
      const other = pick([...wk.users.keys()].filter((u) => u !== userId));
      if (wk.users.get(other)!.size >= MAX_REGISTERED) break;
      const moved: RegisteredDevice = { ...r, deviceId: wk.uid('iphone-handed-on') };
      const res = await putDevice(wk, other, moved, 201, `${where}: move ${r.deviceId} to ${other}`);
      if (res.status === 201) {
        devices.delete(r.deviceId);
        wk.users.get(other)!.set(moved.deviceId, moved);
      }
      await checkRegistry(wk, other, `${where}: after move to ${other}`);
      break;
    }
    case 'delete': {
      const res = await send(w, EP.deleteDevice, where, () => wk.pbx().deleteDevice(userId, r.deviceId));
      if (expectStatus(w, res, `${where}: delete ${r.deviceId}`, 204)) devices.delete(r.deviceId);
      const again = await send(w, EP.deleteDevice, where, () => wk.pbx().deleteDevice(userId, r.deviceId));
      expectStatus(w, again, `${where}: delete ${r.deviceId} again`, 204);
      break;
    }
    case 'add':
      if (devices.size < MAX_REGISTERED) await addDevice(wk, userId, 'registry-churn');
      break;
    case 'unknown-team': {
      const body = {
        platform: 'ios',
        pushToken: newPushToken(),
        bundleId: BUNDLE,
        teamId: OTHER_TEAM,
        environment: 'production',
      };
      const res = await send(w, EP.putDevice, where, () =>
        wk.pbx().putDevice(userId, wk.uid('iphone-other-team'), body),
      );
      expectStatus(w, res, `${where}: unknown team`, 400, 'unknown_team');
      break;
    }
  }
  for (const [u, d] of wk.users) if (d.size === 0) await addDevice(wk, u, 'registry-churn refill');
  await checkRegistry(wk, userId, `${where}: after ${what}`);
}
