import type { Caller, RejectReason } from './call.js';
import { iso } from './clock.js';
import type { DeviceStore } from './ports.js';
import type { TenantRequest } from './tenants.js';

/**
 * A user's call settings, kept on the server (Apple's advice 3): who may never wake the phone,
 * Do Not Disturb, and whether missed calls are told with a normal notification.
 */
export interface UserSettings {
  blockedCallers: string[];
  doNotDisturb: {
    enabled: boolean;
    /** Epoch ms; null: until turned off. */
    until: number | null;
    allowedCallers: string[];
  };
  missedCallPush: boolean;
  /** When they were last set; absent while they are the defaults. */
  updatedAt?: number;
}

export type SettingsRequest = Omit<UserSettings, 'updatedAt'>;

export const DEFAULT_SETTINGS: UserSettings = {
  blockedCallers: [],
  doNotDisturb: { enabled: false, until: null, allowedCallers: [] },
  missedCallPush: true,
};

export const MAX_SETTINGS_ENTRIES = 1000;
export const MAX_SETTINGS_ENTRY_LENGTH = 512;

export interface SettingsView {
  blockedCallers: string[];
  doNotDisturb: { enabled: boolean; until: string | null; allowedCallers: string[] };
  missedCallPush: boolean;
  updatedAt: string | null;
}

export const settingsViewOf = (s: UserSettings): SettingsView => ({
  blockedCallers: s.blockedCallers,
  doNotDisturb: {
    enabled: s.doNotDisturb.enabled,
    until: s.doNotDisturb.until === null ? null : iso(s.doNotDisturb.until),
    allowedCallers: s.doNotDisturb.allowedCallers,
  },
  missedCallPush: s.missedCallPush,
  updatedAt: s.updatedAt === undefined ? null : iso(s.updatedAt),
});

/** An entry matches a caller when it equals the caller's number or its URI, exactly. */
const matches = (entries: readonly string[], caller: Caller): boolean =>
  entries.some((e) => e === caller.number || e === caller.uri);

/**
 * Why these settings refuse a call from this caller now, if they do: a blocked caller always;
 * Do Not Disturb while it is on (enabled, and no `until` or one still ahead) for anyone not
 * allowed through.
 */
export function rejectionOf(settings: UserSettings, caller: Caller, now: number): RejectReason | undefined {
  if (matches(settings.blockedCallers, caller)) return 'blocked';
  const dnd = settings.doNotDisturb;
  const on = dnd.enabled && (dnd.until === null || dnd.until > now);
  if (on && !matches(dnd.allowedCallers, caller)) return 'doNotDisturb';
  return undefined;
}

export interface SettingsDeps {
  devices: DeviceStore;
  clock: { now(): number };
}

/**
 * Replaces the whole settings document (absent members took their defaults in the request),
 * unless settings signed later were applied (StaleRequestError).
 */
export async function putSettings(
  deps: SettingsDeps,
  tenant: TenantRequest,
  userId: string,
  req: SettingsRequest,
): Promise<SettingsView> {
  const settings: UserSettings = { ...req, updatedAt: deps.clock.now() };
  await deps.devices.putSettings(tenant.tenantId, userId, settings, tenant.signedAt);
  return settingsViewOf(settings);
}

/** The user's settings, or the defaults when never set (a user with no devices included). */
export async function getSettings(deps: SettingsDeps, tenantId: string, userId: string): Promise<SettingsView> {
  return settingsViewOf((await deps.devices.lookup(tenantId, userId)).settings);
}
