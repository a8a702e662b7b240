import { cancelCall, viewCall } from '../core/cancel-call.js';
import { listDevices, registerDevice, removeDevice } from '../core/devices.js';
import { admitRequest } from '../core/limits.js';
import { ringCall } from '../core/ring-call.js';
import { getSettings, putSettings } from '../core/settings.js';
import { snapshotOf } from '../core/watch.js';
import { deleteWebhook, getWebhook, putWebhook } from '../core/webhooks.js';
import { answerViewRequest, taggedJson } from '../http/conditional.js';
import { json, noContent } from '../http/problem.js';
import { type Route, route } from '../http/router.js';
import type { PbxAuth, PbxDeps } from './deps.js';
import {
  callParams,
  cancelSchema,
  deviceParams,
  deviceSchema,
  noParams,
  ringSchema,
  settingsSchema,
  userParams,
  webhookSchema,
} from './schemas.js';

/** The app API URL put in pushes: the operator's public URL, else the one this request came in on. */
function apiUrlOf(deps: PbxDeps, origin: string | undefined): string {
  const base = deps.publicBaseUrl ?? origin;
  if (!base) throw new Error('No public base URL: set PUBLIC_BASE_URL');
  return `${base.replace(/\/+$/, '')}/v1/app`;
}

/**
 * A PBX route: its parameter and body types come from its schemas. Each request counts against
 * the tenant's request limit first (the webhook counts it itself, alongside its first read).
 */
const pbxRoute = <P, B>(r: Route<PbxDeps, PbxAuth, P, B>, o: { countsItself?: boolean } = {}) =>
  route<PbxDeps, PbxAuth, P, B>(
    o.countsItself
      ? r
      : {
          ...r,
          async handle(ctx) {
            await admitRequest(ctx.deps, ctx.auth.tenantId, ctx.auth.limits);
            return r.handle(ctx);
          },
        },
  );

export const pbxRoutes = [
  pbxRoute(
    {
      method: 'POST',
      path: '/v1/pbx/calls',
      operationId: 'ringCall',
      params: noParams,
      body: { schema: ringSchema, presence: 'required' },
      async handle({ deps, auth, body, req }) {
        const r = await ringCall(deps, auth.tenantId, body, apiUrlOf(deps, req.origin), auth);
        return json(r.created ? 201 : 200, r.answer);
      },
    },
    { countsItself: true },
  ),
  pbxRoute({
    method: 'POST',
    path: '/v1/pbx/calls/{callId}/cancel',
    operationId: 'cancelCall',
    params: callParams,
    body: { schema: cancelSchema, presence: 'optional' },
    async handle({ deps, auth, params, body }) {
      return taggedJson(200, snapshotOf(await cancelCall(deps, auth.tenantId, params.callId, body)));
    },
  }),
  pbxRoute({
    method: 'GET',
    path: '/v1/pbx/calls/{callId}',
    operationId: 'getCall',
    params: callParams,
    async handle({ deps, auth, params, req, remainingMs }) {
      return answerViewRequest(deps, req, remainingMs(), async () =>
        snapshotOf(await viewCall(deps, auth.tenantId, params.callId)),
      );
    },
  }),
  pbxRoute({
    method: 'PUT',
    path: '/v1/pbx/users/{userId}/devices/{deviceId}',
    operationId: 'putDevice',
    params: deviceParams,
    body: { schema: deviceSchema, presence: 'required' },
    async handle({ deps, auth, params, body }) {
      const r = await registerDevice(deps, auth, params.userId, params.deviceId, body);
      return json(r.created ? 201 : 200, r.device);
    },
  }),
  pbxRoute({
    method: 'DELETE',
    path: '/v1/pbx/users/{userId}/devices/{deviceId}',
    operationId: 'deleteDevice',
    params: deviceParams,
    async handle({ deps, auth, params }) {
      await removeDevice(deps, auth, params.userId, params.deviceId);
      return noContent();
    },
  }),
  pbxRoute({
    method: 'PUT',
    path: '/v1/pbx/users/{userId}/settings',
    operationId: 'putSettings',
    params: userParams,
    body: { schema: settingsSchema, presence: 'required' },
    async handle({ deps, auth, params, body }) {
      return json(200, await putSettings(deps, auth, params.userId, body));
    },
  }),
  pbxRoute({
    method: 'GET',
    path: '/v1/pbx/users/{userId}/settings',
    operationId: 'getSettings',
    params: userParams,
    async handle({ deps, auth, params }) {
      return json(200, await getSettings(deps, auth.tenantId, params.userId));
    },
  }),
  pbxRoute({
    method: 'PUT',
    path: '/v1/pbx/webhook',
    operationId: 'putWebhook',
    params: noParams,
    body: { schema: webhookSchema, presence: 'required' },
    async handle({ deps, auth, body }) {
      return json(200, await putWebhook(deps, auth, body));
    },
  }),
  pbxRoute({
    method: 'GET',
    path: '/v1/pbx/webhook',
    operationId: 'getWebhook',
    params: noParams,
    async handle({ deps, auth }) {
      return json(200, await getWebhook(deps, auth.tenantId));
    },
  }),
  pbxRoute({
    method: 'DELETE',
    path: '/v1/pbx/webhook',
    operationId: 'deleteWebhook',
    params: noParams,
    async handle({ deps, auth }) {
      await deleteWebhook(deps, auth);
      return noContent();
    },
  }),
  pbxRoute({
    method: 'GET',
    path: '/v1/pbx/users/{userId}/devices',
    operationId: 'listDevices',
    params: userParams,
    async handle({ deps, auth, params }) {
      return json(200, { devices: await listDevices(deps, auth.tenantId, params.userId) });
    },
  }),
];
