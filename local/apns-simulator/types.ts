/** Public types of the APNs simulator. */
import type { KeyObject } from 'node:crypto';

export interface SimulatorOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on. Default 0: a random free port. */
  port?: number;
  /**
   * Answer 429 `TooManyProviderTokenUpdates` when a team presents a new provider token less than
   * 20 minutes after its previous new one (Apple's documented refresh limit). Default false.
   */
  enforceTokenUpdateRate?: boolean;
  /** Clock in epoch milliseconds, for tests that need to move time. Default `Date.now`. */
  now?: () => number;
  /**
   * The APNs environment this server plays. A token assigned to the other environment is
   * answered 400 `BadDeviceToken`, as Apple answers a debug build's token sent to production.
   * Default: none (every token is good here).
   */
  environment?: 'sandbox' | 'production';
  /** Which environment each token belongs to, shared by a sandbox and a production simulator. */
  tokenEnvironments?: Map<string, 'sandbox' | 'production'>;
}

/** One request the simulator received, whatever it answered. */
export interface ReceivedPush {
  /** The device token as it appeared in the path (may be empty for a bad path). */
  token: string;
  method: string;
  path: string;
  /** Request headers (no pseudo-headers), lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Raw body (UTF-8). */
  body: string;
  /** The body parsed as JSON when it is valid JSON, else undefined. */
  payload: unknown | undefined;
  /**
   * HTTP status answered. 0 when an injected fault ended the request without an answer
   * (`resetStream`, `dropConnection`, `goaway`); `reason` then says which.
   */
  status: number;
  /** Apple's reason string for an error answer, or `fault:<kind>` when there was no answer. */
  reason?: string;
  /** The `apns-id` answered (the request's, or a fresh one). */
  apnsId?: string;
  /** When the request was complete (epoch ms). */
  at: number;
  /** From the verified provider token (JWT): `iss`. */
  teamId?: string;
  /** From the verified provider token (JWT): header `kid`. */
  keyId?: string;
  /** The injected fault that decided this answer, if any. */
  fault?: Fault;
}

/** An injected failure. Faults are matched in the order injected; each is used `times` times. */
export interface Fault {
  /** Only for this device token (case-insensitive). Default: any token. */
  token?: string;
  /** Answer with this status and `{"reason"}` (default reason from the status when omitted). */
  status?: number;
  reason?: string;
  /** Adds a `retry-after` header (seconds). */
  retryAfterSeconds?: number;
  /** Wait this long before answering (alone) or before applying the rest of the fault. */
  delayMs?: number;
  /** Reset the request's stream (RST_STREAM, code INTERNAL_ERROR) instead of answering. */
  resetStream?: boolean;
  /** Destroy the whole TCP connection (no GOAWAY, no TLS close), as a dead connection would. */
  dropConnection?: boolean;
  /**
   * Send GOAWAY (NO_ERROR, last stream id below this request's, debug data `{"reason"}`,
   * `Shutdown` unless `reason` is set), refuse this stream (REFUSED_STREAM) and close the session.
   */
  goaway?: boolean;
  /** How many requests this fault applies to. Default 1. */
  times?: number;
}

/** A P-256 key pair like the .p8 key Apple issues for token authentication. */
export interface SimulatorKey {
  teamId: string;
  keyId: string;
  /** PKCS#8 PEM, the format of an Apple .p8 file. */
  privateKeyPem: string;
  publicKey: KeyObject;
}
