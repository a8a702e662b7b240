/**
 * The generator's own model of a call, written from the contract (not from the service's code),
 * and a linearizability check: the replies a set of concurrent requests got must be those of
 * some order of them (respecting real time: a request that ended before another began comes
 * first), applied one by one to the model. The state that order leads to is the new model.
 * Ring timeouts are part of it: a request that began after `expiresAt` sees an expired call, one
 * that ended before it a live one, one spanning it either (and expiry never un-happens).
 */
import { brief, deepEqual } from './util.js';
import { membersOf, type PbxViewDevice, problemCode, type RingBody } from './wire.js';

export type Stored = 'ringing' | 'answered' | 'declined' | 'cancelled' | 'unreachable';
export type EndReason = 'remoteEnded' | 'answeredElsewhere' | 'declinedElsewhere' | 'unanswered' | 'failed';
export type CancelReason = 'caller_hangup' | 'answered_elsewhere' | 'declined_elsewhere' | 'timeout' | 'error';
export const CANCEL_REASONS: readonly CancelReason[] = [
  'caller_hangup',
  'answered_elsewhere',
  'declined_elsewhere',
  'timeout',
  'error',
];
export const END_REASON_OF: Record<CancelReason, EndReason> = {
  caller_hangup: 'remoteEnded',
  answered_elsewhere: 'answeredElsewhere',
  declined_elsewhere: 'declinedElsewhere',
  timeout: 'unanswered',
  error: 'failed',
};

export interface DeviceModel {
  deviceId: string;
  /** Lower-case push token. */
  token: string;
  pushType: 'voip' | 'alert';
  expected: { result: 'sent' | 'failed'; reason?: string };
  /** The call token from the device's push (sent devices only). */
  callToken?: string;
  registered: boolean;
}

export interface CallState {
  status: Stored;
  endReason: EndReason | null;
  answeredBy: string | null;
  declinedBy: string | null;
  /** deviceIds with a confirmedAt, sorted. */
  confirmed: readonly string[];
}

export interface CallModel {
  tenantId: string;
  callId: string;
  callUuid: string;
  /** Which worker and scenario made it, for error reports. */
  label: string;
  /** A cancel for an unknown callId: never rang. */
  tombstone: boolean;
  /** The ring body as first sent (not for tombstones). */
  ringBody?: RingBody;
  /** The 201 answer (not for tombstones). */
  answer?: unknown;
  createdAt?: string;
  expiresAtMs: number;
  caller: { number: string | null; displayName: string | null; uri: string | null };
  hasVideo: boolean;
  metadata: Record<string, string>;
  devices: DeviceModel[];
  state: CallState;
  /** Set when the model no longer knows the call's state (after a 5xx or a mismatch, already reported). */
  tainted?: string;
}

export type Op =
  | { kind: 'confirm' | 'appView' | 'answer' | 'decline'; deviceId: string }
  /** `spelling`: how a default reason is sent (no body, `{}`, `null`); else `{ reason }`. */
  | { kind: 'cancel'; reason: CancelReason; spelling?: 'none' | 'empty' | 'null' }
  | { kind: 'pbxView' }
  /** `alike`: the same call spelled differently (defaults written out, nulls, unknown members). */
  | { kind: 'ringSame'; alike?: boolean }
  | { kind: 'ringConflict' };

/** A request that was made: what, when (epoch ms around it), and what came back. */
export interface Done {
  op: Op;
  ts: number;
  te: number;
  status: number;
  body: unknown;
}

export const describeOp = (op: Op): string =>
  'deviceId' in op ? `${op.kind}(${op.deviceId})` : op.kind === 'cancel' ? `cancel(${op.reason})` : op.kind;

// ---- what the contract says each view shows ----

type Effective = Stored | 'expired';
const effective = (s: CallState, expired: boolean): Effective =>
  s.status === 'ringing' && expired ? 'expired' : s.status;

export function appStateOf(
  s: CallState,
  deviceId: string,
  expired: boolean,
): { status: string; endReason: EndReason | null } {
  switch (effective(s, expired)) {
    case 'ringing':
      return { status: 'ringing', endReason: null };
    case 'answered':
      return s.answeredBy === deviceId
        ? { status: 'answered', endReason: null }
        : { status: 'ended', endReason: 'answeredElsewhere' };
    case 'declined':
      return s.declinedBy === deviceId
        ? { status: 'declined', endReason: null }
        : { status: 'ended', endReason: 'declinedElsewhere' };
    case 'cancelled':
      return { status: 'ended', endReason: s.endReason };
    case 'expired':
      return { status: 'ended', endReason: 'unanswered' };
    case 'unreachable':
      return { status: 'ended', endReason: 'failed' };
  }
}

