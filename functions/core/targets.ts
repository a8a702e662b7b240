import type { AlertTarget, ApnsEnvironment, PushType } from './call.js';
import { inlineDeviceIdOf } from './ids.js';
import type { RegisteredDevice } from './ports.js';

/** An RFC 8599 push contact exactly as the PBX saw it in REGISTER. */
export interface InlineDevice {
  /** `apns`: the deployment's default environment; `apns.dev`: the sandbox (a debug build). */
  pnProvider: 'apns' | 'apns.dev';
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
  /** The app's regular notification token, for a missed-call alert (VoIP devices only). */
  alertToken?: string;
  /** Registry devices are pruned on a permanent token error; inline ones belong to the PBX. */
  registeredTo?: string;
}

const HEX_TOKEN = /^(?:[0-9a-fA-F]{2}){32,100}$/;
const TEAM = /^[A-Za-z0-9]+$/;
const BUNDLE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

/** `<TeamID>.<bundle id>.voip` -> VoIP; `<TeamID>.<bundle id>` -> alert mode on the bundle's topic. */
export function parsePnParam(pnParam: string): { teamId: string; bundleId: string; pushType: PushType } | undefined {
  const dot = pnParam.indexOf('.');
  if (dot <= 0) return undefined;
  const teamId = pnParam.slice(0, dot);
  let bundleId = pnParam.slice(dot + 1);
  const pushType: PushType = bundleId.endsWith('.voip') ? 'voip' : 'alert';
  if (pushType === 'voip') bundleId = bundleId.slice(0, -'.voip'.length);
  // `<TeamID>.voip` names no bundle: a VoIP topic without its app.
  if (!TEAM.test(teamId) || !BUNDLE.test(bundleId) || bundleId === 'voip') return undefined;
  return { teamId, bundleId, pushType };
}

/** What an inline device means, once its RFC 8599 parameters are read. */
export interface ReadInlineDevice {
  pushToken: string;
  teamId: string;
  bundleId: string;
  pushType: PushType;
  alertToken?: string;
  environment?: ApnsEnvironment;
}

/** Why an inline device cannot be read: the member at fault and what is wrong with it. */
export interface InlineDeviceError {
  member: 'pnPrid' | 'pnParam';
  message: string;
}

const MULTI_TYPES = ['voip', 'remote'] as const;
type MultiType = (typeof MULTI_TYPES)[number];

/**
 * Reads an RFC 8599 contact. Besides the single-token form, Linphone's multi-token form:
 * `pn-prid` `<token>:remote&<token>:voip` (either order) with `pn-param`
 * `<TeamID>.<bundle id>.remote&voip` (either order). The `voip` token gets the VoIP push; the
 * `remote` token is the device's alert token (alone, it makes an alert-mode device).
 */
export function readInlineDevice(d: InlineDevice): ReadInlineDevice | InlineDeviceError {
  const environment: ApnsEnvironment | undefined = d.pnProvider === 'apns.dev' ? 'sandbox' : undefined;
  const withEnv = environment ? { environment } : {};
  if (!d.pnPrid.includes(':')) {
    if (!HEX_TOKEN.test(d.pnPrid)) return { member: 'pnPrid', message: 'must be hex, an even number of 64-200 digits' };
    const param = parsePnParam(d.pnParam);
    if (!param) {
      return {
        member: 'pnParam',
        message: 'must be <TeamID>.<bundle id>.voip (or <TeamID>.<bundle id> for alert mode)',
      };
    }
    return { pushToken: d.pnPrid.toLowerCase(), ...param, ...withEnv };
  }

  const tokens = new Map<MultiType, string>();
  for (const part of d.pnPrid.split('&')) {
    const colon = part.lastIndexOf(':');
    const [token, type] = [part.slice(0, colon), part.slice(colon + 1)];
    if (!MULTI_TYPES.includes(type as MultiType)) {
      return { member: 'pnPrid', message: 'each part must be <hex token>:voip or <hex token>:remote' };
    }
    if (tokens.has(type as MultiType)) return { member: 'pnPrid', message: `names the ${type} token twice` };
    if (!HEX_TOKEN.test(token)) return { member: 'pnPrid', message: `the ${type} token must be hex, 64-200 digits` };
    tokens.set(type as MultiType, token.toLowerCase());
  }
  const lastDot = d.pnParam.lastIndexOf('.');
  const firstDot = d.pnParam.indexOf('.');
  const types = d.pnParam.slice(lastDot + 1).split('&');
  const teamId = d.pnParam.slice(0, firstDot);
  const bundleId = d.pnParam.slice(firstDot + 1, lastDot);
  if (firstDot <= 0 || lastDot <= firstDot || !TEAM.test(teamId) || !BUNDLE.test(bundleId)) {
    return {
      member: 'pnParam',
      message: 'must be <TeamID>.<bundle id>.<types>, e.g. ABCDE12345.com.example.phone.remote&voip',
    };
  }
  const sameTypes =
    types.length === tokens.size &&
    new Set(types).size === types.length &&
    types.every((t) => tokens.has(t as MultiType));
  if (!sameTypes) return { member: 'pnParam', message: 'must name exactly the token types of pnPrid (voip, remote)' };
  const voip = tokens.get('voip');
  const remote = tokens.get('remote');
  return voip
    ? { pushToken: voip, teamId, bundleId, pushType: 'voip', ...(remote ? { alertToken: remote } : {}), ...withEnv }
    : { pushToken: remote!, teamId, bundleId, pushType: 'alert', ...withEnv };
}

export const isInlineDeviceError = (r: ReadInlineDevice | InlineDeviceError): r is InlineDeviceError => 'member' in r;

export const topicOf = (t: Pick<Target, 'bundleId' | 'pushType'>): string =>
  t.pushType === 'voip' ? `${t.bundleId}.voip` : t.bundleId;

/** Where a device's end-of-call alert goes: its alert token, or an alert-mode device's own token. */
export function alertTargetOf(t: Target): AlertTarget | undefined {
  const pushToken = t.pushType === 'alert' ? t.pushToken : t.alertToken;
  if (pushToken === undefined) return undefined;
  return {
    deviceId: t.deviceId,
    pushToken,
    bundleId: t.bundleId,
    teamId: t.teamId,
    environment: t.environment,
    ...(t.registeredTo === undefined ? {} : { registeredTo: t.registeredTo }),
  };
}

export function registeredTarget(d: RegisteredDevice, userId: string | undefined): Target {
  return {
    deviceId: d.deviceId,
    pushToken: d.pushToken.toLowerCase(),
    teamId: d.teamId,
    bundleId: d.bundleId,
    environment: d.environment,
    pushType: d.pushType,
    ...(d.alertPushToken === undefined || d.pushType === 'alert' ? {} : { alertToken: d.alertPushToken }),
    ...(userId === undefined ? {} : { registeredTo: userId }),
  };
}

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
    const t = registeredTarget(d, userId);
    if (seen.has(t.pushToken)) continue;
    seen.add(t.pushToken);
    targets.push(t);
  }
  for (const d of inline) {
    const read = readInlineDevice(d);
    if (isInlineDeviceError(read) || seen.has(read.pushToken)) continue;
    seen.add(read.pushToken);
    const { environment, ...rest } = read;
    targets.push({
      deviceId: inlineDeviceIdOf(read.pushToken),
      ...rest,
      environment: environment ?? defaultEnvironment,
    });
  }
  return targets;
}
