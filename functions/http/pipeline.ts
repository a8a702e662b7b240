import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { DomainError } from '../core/errors.js';
import { causeOf } from '../core/ids.js';
import type { Log, MetricName, Metrics } from '../core/ports.js';
import { ProblemError, problemResponse } from './problem.js';
import { type HttpRequest, requestOf } from './request.js';
import type { Router, Routing } from './router.js';
import type { Schema } from './schemas.js';
import { type FieldError, fieldErrors, withoutNulls } from './validation.js';

export const MAX_BODY_BYTES = 16 * 1024;
/** Answer a 503 problem this long before the function would time out. */
export const TIMEOUT_EARLY_MS = 1000;

/** Strict (a body that is not UTF-8 is a 400) and BOM-keeping; without `stream`, safe to share. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Event = APIGatewayProxyEventV2;
type Result = APIGatewayProxyStructuredResultV2;

/**
 * What one request has gathered so far. Each stage fills in its part in the contract's order, so
 * a later stage (or the error handler, after a failure) finds only what the earlier ones set.
 */
interface RequestState<D, A> {
  startedAt: number;
  deps?: D;
  req?: HttpRequest;
  /** Decided once, in the first stage; a routing problem is thrown later, at its place in the order. */
  routing?: Routing<D, A>;
  /** Set for paths under the API's prefix; elsewhere nothing is authenticated (and no route exists). */
  auth?: A;
  json?: unknown;
}

/** middy hands the handler only (event, context): per-request state rides on the context. */
type StatefulContext<D, A> = Context & { callwake?: RequestState<D, A> };

export interface HttpApiOptions<D extends { log: Log }, A> {
  name: string;
  router: Router<D, A>;
  /** Paths this API authenticates; every route is under it, so a path outside it is a 404. */
  prefix: string;
  /** Built once per container and reused; a promise so secrets can load at init. */
  deps: () => Promise<D>;
  /** Throws a 401 ProblemError for a request it does not accept. */
  authenticate(req: HttpRequest, deps: D, routing: Routing<D, A>): A | Promise<A>;
  /** Domain errors this API turns into problems (the rest are 500s). */
  mapError(e: DomainError): ProblemError | undefined;
  /** Operations whose whole time is a metric (the webhook's). */
  timed?: Record<string, MetricName>;
  /** Outermost middlewares (the deployed functions' log context and metrics). */
  middlewares?: MiddlewareObj[];
}

type Mw<D, A> = MiddlewareObj<Event, Result, Error, StatefulContext<D, A>>;

/**
 * The contract's order of checks, one middleware each: 413 size, 401 authentication,
 * 415 media type, 400 malformed JSON; then the handler: 404/405 routing, 400 validation,
 * the use case. Problems are rendered by one error middleware.
 */
