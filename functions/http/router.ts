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

export interface Match<D, A> {
  route: AnyRoute<D, A>;
  /** Path parameters; the path arrives decoded (see path-encoding.ts). */
  params: Record<string, string>;
}

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

  /** Which segments of the path are parameters, by the first route (any method) it fits. */
  paramSegments(path: string): Set<number> | undefined {
    return this.compiled.find((x) => x.pattern.test(path))?.paramSegments;
  }

  /** 404 when no route has the path, 405 (with Allow) when none has it with this method. */
  match(method: string, path: string): Match<D, A> {
    const allowed: string[] = [];
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => {
        params[name] = segmentValue(m[i + 1]!);
      });
      return { route: c.route, params };
    }
    if (allowed.length > 0) {
      throw new ProblemError(
        405,
        'method_not_allowed',
        `${method} is not allowed here. Allowed: ${allowed.join(', ')}.`,
        {},
        { allow: allowed.join(', ') },
      );
    }
    throw new ProblemError(404, 'not_found', 'There is no such route.');
  }
}
