import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** What every middleware and handler reads, taken from the API Gateway (v2) event once. */
export interface HttpRequest {
  method: string;
  /** The path from `/v1/` on, percent-decoded as API Gateway hands it over, without the query. */
  path: string;
  /** The query as sent, without `?` ('' for none). */
  query: string;
  headers: Record<string, string>;
  body: Buffer;
  /** `https://<domain>` the request came in on, for the app API URL put in pushes. */
  origin: string | undefined;
}

export function requestOf(event: APIGatewayProxyEventV2): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  const raw = event.rawPath ?? '/';
  // Behind a custom domain's base path mapping the path may carry a prefix: the API starts at /v1/.
  const v1 = raw.indexOf('/v1/');
  const path = v1 > 0 ? raw.slice(v1) : raw;
  const query = event.rawQueryString ?? '';
  const body =
    event.body === undefined || event.body === null
      ? Buffer.alloc(0)
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  const domain = event.requestContext?.domainName;
  return {
    method: (event.requestContext?.http?.method ?? 'GET').toUpperCase(),
    path,
    query,
    headers,
    body,
    origin: domain ? `https://${domain}` : undefined,
  };
}
