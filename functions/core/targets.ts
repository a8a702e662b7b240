import type { ApnsEnvironment, PushType } from './call.js';
import { inlineDeviceIdOf } from './ids.js';
import type { RegisteredDevice } from './ports.js';

/** An RFC 8599 push contact exactly as the PBX saw it in REGISTER. */
export interface InlineDevice {
  pnProvider: 'apns';
  pnPrid: string;
  pnParam: string;
}

/** A device a call will try to reach, wherever it came from. */
export interface Target {
  deviceId: string;
  pushToken: string;
  teamId: string;
  bundleId: string;
  environment: ApnsEnvironment;
  pushType: PushType;
  /** Registry devices are pruned on a permanent token error; inline ones belong to the PBX. */
  registeredTo?: string;
}

/** `<TeamID>.<bundle id>.voip` -> VoIP; `<TeamID>.<bundle id>` -> alert mode on the bundle's topic. */
export function parsePnParam(pnParam: string): { teamId: string; bundleId: string; pushType: PushType } | undefined {
  const dot = pnParam.indexOf('.');
  if (dot <= 0) return undefined;
  const teamId = pnParam.slice(0, dot);
  let bundleId = pnParam.slice(dot + 1);
  const pushType: PushType = bundleId.endsWith('.voip') ? 'voip' : 'alert';
  if (pushType === 'voip') bundleId = bundleId.slice(0, -'.voip'.length);
  // `<TeamID>.voip` names no bundle: a VoIP topic without its app.
  if (!bundleId || bundleId === 'voip') return undefined;
  return { teamId, bundleId, pushType };
}

export const topicOf = (t: Pick<Target, 'bundleId' | 'pushType'>): string =>
  t.pushType === 'voip' ? `${t.bundleId}.voip` : t.bundleId;

/**
 * Registry devices first, then inline ones; a token reached both ways is pushed once,
 * as the registry device (so a dead token is pruned from the registry).
 */
export function resolveTargets(
  userId: string | undefined,
  registered: readonly RegisteredDevice[],
  inline: readonly InlineDevice[],
  defaultEnvironment: ApnsEnvironment,
): Target[] {
  const targets: Target[] = [];
  const seen = new Set<string>();
  for (const d of registered) {
    const token = d.pushToken.toLowerCase();
    if (seen.has(token)) continue;
    seen.add(token);
    targets.push({
      deviceId: d.deviceId,
      pushToken: token,
      teamId: d.teamId,
      bundleId: d.bundleId,
      environment: d.environment,
      pushType: d.pushType,
      ...(userId === undefined ? {} : { registeredTo: userId }),
    });
  }
  for (const d of inline) {
    const token = d.pnPrid.toLowerCase();
    const param = parsePnParam(d.pnParam);
    if (seen.has(token) || !param) continue;
    seen.add(token);
    targets.push({ deviceId: inlineDeviceIdOf(token), pushToken: token, environment: defaultEnvironment, ...param });
  }
  return targets;
}
