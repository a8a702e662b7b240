import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { segmentValue } from './path-encoding.js';
import { ProblemError } from './problem.js';
import type { HttpRequest } from './request.js';
import type { Schema } from './schemas.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContext<D, A, P, B> {
  deps: D;
  auth: A;
  params: P;
  body: B;
  req: HttpRequest;
  /** Time left before the function times out: a held request answers well before it. */
  remainingMs(): number;
}

/** One operation of the contract; `path` is the OpenAPI template, e.g. `/v1/pbx/calls/{callId}`. */
export interface Route<D, A, P = unknown, B = unknown> {
  method: Method;
  path: string;
  operationId: string;
  params: Schema<P>;
  /** `required`: an empty body is malformed_json. `optional`: absent becomes undefined. */
  body?: { schema: Schema<B>; presence: 'required' | 'optional' };
  handle(ctx: RouteContext<D, A, P, B>): Promise<APIGatewayProxyStructuredResultV2>;
}

// Each route is stored with its own parameter and body types erased.
// biome-ignore lint/suspicious/noExplicitAny: a route's own types are checked where it is declared (`route()`).
export type AnyRoute<D, A> = Route<D, A, any, any>;

export const route = <D, A, P, B>(r: Route<D, A, P, B>): AnyRoute<D, A> => r;

interface Compiled<D, A> {
  route: AnyRoute<D, A>;
  pattern: RegExp;
  names: string[];
  /** Indexes of the path's segments that are parameters. */
  paramSegments: Set<number>;
}

/** Where a request goes, decided once per request: its route and parameters, or why none. */
export type Routing<D, A> =
  | {
      found: true;
      route: AnyRoute<D, A>;
      /** Path parameters; the path arrives decoded (see path-encoding.ts). */
      params: Record<string, string>;
      /** Indexes of the path's segments that are parameters. */
      paramSegments: ReadonlySet<number>;
    }
  | {
      found: false;
      /** 404, or 405 with Allow; thrown at its place in the contract's order of checks. */
      problem: ProblemError;
      /** The parameter segments of the route the path fits with another method (405). */
      paramSegments: ReadonlySet<number> | undefined;
    };

export class Router<D, A> {
  private readonly compiled: Compiled<D, A>[];

  constructor(readonly routes: readonly AnyRoute<D, A>[]) {
    this.compiled = routes.map((r) => {
      const names: string[] = [];
      const paramSegments = new Set<number>();
      const source = r.path
        .split('/')
        .map((seg, i) => {
          const m = /^\{(\w+)\}$/.exec(seg);
          if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(m[1]!);
          paramSegments.add(i);
          return '([^/]+)';
        })
        .join('/');
      return { route: r, pattern: new RegExp(`^${source}$`), names, paramSegments };
    });
  }

  /** The route for this method and path; else 404, or 405 (with Allow) when only the method is wrong. */
  route(method: string, path: string): Routing<D, A> {
    const allowed: string[] = [];
    let fits: ReadonlySet<number> | undefined;
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        fits ??= c.paramSegments;
        continue;
      }
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => {
        params[name] = segmentValue(m[i + 1]!);
      });
      return { found: true, route: c.route, params, paramSegments: c.paramSegments };
    }
    const problem =
      allowed.length > 0
        ? new ProblemError(
            405,
            'method_not_allowed',
            `${method} is not allowed here. Allowed: ${allowed.join(', ')}.`,
            {},
            { allow: allowed.join(', ') },
          )
        : new ProblemError(404, 'not_found', 'There is no such route.');
    return { found: false, problem, paramSegments: fits };
  }
}
