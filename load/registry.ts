/** The device registry: registering a user's phones, and checking the registry against the worker's model. */
import { ALERT_BUNDLE, BUNDLE } from './apps.js';
import { brief, chance, deepEqual, newPushToken, pick } from './util.js';
import { type DeviceView, membersOf } from './wire.js';
import type { Worker } from './worker.js';
import { EP, expectStatus, type Res, send } from './world.js';

export const MAX_REGISTERED = 5;

export interface RegisteredDevice {
  deviceId: string;
  /** Lower-case push token. */
  token: string;
  bundleId: string;
  environment: 'production' | 'sandbox';
  pushType: 'voip' | 'alert';
}

export function userWithDevices(wk: Worker): string {
  const users = [...wk.users].filter(([, d]) => d.size > 0);
  return pick(users)[0];
}

function deviceBody(wk: Worker, r: RegisteredDevice, explicitTeam = chance(0.3)) {
  return {
    platform: 'ios',
    pushToken: chance(0.2) ? r.token.toUpperCase() : r.token,
    bundleId: r.bundleId,
    ...(explicitTeam ? { teamId: wk.w.team } : {}),
    environment: r.environment,
    ...(r.pushType === 'voip' && chance(0.5) ? {} : { pushType: r.pushType }),
  };
}

type Shown = Omit<DeviceView, 'updatedAt'>;

const expectedView = (r: RegisteredDevice): Shown => ({
  deviceId: r.deviceId,
  platform: 'ios',
  bundleId: r.bundleId,
  environment: r.environment,
  pushType: r.pushType,
  tokenSuffix: r.token.slice(-8),
});

/** The members the model predicts (`updatedAt` is only checked to be there). */
const shownOf = (d: DeviceView): Shown => ({
  deviceId: d.deviceId,
  platform: d.platform,
  bundleId: d.bundleId,
  environment: d.environment,
  pushType: d.pushType,
  tokenSuffix: d.tokenSuffix,
});

const byDeviceId = (a: Shown, b: Shown) => (a.deviceId < b.deviceId ? -1 : 1);

function checkDeviceView(wk: Worker, where: string, body: unknown, r: RegisteredDevice) {
  const want = expectedView(r);
  const view = membersOf(body) as DeviceView | undefined;
  const got = view ? shownOf(view) : body;
  if (!deepEqual(got, want) || typeof view?.updatedAt !== 'string')
    wk.w.rec.error('unexpected', where, `device view ${brief(body)}, expected ${brief(want)}`);
}

export async function putDevice(
  wk: Worker,
  userId: string,
  r: RegisteredDevice,
  expect: 200 | 201,
  where: string,
): Promise<Res> {
  const res = await send(wk.w, EP.putDevice, where, () => wk.pbx().putDevice(userId, r.deviceId, deviceBody(wk, r)));
  if (expectStatus(wk.w, res, where, expect)) checkDeviceView(wk, where, res.body, r);
  return res;
}

export async function addDevice(wk: Worker, userId: string, label: string) {
  const bundleId = chance(0.1) ? ALERT_BUNDLE : BUNDLE;
  const r: RegisteredDevice = {
    deviceId: wk.uid('iphone'),
    token: newPushToken(),
    bundleId,
    environment: chance(0.5) ? 'production' : 'sandbox',
    pushType: bundleId === ALERT_BUNDLE ? 'alert' : 'voip',
  };
  const res = await putDevice(wk, userId, r, 201, `w${wk.id} ${label}: register ${r.deviceId}`);
  if (res.status === 201) wk.users.get(userId)!.set(r.deviceId, r);
}

/** Lists the user's devices and compares them with the model. */
export async function checkRegistry(wk: Worker, userId: string, where: string) {
  const res = await send(wk.w, EP.listDevices, where, () => wk.pbx().listDevices(userId));
  if (!expectStatus(wk.w, res, where, 200)) return;
  const want = [...wk.users.get(userId)!.values()].map(expectedView).sort(byDeviceId);
  const listed = membersOf(res.body)?.devices;
  const got = (Array.isArray(listed) ? (listed as DeviceView[]) : []).map(shownOf).sort(byDeviceId);
  if (!deepEqual(got, want))
    wk.w.rec.error('wrong-state', where, `registry of ${userId}: ${brief(got, 600)}, expected ${brief(want, 600)}`);
}
