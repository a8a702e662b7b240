import { type AppAction, actOnCall } from '../core/app-calls.js';
import { type CallTokenClaims, verifyCallToken } from '../core/call-token.js';
import { AppCallEndedError, type DomainError, TokenScopeError } from '../core/errors.js';
import type { Deps } from '../core/ports.js';
import { createHttpApi } from '../http/pipeline.js';
import { json, ProblemError } from '../http/problem.js';
import type { HttpRequest } from '../http/request.js';
import { Router, route } from '../http/router.js';
import { callParams } from '../http/schemas.js';

export type AppDeps = Deps;
/** null only outside /v1/app, where no route matches and the answer is a 404. */
type AppAuth = CallTokenClaims | null;

const invalidToken = () =>
  new ProblemError(
    401,
    'invalid_token',
    'A valid call token from the push is required.',
    {},
    { 'www-authenticate': 'Bearer' },
  );

const act = (method: 'GET' | 'POST', suffix: string, operationId: string, action: AppAction) =>
  route({
    method,
    path: `/v1/app/calls/{callId}${suffix}`,
    operationId,
    params: callParams,
    async handle({ deps, auth, params }: { deps: AppDeps; auth: AppAuth; params: { callId: string } }) {
      if (!auth) throw invalidToken();
      return json(200, await actOnCall(deps, auth, params.callId, action));
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
  // Paths outside /v1/app (API Gateway's $default route) have no token to check: they are 404s.
  if (!req.path.startsWith('/v1/app/')) return null;
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
  if (e instanceof AppCallEndedError) return new ProblemError(e.status, e.code, e.message, { call: e.view });
  if (e instanceof TokenScopeError) return new ProblemError(403, e.code, e.message);
  return undefined;
}

export const createAppApi = (deps: () => Promise<AppDeps>) =>
  createHttpApi<AppDeps, AppAuth>({
    name: 'app',
    router: appRouter,
    deps,
    authenticate: authenticateApp,
    mapError: mapAppError,
  });
