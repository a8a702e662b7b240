import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';

const IDLE_PROBE_AFTER_MS = 30_000;

export type ApnsExchange =
  | { kind: 'response'; status: number; apnsId?: string; reason?: string; retryAfterMs?: number }
  | { kind: 'timeout' }
  | { kind: 'connection-error'; message: string };

/**
 * One long-lived HTTP/2 connection to one APNs origin, reopened when it dies (GOAWAY, reset,
 * or a peer that dropped it while the Lambda container was frozen). APNs wants connections
 * kept open, so one is reused across invocations and never reopened in a tight loop.
 */
export class ApnsConnection {
  private session: ClientHttp2Session | undefined;
  private probing: ClientHttp2Session | undefined;
  private lastHeardAt = 0;

  constructor(
    readonly origin: string,
    private readonly tls: { ca?: string } = {},
  ) {}

  private current(): ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = http2.connect(this.origin, { ...(this.tls.ca ? { ca: this.tls.ca } : {}) });
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('goaway', forget);
    session.on('close', forget);
    session.on('error', forget);
    // An idle connection must not keep a local process (or a test run) alive.
    session.unref();
    this.session = session;
    this.lastHeardAt = Date.now();
    return session;
  }

  /** Sends one request; resolves (never rejects) by `deadline` (epoch ms). */
  send(path: string, headers: OutgoingHttpHeaders, body: string, deadline: number): Promise<ApnsExchange> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: ApnsExchange) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(
        () => {
          stream?.close(http2.constants.NGHTTP2_CANCEL);
          finish({ kind: 'timeout' });
        },
        Math.max(0, deadline - Date.now()),
      );

      // A dying session destroys its streams, so the stream's own events report it.
      let stream: http2.ClientHttp2Stream | undefined;
      try {
        // A connection idle this long may have died while the container was frozen: ask it (in
        // parallel with this request) and drop it within a second if it does not answer, so the
        // request fails over to a fresh connection instead of waiting for its own timeout.
        if (this.session && Date.now() - this.lastHeardAt > IDLE_PROBE_AFTER_MS) this.probe();
        const session = this.current();
        stream = session.request({ ':method': 'POST', ':path': path, ...headers });
      } catch (e) {
        finish({ kind: 'connection-error', message: (e as Error).message });
        return;
      }
      let status = 0;
      let apnsId: string | undefined;
      let retryAfterMs: number | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        this.lastHeardAt = Date.now();
        status = Number(h[':status']);
        apnsId = typeof h['apns-id'] === 'string' ? h['apns-id'] : undefined;
        const retryAfter = Number(h['retry-after']);
        if (Number.isFinite(retryAfter) && retryAfter >= 0) retryAfterMs = retryAfter * 1000;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (status === 0) return finish({ kind: 'connection-error', message: 'stream ended without a response' });
        let reason: string | undefined;
        if (chunks.length > 0) {
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reason?: unknown };
            if (typeof parsed.reason === 'string') reason = parsed.reason;
          } catch {
            reason = undefined;
          }
        }
        finish({
          kind: 'response',
          status,
          ...(apnsId === undefined ? {} : { apnsId }),
          ...(reason === undefined ? {} : { reason }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      });
      stream.on('error', (e) => finish({ kind: 'connection-error', message: e.message }));
      stream.on('close', () => {
        if (status === 0)
          finish({ kind: 'connection-error', message: `stream closed (code ${stream?.rstCode ?? 'none'})` });
      });
      stream.end(body);
    });
  }

  /**
   * After a request timed out, or before using a long-idle connection: is it alive at all? An
   * unanswered PING means it died
   * silently (a NAT or the peer forgot it), so drop it and let the next attempt reconnect; a
   * healthy connection carrying other pushes is kept.
   */
  probe(timeoutMs = 1000): void {
    const s = this.session;
    // One PING at a time per connection: many pushes timing out together ask one question.
    if (!s || s.closed || s.destroyed || this.probing === s) return;
    this.probing = s;
    const done = () => {
      if (this.probing === s) this.probing = undefined;
    };
    const timer = setTimeout(() => {
      done();
      if (this.session === s) this.session = undefined;
      s.destroy();
    }, timeoutMs);
    timer.unref();
    try {
      s.ping((err) => {
        clearTimeout(timer);
        done();
        if (!err) this.lastHeardAt = Date.now();
        // A PING cancelled on our side says nothing about the peer; anything else means dead.
        if (err && (err as NodeJS.ErrnoException).code !== 'ERR_HTTP2_PING_CANCEL' && this.session === s) {
          this.session = undefined;
          s.destroy();
        }
      });
    } catch {
      clearTimeout(timer);
      done();
    }
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}
