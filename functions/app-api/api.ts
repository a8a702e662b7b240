import type { MiddlewareObj } from '@middy/core';
import { type AppAction, actOnCall } from '../core/app-calls.js';
import { type CallTokenClaims, verifyCallToken } from '../core/call-token.js';
import { AppActionRefusedError, AppCallGoneError, type DomainError, TokenScopeError } from '../core/errors.js';
import type { Deps } from '../core/ports.js';
import { snapshotOf } from '../core/watch.js';
import { answerViewRequest, taggedJson } from '../http/conditional.js';
import { createHttpApi } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { HttpRequest } from '../http/request.js';
import { Router, route } from '../http/router.js';
import { callParams } from '../http/schemas.js';

export type AppDeps = Deps;
type AppAuth = CallTokenClaims;

const invalidToken = () =>
  new ProblemError(
    401,
    'invalid_token',
    'A valid call token from the push is required.',
    {},
    { 'www-authenticate': 'Bearer' },
  );

const act = (method: 'GET' | 'POST', suffix: string, operationId: string, action: AppAction) =>
  route<AppDeps, AppAuth, { callId: string }, unknown>({
    method,
    path: `/v1/app/calls/{callId}${suffix}`,
    operationId,
    params: callParams,
    async handle({ deps, auth, params, req, remainingMs }) {
      const snapshot = async () => snapshotOf(await actOnCall(deps, auth, params.callId, action));
      // Only the read may wait; confirm, answer and decline answer at once, with their view's ETag.
      return action === 'view'
        ? answerViewRequest(deps, req, remainingMs(), snapshot)
        : taggedJson(200, await snapshot());
    },
  });

export const appRouter = new Router<AppDeps, AppAuth>([
  act('POST', '/confirm', 'confirmCall', 'confirm'),
  act('GET', '', 'getAppCall', 'view'),
  act('POST', '/answer', 'answerCall', 'answer'),
  act('POST', '/decline', 'declineCall', 'decline'),
]);

const BEARER = /^Bearer +([!-~]{1,200})$/i;

/** The call token from the push; forged, malformed or missing all look the same. */
async function authenticateApp(req: HttpRequest, deps: AppDeps): Promise<AppAuth> {
  const m = BEARER.exec(req.headers.authorization ?? '');
  if (!m) throw invalidToken();
  let claims = verifyCallToken(deps.tokenKeys(), m[1]!);
  // A token signed with a key this container has not loaded yet (pbx-api saw a rotation first):
  // re-read the key ring once, rate-limited, before calling it forged.
  if (!claims && (await deps.refreshTokenKeys?.())) claims = verifyCallToken(deps.tokenKeys(), m[1]!);
  if (!claims) throw invalidToken();
  return claims;
}

function mapAppError(e: DomainError): ProblemError | undefined {
  // The app always learns how to end its CallKit call: both carry the view.
  if (e instanceof AppCallGoneError) return new ProblemError(410, 'call_ended', e.message, { call: e.view });
  if (e instanceof AppActionRefusedError) return new ProblemError(409, 'call_ended', e.message, { call: e.view });
  if (e instanceof TokenScopeError) return new ProblemError(403, 'token_scope', e.message);
  return undefined;
}

export const createAppApi = (deps: () => Promise<AppDeps>, middlewares: MiddlewareObj[] = []) =>
  createHttpApi<AppDeps, AppAuth>({
    name: 'app',
    router: appRouter,
    // API Gateway's $default route brings every other path here too: those are 404s, unauthenticated.
    prefix: '/v1/app/',
    deps,
    authenticate: authenticateApp,
    mapError: mapAppError,
    middlewares,
  });
