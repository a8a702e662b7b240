import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** RFC 9457 problem details; `code` is the stable identifier clients switch on. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

const TITLES: Record<string, string> = {
  payload_too_large: 'Payload too large',
  bad_signature: 'Bad signature',
  stale_signature: 'Stale signature',
  invalid_token: 'Invalid token',
  unsupported_media_type: 'Unsupported media type',
  malformed_json: 'Malformed JSON',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  validation_failed: 'Validation failed',
  call_id_conflict: 'Call id conflict',
  call_ended: 'Call ended',
  call_not_found: 'Call not found',
  too_many_devices: 'Too many devices',
  unknown_team: 'Unknown Apple team',
  token_scope: 'Token for another call',
  webhook_not_found: 'Webhook not found',
  stale_request: 'Stale request',
  app_not_allowed: 'App not allowed',
  rate_limited: 'Rate limited',
  internal_error: 'Internal error',
  timed_out: 'Timed out',
};

/** A URN rather than a URL: a self-hosted service has no documentation host to point at. */
export const problemTypeOf = (code: string): string => `urn:callwake:problem:${code}`;

/** A request that ends in a problem: thrown by middlewares and handlers, rendered by the pipeline's error middleware. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

export function problemResponse(e: ProblemError): APIGatewayProxyStructuredResultV2 {
  const body: Problem = {
    type: problemTypeOf(e.code),
    title: TITLES[e.code] ?? e.code,
    status: e.status,
    detail: e.detail,
    code: e.code,
    ...e.extensions,
  };
  return {
    statusCode: e.status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...e.headers },
    body: JSON.stringify(body),
  };
}

export const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

export const noContent = (): APIGatewayProxyStructuredResultV2 => ({
  statusCode: 204,
  headers: { 'cache-control': 'no-store' },
});
