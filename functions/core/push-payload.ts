import type { Call, PushType } from './call.js';

/** Apple's limits: 5120 bytes for a VoIP push, 4096 for the others. */
export const MAX_PAYLOAD_BYTES: Record<PushType, number> = { voip: 5120, alert: 4096 };
/** Display names are stored and pushed shortened to this many Unicode code points. */
export const MAX_DISPLAY_NAME_CODE_POINTS = 256;

export const shortenCodePoints = (text: string, max: number): string => {
  const points = Array.from(text);
  return points.length <= max ? text : points.slice(0, max).join('');
};

export interface PushContent {
  call: Call;
  token: string;
  apiUrl: string;
  sentAt: number;
}

/**
 * The caller as pushes show it: number and display name, the uri only when there is no number
 * (the number is what CallKit shows). Nothing at all when the PBX asked for no caller in pushes.
 */
export function pushedCaller(call: Call, displayName = call.caller.displayName): Record<string, string> {
  const caller: Record<string, string> = {};
  if (call.callerInPush === false) return caller;
  if (call.caller.number !== undefined) caller.number = call.caller.number;
  if (displayName !== undefined) caller.displayName = displayName;
  if (call.caller.number === undefined && call.caller.uri !== undefined) caller.uri = call.caller.uri;
  return caller;
}

/** What an alert shows of the caller: the display name (an empty one is none), else the number, else the uri. */
export const callerLabel = (call: Call, displayName = call.caller.displayName): string | undefined =>
  call.callerInPush === false ? undefined : [displayName, call.caller.number, call.caller.uri].find((s) => !!s);

function callwakeMember(c: PushContent, displayName: string | undefined) {
  const { call } = c;
  const caller = pushedCaller(call, displayName);
  return {
    v: 1,
    type: 'call',
    callId: call.callId,
    callUuid: call.callUuid,
    caller,
    hasVideo: call.hasVideo,
    token: c.token,
    api: c.apiUrl,
    sentAt: c.sentAt,
    expiresAt: call.expiresAt,
  };
}

function render(pushType: PushType, c: PushContent, displayName: string | undefined): string {
  const callwake = callwakeMember(c, displayName);
  if (pushType === 'voip') return JSON.stringify({ aps: {}, callwake });
  const body = callerLabel(c.call, displayName) ?? 'Incoming call';
  return JSON.stringify({
    aps: {
      alert: { title: 'Incoming call', body },
      sound: 'default',
      'interruption-level': 'time-sensitive',
      category: 'INCOMING_CALL',
    },
    callwake,
  });
}

/**
 * The push for one device. When it would exceed Apple's size limit, the display name is
 * shortened (by code points, so no character is cut in half) until it fits: the push is
 * never dropped for it.
 */
export function buildPushPayload(pushType: PushType, c: PushContent): string {
  return fitDisplayName(MAX_PAYLOAD_BYTES[pushType], c.call.caller.displayName, (name) => render(pushType, c, name));
}

/** The longest display name (by code points, possibly none) with which `render` fits `limit` bytes. */
export function fitDisplayName(
  limit: number,
  name: string | undefined,
  render: (displayName: string | undefined) => string,
): string {
  const full = render(name);
  if (Buffer.byteLength(full) <= limit || name === undefined) return full;
  const points = Array.from(name);
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(render(points.slice(0, mid).join(''))) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return render(lo === 0 ? undefined : points.slice(0, lo).join(''));
}
