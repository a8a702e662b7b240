import type { ApnsEnvironment, PushType } from './call.js';
import { iso } from './clock.js';
import { TeamRequiredError, UnknownTeamError } from './errors.js';
import { fingerprint, suffixOf } from './ids.js';
import type { Deps, RegisteredDevice } from './ports.js';

export const MAX_DEVICES_PER_USER = 20;

export interface DeviceRegistration {
  platform: 'ios';
  pushToken: string;
  bundleId: string;
  teamId?: string;
  environment: ApnsEnvironment;
  pushType: PushType;
  /** The app's regular remote-notification token, for missed-call alerts. */
  alertPushToken?: string;
}

export interface DeviceView {
  deviceId: string;
  platform: 'ios';
  bundleId: string;
  environment: ApnsEnvironment;
  pushType: PushType;
  /** The last 8 characters of the push token, never the whole. */
  tokenSuffix: string;
  /** The same of the alert token, when the device has one. */
  alertTokenSuffix?: string;
  updatedAt: string;
}

export const deviceViewOf = (d: RegisteredDevice): DeviceView => ({
  deviceId: d.deviceId,
  platform: d.platform,
  bundleId: d.bundleId,
  environment: d.environment,
  pushType: d.pushType,
  tokenSuffix: suffixOf(d.pushToken),
  ...(d.alertPushToken === undefined ? {} : { alertTokenSuffix: suffixOf(d.alertPushToken) }),
  updatedAt: iso(d.updatedAt),
});

/**
 * Registers (201) or replaces (200) a user's device.
 * 1. The team: the one given, which must be configured, else the only configured team.
 * 2. The store enforces the per-user limit and moves a token registered elsewhere in the tenant.
 */
export async function registerDevice(
  deps: Deps,
  tenantId: string,
  userId: string,
  deviceId: string,
  reg: DeviceRegistration,
): Promise<{ created: boolean; device: DeviceView }> {
  const teams = deps.pusher.teams;
  let teamId = reg.teamId;
  if (teamId === undefined) {
    if (teams.length > 1) throw new TeamRequiredError();
    if (teams.length === 0) throw new UnknownTeamError('This deployment has no Apple team configured.');
    teamId = teams[0]!;
  } else if (!teams.includes(teamId)) {
    throw new UnknownTeamError(`Apple team ${teamId} is not configured in this deployment.`);
  }
  const device: RegisteredDevice = {
    deviceId,
    platform: reg.platform,
    pushToken: reg.pushToken.toLowerCase(),
    bundleId: reg.bundleId,
    teamId,
    environment: reg.environment,
    pushType: reg.pushType,
    ...(reg.alertPushToken === undefined ? {} : { alertPushToken: reg.alertPushToken.toLowerCase() }),
    updatedAt: deps.clock.now(),
  };
  const { created } = await deps.devices.put(tenantId, userId, device, MAX_DEVICES_PER_USER);
  // Operators may build device ids from phone numbers: logs get a fingerprint, never the id.
  deps.log.info(created ? 'device registered' : 'device replaced', { device: fingerprint(deviceId) });
  return { created, device: deviceViewOf(device) };
}

export async function listDevices(deps: Deps, tenantId: string, userId: string): Promise<DeviceView[]> {
  return (await deps.devices.list(tenantId, userId)).map(deviceViewOf);
}

export async function removeDevice(deps: Deps, tenantId: string, userId: string, deviceId: string): Promise<void> {
  await deps.devices.remove(tenantId, userId, deviceId);
}
