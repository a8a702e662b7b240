import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { API_FUNCTION_TIMEOUT_SECONDS } from '../functions/config.js';
import { decodePathLikeApiGateway } from '../functions/http/path-encoding.js';

// A middy handler also takes an options argument (its abort signal).
type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
  opts: { signal: AbortSignal },
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalFront {
  pbx: LambdaHandler;
  app: LambdaHandler;
  /** Extra local-only routes under /_local/ (what the APNs simulator received); return false to pass. */
  extra?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
}

/** Strict and BOM-keeping; without `stream`, one decoder serves every request. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Lambda never aborts an invocation it still waits for; one signal serves them all. */
const NEVER_ABORTED = new AbortController().signal;

/** API Gateway's own cap on a request body; the handlers enforce the contract's 16 KiB. */
const MAX_FRONT_BODY = 10 * 1024 * 1024;

/**
 * What API Gateway (HTTP API, payload format 2.0) does in front of the two Lambdas:
 * route by path (/v1/pbx/* to pbx-api, everything else to app-api), turn the request into a
 * v2 event, and the handler's result back into a response.
 */
export function createLocalServer(front: LocalFront): Server {
  const server = createServer(async (req, res) => {
    try {
      const rawUrl = req.url ?? '/';
      if (
        front.extra &&
        rawUrl.startsWith('/_local/') &&
        (await front.extra(req, res, new URL(rawUrl, 'http://local')))
      )
        return;
      const body = await readBody(req);
      if (body === undefined)
        return send(res, {
          statusCode: 413,
          headers: { 'content-type': 'application/json' },
          body: '{"message":"Request Entity Too Large"}',
        });
      const q = rawUrl.indexOf('?');
      const rawPath = decodePathLikeApiGateway(q === -1 ? rawUrl : rawUrl.slice(0, q));
      const event = eventOf(req, rawPath, q === -1 ? '' : rawUrl.slice(q + 1), body);
      const handler = rawPath.startsWith('/v1/pbx/') ? front.pbx : front.app;
      send(res, await handler(event, contextOf(API_FUNCTION_TIMEOUT_SECONDS * 1000), { signal: NEVER_ABORTED }));
    } catch (e) {
      // The handlers render every error themselves; reaching here is a bug worth seeing.
      console.error('local front: handler threw', e);
      send(res, {
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: '{"message":"Internal Server Error"}',
      });
    }
  });
  // A request Node cannot parse (a header block over its limit, bytes a request line may not
  // hold, a malformed method) never reaches a handler: answered as API Gateway answers it, with
  // a body that says so, rather than Node's bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const body = JSON.stringify({ message: tooLarge ? 'Request Header Fields Too Large' : 'Bad Request' });
    socket.end(
      `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/** The body, or undefined past API Gateway's cap. Events, not an async iterator: it is per request. */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FRONT_BODY) chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > MAX_FRONT_BODY ? undefined : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function eventOf(req: IncomingMessage, rawPath: string, rawQueryString: string, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  }
  let text: string | undefined;
  try {
    // ignoreBOM keeps a leading BOM: the handler must see the bytes the PBX signed.
    text = UTF8.decode(body);
  } catch {
    text = undefined; // not UTF-8: API Gateway hands such bodies over base64-encoded
  }
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(body.length > 0
      ? text === undefined
        ? { body: body.toString('base64'), isBase64Encoded: true }
        : { body: text, isBase64Encoded: false }
      : { isBase64Encoded: false }),
  };
}

/** A Lambda context with the deployed functions' timeout, counted from now. */
function contextOf(timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:local',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function send(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const body =
    result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode ?? 200, {
    ...(result.headers as Record<string, string>),
    'content-length': String(body.length),
  });
  res.end(body);
}
