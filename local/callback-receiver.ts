import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallwakeEvent } from '../functions/core/events.js';
import { verifySignature } from '../functions/core/pbx-signature.js';

/** One callback as a receiver got it: verified with the same code that verifies PBX requests. */
export interface ReceivedCallback {
  event: CallwakeEvent;
  headers: Record<string, string>;
  /** `ok`, or why the signature did not verify. */
  signature: 'ok' | 'bad_signature' | 'stale_signature';
  at: number;
}

/** How the receiver answers one request (tests make it fail, hang, redirect, …). */
export type Reaction =
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'hang' }
  | { kind: 'close' }
  | { kind: 'redirect'; location: string };

export interface ReceiverOptions {
  /** The tenant's secrets, as the PBX holds them. */
  secrets: (tenantId: string) => readonly string[] | undefined;
  /** How to answer: 204 by default. */
  react?: (callback: ReceivedCallback, index: number) => Reaction;
  port?: number;
  host?: string;
}

/**
 * A PBX-side callback receiver: verifies each callback's signature the way callwake verifies the
 * PBX's own requests (timestamp, method, path with query, raw body), keeps every callback, and
 * answers as told. Used by the demo, the command line (`events listen`) and the tests.
 */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  private readonly waiters: (() => void)[] = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(o: ReceiverOptions): Promise<CallbackReceiver> {
    let receiver!: CallbackReceiver;
    const server = createServer((req, res) => void receiver.handle(req, res, o));
    await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new CallbackReceiver(server, `http://${o.host ?? '127.0.0.1'}:${port}`);
    return receiver;
  }

  /** Resolves once `count` callbacks matching `which` have arrived (or rejects after `timeoutMs`). */
  async waitFor(which: (c: ReceivedCallback) => boolean, count = 1, timeoutMs = 10_000): Promise<ReceivedCallback[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.filter(which);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${found.length} of ${count} callbacks arrived within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse, o: ReceiverOptions) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
    );
    const verdict = verifySignature(
      {
        tenantId: headers['x-callwake-tenant'],
        timestamp: headers['x-callwake-timestamp'],
        signature: headers['x-callwake-signature'],
        method: req.method ?? '',
        paths: [req.url ?? '/'],
        body,
      },
      o.secrets,
      Date.now(),
    );
    let event: CallwakeEvent;
    try {
      event = JSON.parse(body.toString('utf8')) as CallwakeEvent;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const callback: ReceivedCallback = {
      event,
      headers,
      signature: verdict.ok ? 'ok' : verdict.code,
      at: Date.now(),
    };
    this.received.push(callback);
    for (const wake of this.waiters.splice(0)) wake();
    const reaction = o.react?.(callback, this.received.length - 1) ?? { kind: 'status', status: 204 };
    switch (reaction.kind) {
      case 'status':
        res.writeHead(reaction.status, { 'content-type': 'text/plain' }).end(reaction.body ?? '');
        return;
      case 'redirect':
        res.writeHead(302, { location: reaction.location }).end();
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'hang':
        return; // never answers: the sender's timeout must end it
    }
  }
}
