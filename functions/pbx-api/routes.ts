import type { CancelReason } from '../core/call.js';
import { cancelCall, viewCall } from '../core/cancel-call.js';
import { type DeviceRegistration, listDevices, registerDevice, removeDevice } from '../core/devices.js';
import { type RingRequest, ringCall } from '../core/ring-call.js';
import { json, noContent } from '../http/problem.js';
import { route } from '../http/router.js';
import type { PbxAuth, PbxDeps } from './deps.js';
import { callParams, cancelSchema, deviceParams, deviceSchema, noParams, ringSchema, userParams } from './schemas.js';

/** The app API URL put in pushes: the operator's public URL, else the one this request came in on. */
function apiUrlOf(deps: PbxDeps, origin: string | undefined): string {
  const base = deps.publicBaseUrl ?? origin;
  if (!base) throw new Error('No public base URL: set PUBLIC_BASE_URL');
  return `${base.replace(/\/+$/, '')}/v1/app`;
}

export const pbxRoutes = [
  route<PbxDeps, PbxAuth, object, RingRequest>({
    method: 'POST',
    path: '/v1/pbx/calls',
    operationId: 'ringCall',
    params: noParams,
    body: { schema: ringSchema, presence: 'required' },
    async handle({ deps, auth, body, req }) {
      const r = await ringCall(deps, auth.tenantId, body, apiUrlOf(deps, req.origin));
      return json(r.created ? 201 : 200, r.answer);
    },
  }),
  route({
    method: 'POST',
    path: '/v1/pbx/calls/{callId}/cancel',
    operationId: 'cancelCall',
    params: callParams,
    body: { schema: cancelSchema, presence: 'optional' },
    async handle({
      deps,
      auth,
      params,
      body,
    }: {
      deps: PbxDeps;
      auth: PbxAuth;
      params: { callId: string };
      body: CancelReason;
    }) {
      return json(200, await cancelCall(deps, auth.tenantId, params.callId, body));
    },
  }),
  route({
    method: 'GET',
    path: '/v1/pbx/calls/{callId}',
    operationId: 'getCall',
    params: callParams,
    async handle({ deps, auth, params }: { deps: PbxDeps; auth: PbxAuth; params: { callId: string } }) {
      return json(200, await viewCall(deps, auth.tenantId, params.callId));
    },
  }),
  route({
    method: 'PUT',
    path: '/v1/pbx/users/{userId}/devices/{deviceId}',
    operationId: 'putDevice',
    params: deviceParams,
    body: { schema: deviceSchema, presence: 'required' },
    async handle({
      deps,
      auth,
      params,
      body,
    }: {
      deps: PbxDeps;
      auth: PbxAuth;
      params: { userId: string; deviceId: string };
      body: DeviceRegistration;
    }) {
      const r = await registerDevice(deps, auth.tenantId, params.userId, params.deviceId, body);
      return json(r.created ? 201 : 200, r.device);
    },
  }),
  route({
    method: 'DELETE',
    path: '/v1/pbx/users/{userId}/devices/{deviceId}',
    operationId: 'deleteDevice',
    params: deviceParams,
    async handle({
      deps,
      auth,
      params,
    }: {
      deps: PbxDeps;
      auth: PbxAuth;
      params: { userId: string; deviceId: string };
    }) {
      await removeDevice(deps, auth.tenantId, params.userId, params.deviceId);
      return noContent();
    },
  }),
  route({
    method: 'GET',
    path: '/v1/pbx/users/{userId}/devices',
    operationId: 'listDevices',
    params: userParams,
    async handle({ deps, auth, params }: { deps: PbxDeps; auth: PbxAuth; params: { userId: string } }) {
      return json(200, { devices: await listDevices(deps, auth.tenantId, params.userId) });
    },
  }),
];