export function createHttpApi<D extends { log: Log }, A>(opts: HttpApiOptions<D, A>) {
  const load: Mw<D, A> = {
    before: async (request) => {
      const state: RequestState<D, A> = { startedAt: Date.now() };
      request.context.callwake = state;
      state.deps = await opts.deps();
      const req = requestOf(request.event);
      state.req = req;
      state.routing = opts.router.route(req.method, req.path);
      if (req.body.length > MAX_BODY_BYTES) {
        throw new ProblemError(413, 'payload_too_large', `The body is over ${MAX_BODY_BYTES} bytes.`);
      }
    },
  };

  const authenticate: Mw<D, A> = {
    before: async (request) => {
      const state = request.context.callwake!;
      if (!state.req!.path.startsWith(opts.prefix)) return;
      state.auth = await opts.authenticate(state.req!, state.deps!, state.routing!);
    },
  };

  const jsonBody: Mw<D, A> = {
    before: (request) => {
      const state = request.context.callwake!;
      const body = state.req!.body;
      if (body.length === 0) return;
      if (!isJsonMediaType(state.req!.headers['content-type'])) {
        throw new ProblemError(
          415,
          'unsupported_media_type',
          'A request body must be sent as content-type: application/json (UTF-8).',
        );
      }
      let text: string;
      try {
        text = UTF8.decode(body);
      } catch {
        throw new ProblemError(400, 'malformed_json', 'The body is not valid UTF-8.');
      }
      try {
        state.json = JSON.parse(text);
      } catch {
        throw new ProblemError(400, 'malformed_json', 'The body is not valid JSON.');
      }
    },
  };

  const problems: Mw<D, A> = {
    after: (request) => accessLog(request.context.callwake, request.response?.statusCode ?? 0),
    onError: (request) => {
      const e = request.error;
      const state = request.context.callwake;
      const mapped = e instanceof ProblemError ? e : e instanceof DomainError ? opts.mapError(e) : undefined;
      let problem: ProblemError;
      if (mapped) problem = mapped;
      else {
        state?.deps?.log.error('unhandled error', {
          api: opts.name,
          error: (e as Error)?.name,
          cause: causeOf(e),
        });
        problem = new ProblemError(500, 'internal_error', 'Something went wrong on our side; it is safe to retry.');
      }
      request.response = problemResponse(problem);
      accessLog(state, problem.status, problem.code);
    },
  };

  /**
   * A request that ended in a problem is logged with its code (API Gateway's access log has every
   * request already: a line per success would only cost log bytes); a timed operation's latency
   * is a metric.
   */
  function accessLog(state: RequestState<D, A> | undefined, status: number, code?: string) {
    if (!state) return;
    const ms = Date.now() - state.startedAt;
    const operation = state.routing?.found ? state.routing.route.operationId : undefined;
    const metric = operation && opts.timed?.[operation];
    if (metric) (state.deps as { metrics?: Metrics } | undefined)?.metrics?.time(metric, ms);
    if (status < 400) return;
    state.deps?.log.info('request', {
      api: opts.name,
      method: state.req?.method,
      // The route template, never the concrete path: ids and callIds stay out of logs.
      route: state.routing?.found ? state.routing.route.path : '(no route)',
      status,
      ...(code ? { code } : {}),
      ms,
    });
  }

  // A request about to run out of the function's time answers a problem, never API Gateway's
  // bare 503 (a held request answers well before: it keeps 3 s of the function's time free).
  return middy<Event, Result, Error, StatefulContext<D, A>>({
    timeoutEarlyInMillis: TIMEOUT_EARLY_MS,
    timeoutEarlyResponse: () => {
      throw new ProblemError(
        503,
        'timed_out',
        'The request could not be answered in time; it is safe to retry.',
        {},
        { 'retry-after': '1' },
      );
    },
  })
    .use(opts.middlewares ?? [])
    .use(problems)
    .use(load)
    .use(authenticate)
    .use(jsonBody)
    .handler(async (_event, context) => {
      const { deps, req, routing, auth, json } = context.callwake!;
      if (!routing!.found) throw routing!.problem;
      // Every route is under the prefix, so a found route was authenticated.
      if (auth === undefined) throw new Error(`route ${routing!.route.path} is outside ${opts.prefix}`);
      const { route, params } = routing!;
      if (route.body?.presence === 'required' && req!.body.length === 0) {
        throw new ProblemError(400, 'malformed_json', 'This request needs a JSON body.');
      }
      const valid = validate(params, route.params, json, route.body?.schema);
      return route.handle({
        deps: deps!,
        auth,
        params: valid.params,
        body: valid.body,
        req: req!,
        remainingMs: () => context.getRemainingTimeInMillis(),
      });
    });
}

/** `application/json`, with a charset (if any) of UTF-8; parameters split as RFC 9110 says (quotes respected). */
function isJsonMediaType(value: string | undefined): boolean {
  if (!value) return false;
  const [type, ...params] = value.match(/(?:[^;"]|"(?:[^"\\]|\\.)*")+/g)?.map((s) => s.trim()) ?? [];
  if (type?.toLowerCase() !== 'application/json') return false;
  return params.every((p) => {
    const eq = p.indexOf('=');
    const k = (eq === -1 ? p : p.slice(0, eq)).trim().toLowerCase();
    const v =
      eq === -1
        ? ''
        : p
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1')
            .toLowerCase();
    return k !== 'charset' || v === 'utf-8';
  });
}

export function validate<P, B>(
  params: unknown,
  paramsSchema: Schema<P>,
  body: unknown,
  bodySchema: Schema<B> | undefined,
): { params: P; body: B } {
  const errors: FieldError[] = [];
  const p = paramsSchema.safeParse(params);
  if (!p.success) errors.push(...fieldErrors(p.error));
  let b: { success: true; data: B } | { success: false } = { success: true, data: undefined as B };
  if (bodySchema) {
    const r = bodySchema.safeParse(withoutNulls(body));
    if (!r.success) errors.push(...fieldErrors(r.error));
    b = r.success ? { success: true, data: r.data } : { success: false };
  }
  if (errors.length > 0 || !p.success || !b.success) {
    throw new ProblemError(400, 'validation_failed', 'The request is not valid; see errors.', { errors });
  }
  return { params: p.data, body: b.data };
}
