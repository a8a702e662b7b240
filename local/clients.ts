import { signatureOf } from '../functions/core/pbx-signature.js';

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON answer, narrowed by each caller.
  body: any;
  ms: number;
}

async function exchange(url: string, init: RequestInit): Promise<Reply> {
  const started = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body, ms: performance.now() - started };
}

/** A conditional read: the ETag the client has, and how long it will wait for a change. */
export interface WaitOptions {
  etag?: string;
  waitSeconds?: number;
}

const waitHeaders = (o: WaitOptions = {}): Record<string, string> => ({
  ...(o.etag === undefined ? {} : { 'if-none-match': o.etag }),
  ...(o.waitSeconds === undefined ? {} : { prefer: `wait=${o.waitSeconds}` }),
});

export interface SignOptions {
  /** Unix seconds to sign with (default: now). */
  timestamp?: number;
  /** Send these exact bytes instead of JSON.stringify(body). */
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
  secret?: string;
  tenantId?: string;
}

/** A PBX: signs every request as the contract says. */
export class PbxClient {
  constructor(
    readonly baseUrl: string,
    readonly tenantId: string,
    readonly secret: string,
  ) {}

  async send(method: string, path: string, body?: unknown, o: SignOptions = {}): Promise<Reply> {
    const raw = o.rawBody ?? (body === undefined ? '' : JSON.stringify(body));
    const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    const ts = String(o.timestamp ?? Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'x-callwake-tenant': o.tenantId ?? this.tenantId,
      'x-callwake-timestamp': ts,
      'x-callwake-signature': signatureOf(o.secret ?? this.secret, ts, method, path, bytes),
      ...(bytes.length > 0 ? { 'content-type': 'application/json' } : {}),
      ...o.headers,
    };
    return exchange(`${this.baseUrl}${path}`, { method, headers, ...(bytes.length > 0 ? { body: bytes } : {}) });
  }

  ring(body: unknown) {
    return this.send('POST', '/v1/pbx/calls', body);
  }
  cancel(callId: string, reason?: string) {
    return this.send(
      'POST',
      `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`,
      reason === undefined ? undefined : { reason },
    );
  }
  view(callId: string, wait?: WaitOptions) {
    return this.send('GET', `/v1/pbx/calls/${encodeURIComponent(callId)}`, undefined, { headers: waitHeaders(wait) });
  }
  putSettings(userId: string, settings: unknown) {
    return this.send('PUT', `/v1/pbx/users/${encodeURIComponent(userId)}/settings`, settings);
  }
  getSettings(userId: string) {
    return this.send('GET', `/v1/pbx/users/${encodeURIComponent(userId)}/settings`);
  }
  putWebhook(webhook: unknown) {
    return this.send('PUT', '/v1/pbx/webhook', webhook);
  }
  getWebhook() {
    return this.send('GET', '/v1/pbx/webhook');
  }
  deleteWebhook() {
    return this.send('DELETE', '/v1/pbx/webhook');
  }
  putDevice(userId: string, deviceId: string, device: unknown) {
    return this.send(
      'PUT',
      `/v1/pbx/users/${encodeURIComponent(userId)}/devices/${encodeURIComponent(deviceId)}`,
      device,
    );
  }
  deleteDevice(userId: string, deviceId: string) {
    return this.send('DELETE', `/v1/pbx/users/${encodeURIComponent(userId)}/devices/${encodeURIComponent(deviceId)}`);
  }
  listDevices(userId: string) {
    return this.send('GET', `/v1/pbx/users/${encodeURIComponent(userId)}/devices`);
  }
}

/** The woken app: calls the app API with the token from its push. */
export class AppClient {
  constructor(readonly baseUrl: string) {}

  send(method: string, path: string, token: string | undefined, init: RequestInit = {}): Promise<Reply> {
    return exchange(`${this.baseUrl}${path}`, {
      method,
      ...init,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(init.headers as Record<string, string>),
      },
    });
  }

  view(callId: string, token: string, wait?: WaitOptions) {
    return this.send('GET', `/v1/app/calls/${encodeURIComponent(callId)}`, token, { headers: waitHeaders(wait) });
  }
  confirm(callId: string, token: string) {
    return this.send('POST', `/v1/app/calls/${encodeURIComponent(callId)}/confirm`, token);
  }
  answer(callId: string, token: string) {
    return this.send('POST', `/v1/app/calls/${encodeURIComponent(callId)}/answer`, token);
  }
  decline(callId: string, token: string) {
    return this.send('POST', `/v1/app/calls/${encodeURIComponent(callId)}/decline`, token);
  }
}