const pbxEndReason = (s: CallState, expired: boolean): EndReason | null => {
  const e = effective(s, expired);
  return e === 'cancelled' ? s.endReason : e === 'expired' ? 'unanswered' : e === 'unreachable' ? 'failed' : null;
};

const isoMs = (ms: number) => new Date(ms).toISOString();

/** Collects the members that differ from what the model expects. */
function differences() {
  const problems: string[] = [];
  const eq = (name: string, got: unknown, exp: unknown) => {
    if (!deepEqual(got, exp)) problems.push(`${name} ${JSON.stringify(got)} (expected ${JSON.stringify(exp)})`);
  };
  return { problems, eq };
}

function checkAppView(
  m: CallModel,
  body: unknown,
  want: { status: string; endReason: EndReason | null },
): string | null {
  const view = membersOf(body);
  if (!view) return `no app view in ${brief(body)}`;
  const { problems, eq } = differences();
  eq('status', view.status, want.status);
  eq('endReason', view.endReason, want.endReason);
  eq('callId', view.callId, m.callId);
  eq('callUuid', view.callUuid, m.callUuid);
  eq('caller', view.caller, m.caller);
  eq('hasVideo', view.hasVideo, m.hasVideo);
  eq('expiresAt', view.expiresAt, isoMs(m.expiresAtMs));
  eq('metadata', view.metadata, m.metadata);
  return problems.length ? `app view: ${problems.join('; ')}` : null;
}

export function checkPbxView(m: CallModel, s: CallState, expired: boolean, body: unknown): string | null {
  const view = membersOf(body);
  if (!view) return `no PBX view in ${brief(body)}`;
  const { problems, eq } = differences();
  eq('status', view.status, effective(s, expired));
  eq('endReason', view.endReason, pbxEndReason(s, expired));
  eq('answeredBy', view.answeredBy, s.answeredBy);
  eq('declinedBy', view.declinedBy, s.declinedBy);
  eq('callId', view.callId, m.callId);
  eq('callUuid', view.callUuid, m.callUuid);
  if (m.tombstone) {
    eq('expiresAt', view.expiresAt, null);
    eq('devices', view.devices, []);
  } else {
    eq('expiresAt', view.expiresAt, isoMs(m.expiresAtMs));
    eq('createdAt', view.createdAt, m.createdAt);
    const got: PbxViewDevice[] = Array.isArray(view.devices) ? view.devices : [];
    const want = m.devices.map((d) => ({
      deviceId: d.deviceId,
      delivery: d.expected.result,
      confirmed: s.confirmed.includes(d.deviceId),
      answered: s.answeredBy === d.deviceId,
      declined: s.declinedBy === d.deviceId,
    }));
    const seen = got.map((d) => ({
      deviceId: d.deviceId,
      delivery: d.delivery,
      confirmed: d.confirmedAt !== null,
      answered: d.answeredAt !== null,
      declined: d.declinedAt !== null,
    }));
    const byId = (a: { deviceId: string }, b: { deviceId: string }) => (a.deviceId < b.deviceId ? -1 : 1);
    eq('devices', seen.sort(byId), want.sort(byId));
  }
  return problems.length ? `PBX view: ${problems.join('; ')}` : null;
}

const statusIs = (d: Done, status: number, code?: string): string | null => {
  const got = problemCode(d.body);
  return d.status === status && (code === undefined || got === code)
    ? null
    : `status ${d.status}${got ? ` ${got}` : ''} (expected ${status}${code ? ` ${code}` : ''}): ${brief(d.body, 200)}`;
};

