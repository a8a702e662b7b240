import type { ApnsEnvironment, PushType } from './call.js';
import { iso } from './clock.js';
import { AppNotAllowedError, TeamRequiredError, UnknownTeamError } from './errors.js';
import { fingerprint, suffixOf } from './ids.js';
import type { Deps, RegisteredDevice } from './ports.js';
import { type AppRef, appAllowed, type TenantRequest } from './tenants.js';

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
 * 1. The team: the one given, else the only one it can be (the deployment's only team; for a
 *    tenant bound to its apps, the only team of its apps with this bundle id).
 * 2. A tenant bound to its apps may register only those (and learns nothing of other teams); a
 *    tenant of the v1 form, any app of a configured team.
 * 3. The store enforces the per-user limit, moves a token registered elsewhere in the tenant, and
 *    refuses a change signed before the last one applied to this device.
 */
export async function registerDevice(
  deps: Deps,
  tenant: TenantRequest,
  userId: string,
  deviceId: string,
  reg: DeviceRegistration,
): Promise<{ created: boolean; device: DeviceView }> {
  const teamId = teamOf(deps.pusher.teams, tenant.apps, reg);
  if (!appAllowed(tenant.apps, teamId, reg.bundleId)) throw new AppNotAllowedError();
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
  const { created } = await deps.devices.put(tenant.tenantId, userId, device, MAX_DEVICES_PER_USER, tenant.signedAt);
  // Operators may build device ids from phone numbers: logs get a fingerprint, never the id.
  deps.log.info(created ? 'device registered' : 'device replaced', { device: fingerprint(deviceId) });
  return { created, device: deviceViewOf(device) };
}

export async function listDevices(deps: Deps, tenantId: string, userId: string): Promise<DeviceView[]> {
  return (await deps.devices.list(tenantId, userId)).map(deviceViewOf);
}

export async function removeDevice(deps: Deps, tenant: TenantRequest, userId: string, deviceId: string): Promise<void> {
  await deps.devices.remove(tenant.tenantId, userId, deviceId, tenant.signedAt);
}

/** The device's team: the one it names, else the only one it can be. */
function teamOf(teams: readonly string[], apps: readonly AppRef[] | undefined, reg: DeviceRegistration): string {
  if (reg.teamId !== undefined) {
    // A tenant bound to its apps is told only that this app is not one of them, never which teams exist.
    if (apps === undefined && !teams.includes(reg.teamId)) {
      throw new UnknownTeamError(`Apple team ${reg.teamId} is not configured in this deployment.`);
    }
    return reg.teamId;
  }
  if (apps !== undefined) {
    const candidates = [...new Set(apps.filter((a) => a.bundleId === reg.bundleId).map((a) => a.teamId))];
    if (candidates.length === 0) throw new AppNotAllowedError();
    if (candidates.length > 1) throw new TeamRequiredError();
    return candidates[0]!;
  }
  if (teams.length > 1) throw new TeamRequiredError();
  if (teams.length === 0) throw new UnknownTeamError('This deployment has no Apple team configured.');
  return teams[0]!;
}
