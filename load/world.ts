import type { ApnsSimulator } from '../local/apns-simulator/index.js';
import type { AppClient, PbxClient, Reply } from '../local/clients.js';
import type { CallModel } from './model.js';
import type { PushIndex } from './push-index.js';
import type { Recorder } from './recorder.js';
import { problemCode } from './wire.js';

/** Everything the virtual workers share: the stack's address, clients, the simulator, the record. */
export interface World {
  url: string;
  tenantA: string;
  /** Tenant A has two active secrets (rotation): one client per secret, either verifies. */
  pbxA: PbxClient[];
  tenantB: string;
  pbxB: PbxClient;
  app: AppClient;
  sim: ApnsSimulator;
  pushes: PushIndex;
  rec: Recorder;
  /** Every accepted call (201) and every tombstone the run made, with the model of its state. */
  calls: CallModel[];
  /** Creates the service refused: their callId must not exist afterwards (nothing written). */
  rejected: { tenantId: string; callId: string; label: string }[];
  /** The Apple team configured in the stack. */
  team: string;
  pushDeadlineMs: number;
  /** Workers start no scenario after this (epoch ms) or past `maxRings` rings. */
  endAt: number;
  maxRings: number;
  rings: number;
}

export const EP = {
  putDevice: 'PUT /v1/pbx/users/{userId}/devices/{deviceId}',
  deleteDevice: 'DELETE /v1/pbx/users/{userId}/devices/{deviceId}',
  listDevices: 'GET /v1/pbx/users/{userId}/devices',
  ring: 'POST /v1/pbx/calls',
  cancel: 'POST /v1/pbx/calls/{callId}/cancel',
  pbxView: 'GET /v1/pbx/calls/{callId}',
  confirm: 'POST /v1/app/calls/{callId}/confirm',
  answer: 'POST /v1/app/calls/{callId}/answer',
  decline: 'POST /v1/app/calls/{callId}/decline',
  appView: 'GET /v1/app/calls/{callId}',
  other: '(no such route / method)',
} as const;

/** One request's outcome, with the epoch-ms window it ran in. */
export interface Res {
  status: number;
  body: unknown;
  contentType: string;
  ts: number;
  te: number;
  ms: number;
}

/** Makes a request, times it and records it under its endpoint. A failed connection is status 0. */
export async function send(w: World, endpoint: string, where: string, fn: () => Promise<Reply>): Promise<Res> {
  const ts = Date.now();
  const started = performance.now();
  try {
    const r = await fn();
    const te = Date.now();
    w.rec.request(endpoint, r.status, r.ms, where);
    return { status: r.status, body: r.body, contentType: r.headers.get('content-type') ?? '', ts, te, ms: r.ms };
  } catch (e) {
    const te = Date.now();
    const ms = performance.now() - started;
    w.rec.request(endpoint, 0, ms, `${where}: ${(e as Error).message}`);
    return { status: 0, body: String(e), contentType: '', ts, te, ms };
  }
}

/** Records an `unexpected` error unless the reply has this status (and problem code). 5xx are already recorded. */
export function expectStatus(w: World, res: Res, where: string, status: number, code?: string): boolean {
  const gotCode = problemCode(res.body);
  const ok = res.status === status && (code === undefined || gotCode === code);
  if (ok && status >= 400 && !res.contentType.startsWith('application/problem+json')) {
    w.rec.error(
      'unexpected',
      where,
      `${status} ${code ?? ''} came as ${res.contentType || 'no content-type'}, not application/problem+json`,
    );
    return false;
  }
  if (!ok && res.status < 500 && res.status !== 0) {
    const body = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
    const got = `${res.status}${gotCode ? ` ${gotCode}` : ''}`;
    const expected = `${status}${code ? ` ${code}` : ''}`;
    w.rec.error('unexpected', where, `got ${got}, expected ${expected}: ${body?.slice(0, 300)}`);
  }
  return ok;
}