/** What one request does to the model, and how to judge its reply. */
export function step(
  m: CallModel,
  s: CallState,
  op: Op,
  expired: boolean,
): { next: CallState; check: (d: Done) => string | null } {
  const live = s.status === 'ringing' && !expired;
  switch (op.kind) {
    case 'confirm':
    case 'appView': {
      const next =
        op.kind === 'confirm' && !s.confirmed.includes(op.deviceId)
          ? { ...s, confirmed: [...s.confirmed, op.deviceId].sort() }
          : s;
      const want = appStateOf(next, op.deviceId, expired);
      return { next, check: (d) => statusIs(d, 200) ?? checkAppView(m, d.body, want) };
    }
    case 'answer':
    case 'decline': {
      const to = op.kind === 'answer' ? 'answered' : 'declined';
      const by = op.kind === 'answer' ? s.answeredBy : s.declinedBy;
      if (live || (s.status === to && by === op.deviceId)) {
        const next: CallState =
          op.kind === 'answer'
            ? { ...s, status: 'answered', answeredBy: op.deviceId }
            : { ...s, status: 'declined', declinedBy: op.deviceId };
        return {
          next,
          check: (d) => statusIs(d, 200) ?? checkAppView(m, d.body, appStateOf(next, op.deviceId, expired)),
        };
      }
      const want = appStateOf(s, op.deviceId, expired);
      return {
        next: s,
        check: (d) => statusIs(d, 409, 'call_ended') ?? checkAppView(m, membersOf(d.body)?.call, want),
      };
    }
    case 'cancel': {
      const next: CallState =
        live || s.status === 'answered' ? { ...s, status: 'cancelled', endReason: END_REASON_OF[op.reason] } : s;
      return { next, check: (d) => statusIs(d, 200) ?? checkPbxView(m, next, expired, d.body) };
    }
    case 'pbxView':
      return { next: s, check: (d) => statusIs(d, 200) ?? checkPbxView(m, s, expired, d.body) };
    case 'ringSame':
      if (s.status === 'cancelled') return { next: s, check: (d) => statusIs(d, 410, 'call_ended') };
      return {
        next: s,
        check: (d) =>
          statusIs(d, 200) ??
          (deepEqual(d.body, m.answer)
            ? null
            : `retried create answered ${brief(d.body)}, first answer was ${brief(m.answer)}`),
      };
    case 'ringConflict':
      return {
        next: s,
        check: (d) =>
          s.status === 'cancelled' ? statusIs(d, 410, 'call_ended') : statusIs(d, 409, 'call_id_conflict'),
      };
  }
}

const stateKey = (s: CallState) =>
  `${s.status}|${s.endReason}|${s.answeredBy}|${s.declinedBy}|${s.confirmed.join(',')}`;

export type Linearized = { ok: true; state: CallState } | { ok: false; why: string };

/** Finds an order of `dones` consistent with real time and the model; returns the state it leads to. */
export function linearize(m: CallModel, start: CallState, dones: Done[]): Linearized {
  const n = dones.length;
  if (n > 30) throw new Error('linearize: too many requests in one phase');
  const full = n === 0 ? 0 : 2 ** n - 1;
  const failed = new Set<string>();
  let deepest = { depth: -1, why: '' };
  const dfs = (mask: number, depth: number, s: CallState, expiredSeen: boolean): CallState | undefined => {
    if (mask === full) return s;
    const key = `${mask}|${expiredSeen}|${stateKey(s)}`;
    if (failed.has(key)) return undefined;
    for (let i = 0; i < n; i++) {
      if (mask & (2 ** i)) continue;
      const d = dones[i]!;
      // A request that ended before this one began must come first.
      let blocked = false;
      for (let j = 0; j < n && !blocked; j++) if (j !== i && !(mask & (2 ** j)) && dones[j]!.te < d.ts) blocked = true;
      if (blocked) continue;
      const options: boolean[] = [];
      if (m.tombstone) options.push(false);
      else {
        if (!expiredSeen && d.ts < m.expiresAtMs) options.push(false);
        if (d.te >= m.expiresAtMs) options.push(true);
      }
      for (const e of options) {
        const { next, check } = step(m, s, d.op, e);
        const why = check(d);
        if (why) {
          if (depth >= deepest.depth)
            deepest = { depth, why: `${describeOp(d.op)}${e ? ' (past ring timeout)' : ''}: ${why}` };
          continue;
        }
        const r = dfs(mask | (2 ** i), depth + 1, next, e);
        if (r) return r;
      }
    }
    failed.add(key);
    return undefined;
  };
  const state = dfs(0, 0, start, false);
  if (state) return { ok: true, state };
  const ops = dones
    .map(
      (d) =>
        `${describeOp(d.op)} [${d.ts - dones[0]!.ts}..${d.te - dones[0]!.ts} ms] -> ${d.status} ${brief(d.body, 160)}`,
    )
    .join('\n      ');
  const noOrder = `no order of these requests fits the contract, from state ${stateKey(start)}`;
  const ringEnds = `ring ends ${m.expiresAtMs - dones[0]!.ts} ms after the first`;
  return { ok: false, why: `${noOrder} (${ringEnds}):\n      ${ops}\n    closest: ${deepest.why}` };
}
