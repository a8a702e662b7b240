import type { MiddlewareObj } from '@middy/core';
import {
  AppNotAllowedError,
  CallAlreadyEndedError,
  CallIdConflictError,
  CallNotFoundError,
  type DomainError,
  StaleRequestError,
  TeamRequiredError,
  TooManyDevicesError,
  UnknownTeamError,
} from '../core/errors.js';
import { RateLimitedError } from '../core/limits.js';
import { verifySignature } from '../core/pbx-signature.js';
import { InsecureWebhookUrlError, WebhookNotFoundError } from '../core/webhooks.js';
import { pathSpellings } from '../http/path-encoding.js';
import { createHttpApi } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { HttpRequest } from '../http/request.js';
import { Router, type Routing } from '../http/router.js';
import type { PbxAuth, PbxDeps } from './deps.js';
import { pbxRoutes } from './routes.js';

export const pbxRouter = new Router<PbxDeps, PbxAuth>(pbxRoutes);

/** Every /v1/pbx request is signed; any failure before the clock check looks the same. */
async function authenticatePbx(req: HttpRequest, deps: PbxDeps, routing: Routing<PbxDeps, PbxAuth>): Promise<PbxAuth> {
  const tenantId = req.headers['x-callwake-tenant'];
  const tenant = tenantId ? await deps.tenant(tenantId) : undefined;
  const verdict = verifySignature(
    {
      tenantId,
      timestamp: req.headers['x-callwake-timestamp'],
      signature: req.headers['x-callwake-signature'],
      method: req.method,
      // An empty query arrives as none: it may have been sent as a bare `?`.
      paths: pathSpellings(req.path, routing.paramSegments).flatMap((p) =>
        req.query ? [`${p}?${req.query}`] : [p, `${p}?`],
      ),
      body: req.body,
    },
    () => tenant?.secrets,
    deps.clock.now(),
  );
  if (verdict.ok && tenant) {
    return {
      tenantId: verdict.tenantId,
      signedAt: Number(req.headers['x-callwake-timestamp']),
      ...(tenant.apps ? { apps: tenant.apps } : {}),
      limits: { ...deps.defaultLimits, ...tenant.limits },
    };
  }
  throw !verdict.ok && verdict.code === 'stale_signature'
    ? new ProblemError(
        401,
        'stale_signature',
        'The signature is valid but its timestamp is more than 300 s from the server clock.',
      )
    : new ProblemError(401, 'bad_signature', 'The request signature could not be verified.');
}

function mapPbxError(e: DomainError): ProblemError | undefined {
  if (e instanceof CallIdConflictError) return new ProblemError(409, 'call_id_conflict', e.message);
  if (e instanceof CallAlreadyEndedError) return new ProblemError(410, 'call_ended', e.message);
  if (e instanceof CallNotFoundError) return new ProblemError(404, 'call_not_found', e.message);
  if (e instanceof TooManyDevicesError) return new ProblemError(409, 'too_many_devices', e.message);
  if (e instanceof UnknownTeamError) return new ProblemError(400, 'unknown_team', e.message);
  if (e instanceof WebhookNotFoundError) return new ProblemError(404, 'webhook_not_found', e.message);
  if (e instanceof StaleRequestError) return new ProblemError(409, 'stale_request', e.message);
  if (e instanceof RateLimitedError) {
    return new ProblemError(429, 'rate_limited', e.message, {}, { 'retry-after': String(e.retryAfterSeconds) });
  }
  if (e instanceof AppNotAllowedError) return new ProblemError(400, 'app_not_allowed', e.message);
  if (e instanceof InsecureWebhookUrlError) {
    return new ProblemError(400, 'validation_failed', 'The request is not valid; see errors.', {
      errors: [{ path: 'url', message: e.message }],
    });
  }
  // A missing member of the body: the same answer as any other invalid body.
  if (e instanceof TeamRequiredError) {
    return new ProblemError(400, 'validation_failed', 'The request is not valid; see errors.', {
      errors: [{ path: 'teamId', message: e.message }],
    });
  }
  return undefined;
}

export const createPbxApi = (deps: () => Promise<PbxDeps>, middlewares: MiddlewareObj[] = []) =>
  createHttpApi<PbxDeps, PbxAuth>({
    name: 'pbx',
    router: pbxRouter,
    prefix: '/v1/pbx/',
    deps,
    authenticate: authenticatePbx,
    mapError: mapPbxError,
    timed: { ringCall: 'WebhookLatency' },
    middlewares,
  });
