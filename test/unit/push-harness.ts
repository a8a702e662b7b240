/**
 * What openapi.test.ts needs to hold `x-callwake-pushes` and the v1.1 create rules to the code:
 * the real ring (`ringCall`), the real events path (`dispatchChanges`, which sends the end-of-call
 * alerts) and the real APNs adapter (`ApnsPusher`, which sets the headers), with only APNs' wire
 * replaced: every request it would send is recorded, and answered as a test says, per token and
 * environment. The user (devices and settings) is what a test puts in `user`.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { ApnsExchange } from '../../functions/adapters/apns-connection.js';
import type { ProviderTokens } from '../../functions/adapters/apns-jwt.js';
import { ApnsPusher } from '../../functions/adapters/apns-pusher.js';
import type { ApnsEnvironment, Call } from '../../functions/core/call.js';
import { type DispatchDeps, dispatchChanges } from '../../functions/core/dispatch-events.js';
import type { CallwakeEvent } from '../../functions/core/events.js';
import { callUuidOf } from '../../functions/core/ids.js';
import { type Deps, type DeviceStore, type RegisteredDevice, silentLog } from '../../functions/core/ports.js';
import { type RingRequest, type RingResult, ringCall } from '../../functions/core/ring-call.js';
import { DEFAULT_SETTINGS, type UserSettings } from '../../functions/core/settings.js';
import type { AppRef } from '../../functions/core/tenants.js';
import { FakeCallStore } from '../support/fakes/call-store.js';
import { FakeTokenKeys } from '../support/fakes/token-keys.js';

export const TEAM = 'ABCDE12345';
export const BUNDLE = 'com.example.phone';
export const TENANT = 'acme';
export const API_URL = 'https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1/app';

/** One HTTP/2 request to APNs, as ApnsPusher made it. */
export interface ApnsRequest {
  environment: ApnsEnvironment;
  token: string;
  headers: Record<string, string>;
  payload: string;
  /** The deadline the adapter gave the connection (epoch ms): the pusher's own, attempts being unbounded here. */
  deadline: number;
}

/** How "APNs" answers a push: accepted, refused with Apple's reason, or never. */
export type ApnsAnswer = 'accept' | 'timeout' | { status: number; reason: string };

export const REFUSE = {
  BadDeviceToken: { status: 400, reason: 'BadDeviceToken' },
  Unregistered: { status: 410, reason: 'Unregistered' },
  DeviceTokenNotForTopic: { status: 400, reason: 'DeviceTokenNotForTopic' },
} as const;

let tokens = 0;
/** A fresh APNs device token (64 hex digits). */
export const newToken = (): string => (++tokens).toString(16).padStart(8, '0').repeat(8);

export const registered = (deviceId: string, over: Partial<RegisteredDevice> = {}): RegisteredDevice => ({
  deviceId,
  platform: 'ios',
  pushToken: newToken(),
  bundleId: BUNDLE,
  teamId: TEAM,
  environment: 'production',
  pushType: 'voip',
  updatedAt: Date.parse('2026-11-27T07:40:00.000Z'),
  ...over,
});

export class PushHarness {
  /** The call clock (the create's `createdAt`, the events' times). */
  now = Date.parse('2026-11-27T07:42:43.442Z');
  readonly clock = { now: () => this.now };
  readonly calls = new FakeCallStore(this.clock);
  /** The user the ring reads (`to.userId` is always `alice`). */
  user: { devices: RegisteredDevice[]; settings: UserSettings } = { devices: [], settings: DEFAULT_SETTINGS };
  lookups = 0;
  readonly pruned: { deviceId: string; pushToken: string; reason: string }[] = [];
  readonly corrected: { deviceId: string; environment: ApnsEnvironment }[] = [];
  readonly clearedAlertTokens: { deviceId: string; alertPushToken: string }[] = [];
  /** Every request that reached "APNs", in order. */
  readonly sent: ApnsRequest[] = [];
  /** How "APNs" answers; accepts everything unless a test says otherwise. */
  answer: (token: string, environment: ApnsEnvironment) => ApnsAnswer = () => 'accept';
  readonly pusher: ApnsPusher;
  readonly deps: Deps;
  /** Every event the events path derived, in order. */
  readonly events: CallwakeEvent[] = [];

