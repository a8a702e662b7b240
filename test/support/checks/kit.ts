/** Requests, devices and tokens for the use-case checks (test/support/checks/*), on any World. */
import type { CallTokenClaims } from '../../../functions/core/call-token.js';
import type { DeviceRegistration } from '../../../functions/core/devices.js';
import { type RingRequest, ringCall } from '../../../functions/core/ring-call.js';
import type { InlineDevice } from '../../../functions/core/targets.js';
import type { TenantRequest } from '../../../functions/core/tenants.js';
import { BUNDLE, uniqueCallId, VOIP_PARAM } from '../contract-helpers.js';
import type { World } from '../fakes/world.js';

export const API_URL = 'https://callwake.example.com/v1/app';

/** The world's tenant making a request signed now (on the world's clock). */
export const signed = (w: World, over: Partial<TenantRequest> = {}): TenantRequest => ({
  tenantId: w.tenant,
  signedAt: Math.floor(w.clock.now() / 1000),
  ...over,
});
export const HOUR = 60 * 60 * 1000;

export const inlineDevice = (pnPrid: string, pnParam = VOIP_PARAM): InlineDevice => ({
  pnProvider: 'apns',
  pnPrid,
  pnParam,
});

/** A create as the PBX API hands it to the core (defaults applied). */
export const ringRequest = (over: Partial<RingRequest> = {}): RingRequest => ({
  callId: uniqueCallId(),
  from: { number: '+15550001111', displayName: 'Bob Smith' },
  devices: [],
  ringTimeoutSeconds: 60,
  hasVideo: false,
  metadata: {},
  callerInPush: true,
  ...over,
});

export const registration = (pushToken: string, over: Partial<DeviceRegistration> = {}): DeviceRegistration => ({
  platform: 'ios',
  pushToken,
  bundleId: BUNDLE,
  environment: 'sandbox',
  pushType: 'voip',
  ...over,
});

export const ring = (w: World, req: RingRequest) => ringCall(w.deps, w.tenant, req, API_URL);

/** The `callwake` member of the last push a device got (for one call, when named). */
export function pushed(w: World, pushToken: string, callId?: string): any {
  const members = w.pusher
    .sentTo(pushToken)
    .map((p) => JSON.parse(p.request.payload).callwake)
    .filter((c) => callId === undefined || c.callId === callId);
  if (members.length === 0) throw new Error(`no push to …${pushToken.slice(-8)}${callId ? ` for ${callId}` : ''}`);
  return members.at(-1);
}

/** What the app API reads from the token in a device's push: the claims the app's requests carry. */
export function claimsOf(w: World, pushToken: string, callId?: string): CallTokenClaims {
  const claims = w.keys.claimsOf(pushed(w, pushToken, callId).token);
  if (!claims) throw new Error('the push carried a token its own key ring does not verify');
  return claims;
}

/** The object with one method replaced; every other member is the original's (a fault, staged). */
export function replacing<T extends object, K extends keyof T>(target: T, method: K, impl: T[K]): T {
  return Object.assign(Object.create(target) as T, { [method]: impl });
}
