/**
 * An APNs provider-API server for local runs and tests: HTTP/2 over TLS with a self-signed
 * certificate, token (JWT) auth checked against keys you trust, Apple's request checks and
 * reason strings, device state (unregistered tokens, topic binding) and injected faults.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import http2, {
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { createTlsIdentity } from './certificate.js';
import { FaultQueue } from './faults.js';
import { checkProviderToken, TokenUpdateTracker, TrustedKeys } from './provider-token.js';
import { defaultReasonForStatus, Reason } from './reasons.js';
import { checkBody, checkHeaders, checkPath, hasDuplicateHeaders, parseJson, requestApnsId } from './request-checks.js';
import type { Fault, ReceivedPush, SimulatorOptions } from './types.js';

/** Bodies larger than this are not buffered: the request is answered 413 at once. */
const MAX_BUFFERED_BODY_BYTES = 1024 * 1024;
const DEFAULT_WAIT_MS = 5000;

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

interface Answer {
  status: number;
  reason?: string;
  timestamp?: number;
  retryAfterSeconds?: number;
}

interface RequestInfo {
  stream: ServerHttp2Stream;
  method: string;
  path: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  body: Buffer;
  at: number;
}

interface Waiter {
  token: string;
  accept: (push: ReceivedPush) => boolean;
  resolve: (push: ReceivedPush) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ApnsSimulator {
  /** Every request received, in the order answered. Cleared (same array) by `reset()`. */
  readonly received: ReceivedPush[] = [];
  readonly host: string;
  readonly caPem: string;

  private readonly server: Http2SecureServer;
  private readonly now: () => number;
  private readonly enforceTokenUpdateRate: boolean;
  private readonly keys = new TrustedKeys();
  private readonly tokenUpdates = new TokenUpdateTracker();
  private readonly faults = new FaultQueue();
  private readonly unregistered = new Map<string, number>();
  private readonly environment: 'sandbox' | 'production' | undefined;
  private readonly tokenEnvironments: Map<string, 'sandbox' | 'production'>;
  private readonly topics = new Map<string, string>();
  /** Open sessions and their open streams. */
  private readonly sessions = new Map<ServerHttp2Session, Set<ServerHttp2Stream>>();
  /** Sessions that sent GOAWAY: destroyed once their remaining streams are done. */
  private readonly draining = new Set<ServerHttp2Session>();
  private readonly sockets = new Map<string, Socket>();
  private readonly waiters = new Set<Waiter>();
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private sessionsAccepted = 0;
  private listeningPort = 0;
  private stopping: Promise<void> | undefined;

  /**
   * A sandbox and a production server that know which environment each token belongs to
   * (`assignEnvironment`): each answers `BadDeviceToken` for the other's tokens.
   */
  static async startPair(opts: SimulatorOptions = {}): Promise<{ sandbox: ApnsSimulator; production: ApnsSimulator }> {
    const tokenEnvironments = new Map<string, 'sandbox' | 'production'>();
    const [sandbox, production] = await Promise.all([
      ApnsSimulator.start({ ...opts, environment: 'sandbox', tokenEnvironments }),
      ApnsSimulator.start({ ...opts, environment: 'production', tokenEnvironments }),
    ]);
    return { sandbox, production };
  }

  /** Starts a simulator listening on `opts.host` (127.0.0.1) and `opts.port` (random). */
  static async start(opts: SimulatorOptions = {}): Promise<ApnsSimulator> {
    const host = opts.host ?? '127.0.0.1';
    const identity = await createTlsIdentity(host);
    const simulator = new ApnsSimulator(host, identity.keyPem, identity.certPem, opts);
    await simulator.listen(opts.port ?? 0);
    return simulator;
  }

  private constructor(host: string, keyPem: string, certPem: string, opts: SimulatorOptions) {
    this.host = host;
    this.caPem = certPem;
    this.now = opts.now ?? Date.now;
    this.enforceTokenUpdateRate = opts.enforceTokenUpdateRate ?? false;
    this.environment = opts.environment;
    this.tokenEnvironments = opts.tokenEnvironments ?? new Map();
    this.server = http2.createSecureServer({
      key: keyPem,
      cert: certPem,
      allowHTTP1: false,
      settings: { maxConcurrentStreams: 1000 },
    });
    this.server.on('connection', (socket: Socket) => this.trackSocket(socket));
    this.server.on('session', (session) => this.trackSession(session));
    this.server.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders?: string[]) =>
        this.onStream(stream, headers, rawHeaders ?? []),
    );
    // A client that does not trust the certificate aborts the handshake: nothing to do.
    this.server.on('tlsClientError', () => undefined);
    this.server.on('sessionError', () => undefined);
  }

  get port(): number {
    return this.listeningPort;
  }

  /** `host:port`, what APNS_HOST takes (IPv6 hosts in brackets). */
  get address(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${host}:${this.port}`;
  }

  /** Trusts an ES256 key for provider tokens with `iss` = teamId and `kid` = keyId. */
  trustKey(teamId: string, keyId: string, publicKey: KeyObject | string): void {
    this.keys.add(teamId, keyId, publicKey);
  }

  /** From now on, pushes to this token get 410 `Unregistered` with `timestamp` = sinceMs. */
  markUnregistered(token: string, sinceMs?: number): void {
    this.unregistered.set(token.toLowerCase(), sinceMs ?? this.now());
  }

  /** The token belongs to this environment: a server playing the other answers `BadDeviceToken`. */
  assignEnvironment(token: string, environment: 'sandbox' | 'production'): void {
    this.tokenEnvironments.set(token.toLowerCase(), environment);
  }

  /** The token belongs to this topic: another `apns-topic` gets 400 `DeviceTokenNotForTopic`. */
  bindTopic(token: string, topic: string): void {
    this.topics.set(token.toLowerCase(), topic);
  }

  injectFault(fault: Fault): void {
    this.faults.add(fault);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** The requests received for this device token (case-insensitive), in order. */
  pushesFor(token: string): ReceivedPush[] {
    const wanted = token.toLowerCase();
    return this.received.filter((push) => push.token.toLowerCase() === wanted);
  }

  /**
   * The first push for `token` that `accept` takes (by default: accepted by APNs, status 200),
   * already received or still to come. Rejects after `timeoutMs` or when the simulator stops.
   */
  waitForPush(
    token: string,
    timeoutMs: number = DEFAULT_WAIT_MS,
    accept: (push: ReceivedPush) => boolean = (push) => push.status === 200,
  ): Promise<ReceivedPush> {
    const found = this.pushesFor(token).find(accept);
    if (found) return Promise.resolve(found);
    if (this.stopping) return Promise.reject(new Error('APNs simulator stopped'));
    return new Promise<ReceivedPush>((resolve, reject) => {
      const waiter: Waiter = {
        token: token.toLowerCase(),
        accept,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const seen = this.pushesFor(token).map((p) => `${p.status}${p.reason ? ` ${p.reason}` : ''}`);
          reject(
            new Error(
              `No matching push for ${token} within ${timeoutMs} ms` +
                (seen.length > 0 ? ` (received: ${seen.join(', ')})` : ' (none received)'),
            ),
          );
        }, timeoutMs),
      };
      waiter.timer.unref();
      this.waiters.add(waiter);
    });
  }

  /** Kills every connection at the TCP level, as if idle connections had died. */
  dropAllConnections(): void {
    for (const socket of this.sockets.values()) killSocket(socket);
  }

  /** How many HTTP/2 sessions (connections) were accepted since start. */
  connectionCount(): number {
    return this.sessionsAccepted;
  }

  /** Clears received pushes, faults and the provider-token update history. */
  reset(): void {
    this.received.length = 0;
    this.faults.clear();
    this.tokenUpdates.clear();
  }

  /** Closes the listener and destroys every connection; resolves once the server is closed. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      for (const waiter of this.waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error('APNs simulator stopped'));
      }
      this.waiters.clear();
      for (const sleeper of this.sleepers) {
        clearTimeout(sleeper.timer);
        sleeper.wake();
      }
      this.sleepers.clear();
      this.server.close(() => resolve());
      for (const session of this.sessions.keys()) session.destroy();
      for (const socket of this.sockets.values()) socket.destroy();
    });
    return this.stopping;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen(port, this.host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        if (address === null || typeof address === 'string') {
          reject(new Error('APNs simulator: no TCP address'));
          return;
        }
        this.listeningPort = address.port;
        resolve();
      });
    });
  }

  private trackSocket(socket: Socket): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    this.sockets.set(key, socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (this.sockets.get(key) === socket) this.sockets.delete(key);
    });
  }

  private trackSession(session: ServerHttp2Session): void {
    this.sessionsAccepted += 1;
    this.sessions.set(session, new Set());
    session.on('error', () => undefined);
    session.once('close', () => {
      this.sessions.delete(session);
      this.draining.delete(session);
    });
  }

  private socketOf(session: ServerHttp2Session): Socket | undefined {
    return this.sockets.get(`${session.socket.remoteAddress}:${session.socket.remotePort}`);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    stream.on('error', () => undefined);
    const session = stream.session as ServerHttp2Session;
    const open = this.sessions.get(session);
    if (open) {
      open.add(stream);
      stream.once('close', () => {
        open.delete(stream);
        this.maybeFinishDraining(session);
      });
    }
    const at = this.now();
    const request: Omit<RequestInfo, 'body'> = {
      stream,
      method: String(headers[':method'] ?? ''),
      path: String(headers[':path'] ?? ''),
      headers: plainHeaders(headers),
      rawHeaders,
      at,
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    stream.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size <= MAX_BUFFERED_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      tooLarge = true;
      const info = { ...request, body: Buffer.concat(chunks) };
      this.respond(info, this.recordBase(info), { status: 413, reason: Reason.PayloadTooLarge });
    });
    stream.on('end', () => {
      if (tooLarge) return;
      const info = { ...request, body: Buffer.concat(chunks) };
      if (this.draining.has(session)) {
        // After GOAWAY: never processed, the client may retry it on a new connection.
        this.record({ ...this.recordBase(info), status: 0, reason: 'refused' });
        stream.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      void this.handle(info);
    });
  }

  private async handle(request: RequestInfo): Promise<void> {
    const base = this.recordBase(request);
    const fault = this.faults.take(base.token);
    if (fault) {
      base.fault = fault;
      if (fault.delayMs !== undefined && fault.delayMs > 0) {
        await this.sleep(fault.delayMs);
        if (this.stopping) return;
        if (request.stream.destroyed || request.stream.closed) {
          this.record({ ...base, status: 0, reason: 'cancelled' });
          return;
        }
      }
      if (this.applyFault(request, base, fault)) return;
    }
    this.respond(request, base, this.evaluate(request, base));
  }

  /** Applies a fault's failure; false when the fault was a delay only. */
  private applyFault(request: RequestInfo, base: ReceivedPush, fault: Fault): boolean {
    const { stream } = request;
    if (fault.resetStream) {
      this.record({ ...base, status: 0, reason: 'fault:resetStream' });
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return true;
    }
    if (fault.dropConnection) {
      this.record({ ...base, status: 0, reason: 'fault:dropConnection' });
      const socket = this.socketOf(stream.session as ServerHttp2Session);
      if (socket) killSocket(socket);
      else stream.session?.destroy();
      return true;
    }
    if (fault.goaway) {
      this.record({ ...base, status: 0, reason: 'fault:goaway' });
      this.sendGoaway(stream, fault.reason ?? Reason.Shutdown);
      return true;
    }
    if (fault.status !== undefined) {
      const reason = fault.reason ?? defaultReasonForStatus(fault.status);
      this.respond(request, base, {
        status: fault.status,
        ...(reason === undefined ? {} : { reason }),
        ...(fault.status === 410 ? { timestamp: this.now() } : {}),
        ...(fault.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: fault.retryAfterSeconds }),
      });
      return true;
    }
    return false;
  }

  /**
   * GOAWAY with NO_ERROR and `{"reason"}` as debug data, last stream id just below this stream's:
   * this stream and any later one are refused (REFUSED_STREAM, safe to retry), earlier ones still
   * get their answers, then the session is destroyed. Not `session.close()`: that sends a second
   * GOAWAY with a higher last stream id, which clients rightly treat as a PROTOCOL_ERROR.
   */
  private sendGoaway(stream: ServerHttp2Stream, reason: string): void {
    const session = stream.session as ServerHttp2Session;
    const lastStreamId = Math.max(0, (stream.id ?? 0) - 2);
    this.draining.add(session);
    session.goaway(NGHTTP2_NO_ERROR, lastStreamId, Buffer.from(JSON.stringify({ reason })));
    for (const other of this.sessions.get(session) ?? []) {
      if ((other.id ?? 0) > lastStreamId && !other.closed) other.close(NGHTTP2_REFUSED_STREAM);
    }
    this.maybeFinishDraining(session);
  }

  private maybeFinishDraining(session: ServerHttp2Session): void {
    if (!this.draining.has(session) || (this.sessions.get(session)?.size ?? 0) > 0) return;
    this.draining.delete(session);
    // Let the frames already queued (answers, RST_STREAM) reach the socket first.
    setImmediate(() => {
      if (!session.destroyed) session.destroy();
    });
  }

  /** What APNs would answer; fills in teamId/keyId on `base` once the token is verified. */
  private evaluate(request: RequestInfo, base: ReceivedPush): Answer {
    const path = checkPath(request.method, request.path);
    if (!path.ok) return path;
    if (hasDuplicateHeaders(request.rawHeaders)) return { status: 400, reason: Reason.DuplicateHeaders };
    const nowMs = this.now();
    const auth = checkProviderToken(request.headers['authorization'], this.keys, nowMs);
    if (auth.teamId !== undefined) base.teamId = auth.teamId;
    if (auth.keyId !== undefined) base.keyId = auth.keyId;
    if (!auth.ok) return auth;
    if (this.enforceTokenUpdateRate) {
      const jwt = (request.headers['authorization'] ?? '').trim().split(/\s+/)[1] ?? '';
      if (!this.tokenUpdates.admit(auth.teamId, jwt, auth.issuedAt, nowMs)) {
        return { status: 429, reason: Reason.TooManyProviderTokenUpdates };
      }
    }
    const headerCheck = checkHeaders(request.headers, this.topics.get(path.token.toLowerCase()));
    if (!headerCheck.ok) return headerCheck;
    const body = checkBody(request.body, headerCheck.pushType);
    if (!body.ok) return body;
    const home = this.tokenEnvironments.get(path.token.toLowerCase());
    if (home !== undefined && this.environment !== undefined && home !== this.environment) {
      return { status: 400, reason: Reason.BadDeviceToken };
    }
    const since = this.unregistered.get(path.token.toLowerCase());
    if (since !== undefined) return { status: 410, reason: Reason.Unregistered, timestamp: since };
    return { status: 200 };
  }

  private recordBase(request: RequestInfo): ReceivedPush {
    const body = request.body.toString('utf8');
    const apnsId = requestApnsId(request.headers);
    return {
      token: checkPath('POST', request.path).token,
      method: request.method,
      path: request.path,
      headers: request.headers,
      body,
      payload: body === '' ? undefined : parseJson(body),
      status: 0,
      apnsId: typeof apnsId === 'string' ? apnsId : randomUUID().toUpperCase(),
      at: request.at,
    };
  }

  private respond(request: RequestInfo, base: ReceivedPush, answer: Answer): void {
    const { stream } = request;
    const push: ReceivedPush = {
      ...base,
      status: answer.status,
      ...(answer.reason === undefined ? {} : { reason: answer.reason }),
    };
    if (stream.destroyed || stream.closed) {
      this.record({ ...push, status: 0, reason: 'cancelled' });
      return;
    }
    const headers: Record<string, string | number> = { ':status': answer.status };
    if (base.apnsId !== undefined) headers['apns-id'] = base.apnsId;
    if (answer.retryAfterSeconds !== undefined) headers['retry-after'] = String(answer.retryAfterSeconds);
    if (answer.status === 200 || answer.reason === undefined) {
      stream.respond(headers, { endStream: true });
    } else {
      headers['content-type'] = 'application/json';
      const body: Record<string, unknown> = { reason: answer.reason };
      if (answer.timestamp !== undefined) body['timestamp'] = answer.timestamp;
      stream.respond(headers);
      stream.end(JSON.stringify(body));
    }
    this.record(push);
  }

  private record(push: ReceivedPush): void {
    this.received.push(push);
    const token = push.token.toLowerCase();
    for (const waiter of this.waiters) {
      if (waiter.token !== token || !waiter.accept(push)) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve(push);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const sleeper = {
        wake: () => resolve(),
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
      };
      this.sleepers.add(sleeper);
    });
  }
}

/** Request headers without pseudo-headers; repeated values joined with ", ". */
function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** Ends a TCP connection abruptly (RST), with no TLS close and no HTTP/2 GOAWAY. */
function killSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}