  constructor(o: { pushDeadlineMs?: number; defaultEnvironment?: ApnsEnvironment } = {}) {
    const providerTokens = {
      teams: [TEAM],
      tokenFor: async () => 'provider-jwt',
      invalidate: async () => undefined,
    } as unknown as ProviderTokens;
    // One attempt may take the whole deadline, so the deadline each request carries is the ring's own.
    this.pusher = new ApnsPusher({ tokens: providerTokens, log: silentLog, backoffMs: 10, attemptTimeoutMs: 60_000 });
    let apnsIds = 0;
    // Only the wire is replaced: one "connection" per environment, answering as the test says.
    Object.assign(this.pusher, {
      connectionFor: (environment: ApnsEnvironment) => ({
        probe: () => undefined,
        send: async (path: string, headers: OutgoingHttpHeaders, body: string, deadline: number) => {
          const token = path.replace('/3/device/', '');
          this.sent.push({
            environment,
            token,
            headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
            payload: body,
            deadline,
          });
          const a = this.answer(token, environment);
          if (a === 'accept') {
            const n = String(++apnsIds).padStart(12, '0');
            return { kind: 'response', status: 200, apnsId: `4b1c8f4e-5bb8-4f4e-9a43-${n}` } satisfies ApnsExchange;
          }
          if (a === 'timeout') {
            await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
            return { kind: 'timeout' } satisfies ApnsExchange;
          }
          return { kind: 'response', status: a.status, reason: a.reason } satisfies ApnsExchange;
        },
      }),
    });
    const devices = {
      lookup: async (_tenantId: string, userId: string) => {
        this.lookups++;
        if (userId !== 'alice') throw new Error(`unexpected user ${userId}`);
        return structuredClone(this.user);
      },
      prune: async (_t: string, _u: string, deviceId: string, pushToken: string, cause: { reason: string }) =>
        void this.pruned.push({ deviceId, pushToken, reason: cause.reason }),
      setEnvironment: async (_t: string, _u: string, deviceId: string, _token: string, environment: ApnsEnvironment) =>
        void this.corrected.push({ deviceId, environment }),
      clearAlertToken: async (_t: string, _u: string, deviceId: string, alertPushToken: string) =>
        void this.clearedAlertTokens.push({ deviceId, alertPushToken }),
    } as unknown as DeviceStore;
    this.deps = {
      calls: this.calls,
      devices,
      pusher: this.pusher,
      clock: this.clock,
      timer: { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) },
      tokenKeys: new FakeTokenKeys().tokenKeys,
      defaultEnvironment: o.defaultEnvironment ?? 'production',
      pushDeadlineMs: o.pushDeadlineMs ?? 5000,
      waitPollMs: 100,
      log: silentLog,
    };
  }

  /** A create as the PBX API hands it to the core (defaults applied), for `alice` unless `to` says otherwise. */
  request(over: Partial<RingRequest> = {}): RingRequest {
    return {
      callId: 'a84b4c76e66710@pbx.example.com',
      from: { number: '+15551230000', displayName: 'Bob Smith', uri: 'sip:bob@example.com' },
      to: { userId: 'alice' },
      devices: [],
      ringTimeoutSeconds: 60,
      hasVideo: false,
      metadata: {},
      callerInPush: true,
      ...over,
    };
  }

  /**
   * Rings (for a tenant bound to `apps`, when given), then runs the events path on the call's
   * creation (the stream's insert and update in one).
   */
  async ring(req: RingRequest, tenant: { apps?: readonly AppRef[] } = {}): Promise<RingResult> {
    const result = await ringCall(this.deps, TENANT, req, API_URL, tenant);
    if (result.created) await this.dispatch(undefined, await this.call(req.callId));
    return result;
  }

  async call(callId: string): Promise<Call> {
    const call = await this.calls.get(callUuidOf(TENANT, callId));
    if (!call) throw new Error(`no call ${callId}`);
    return call;
  }

  /** Makes a change to a stored call, then runs the events path on it, as the table's stream would. */
  async change(callId: string, write: (callUuid: string) => Promise<unknown>): Promise<CallwakeEvent[]> {
    const before = await this.call(callId);
    await write(before.callUuid);
    return this.dispatch(before, await this.call(callId));
  }

  private async dispatch(before: Call | undefined, after: Call): Promise<CallwakeEvent[]> {
    const deps = {
      publisher: { publish: async () => undefined },
      webhooks: { get: async () => undefined },
      callbacks: { enqueue: async () => undefined, deadLetter: async () => undefined },
      ringTimers: { schedule: async () => undefined },
      alerts: {
        pusher: this.pusher,
        devices: this.deps.devices,
        clock: this.clock,
        log: silentLog,
        pushDeadlineMs: this.deps.pushDeadlineMs,
      },
      log: silentLog,
    } as unknown as DispatchDeps;
    const events = await dispatchChanges(deps, [{ kind: 'call', before, after }]);
    this.events.push(...events);
    return events;
  }

  /** The requests to one token, in order. */
  to(token: string): ApnsRequest[] {
    return this.sent.filter((r) => r.token === token.toLowerCase());
  }
}
