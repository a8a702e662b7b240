/**
 * One virtual worker: a PBX with its own users and their phones. It runs scenarios one after the
 * other until the run's end, each with a realistic mix of what PBXs and woken apps do, and keeps
 * a model of everything it touched: its users' device registries and every call it made.
 * Concurrency inside a scenario (phones racing, a PBX cancelling while they answer, a webhook
 * retried while the first is still pushing) is judged by linearizing the replies against the model.
 */
import { inlineDeviceIdOf } from '../functions/core/ids.js';
import {
  CANCEL_REASONS,
  type CallModel,
  type CallState,
  checkPbxView,
  type DeviceModel,
  type Done,
  END_REASON_OF,
  linearize,
  type Op,
} from './model.js';
import {
  between,
  brief,
  callUuidOf,
  chance,
  codePoints,
  deepEqual,
  newPushToken,
  pick,
  rand,
  shuffle,
  sleep,
  weighted,
} from './util.js';
import { EP, expectStatus, type Res, send, type World } from './world.js';

const BUNDLE = 'com.example.phone';
const ALERT_BUNDLE = 'com.example.lite';
const OTHER_TEAM = 'OTHERTEAM9';
const USERS_PER_WORKER = 3;
const MAX_REGISTERED = 5;

interface Reg {
  deviceId: string;
  token: string;
  bundleId: string;
  environment: 'production' | 'sandbox';
  pushType: 'voip' | 'alert';
}

/** An inline device as the PBX sends it, and what the generator expects of its push. */
interface InlineSpec {
  pnPrid: string;
  pnParam: string;
}

type Expectation = { result: 'sent' | 'failed'; reason?: string; permanent?: boolean };

export class Worker {
  readonly users = new Map<string, Map<string, Reg>>();
  /** Tokens APNs now answers 410 Unregistered for (markUnregistered). */
  private readonly dead = new Set<string>();
  /** Expectations set up (with injected faults) for the next ring only. */
  private readonly planned = new Map<string, Expectation>();
  private seq = 0;
  private readonly recent: CallModel[] = [];
  /** Tenant A callIds tenant B has already used for its own call. */
  private readonly reusedByB = new Set<string>();

  constructor(
    private readonly w: World,
    readonly id: number,
  ) {}

  private uid(prefix: string) {
    return `${prefix}-w${this.id}-${this.seq++}`;
  }

  private get pbx() {
    return pick(this.w.pbxA);
  }

  /** A SIP-like Call-ID; some use the rarer printable characters the contract allows. */
  private newCallId(): string {
    const base = `${this.uid('c')}-${Math.random().toString(36).slice(2, 10)}`;
    if (chance(0.8)) return `${base}@pbx${this.id}.example.com`;
    return `${base}${pick(["!$&'()*+,;=", '%41%zz', ':[::1]:5060', '~^`|{}', '"<sip:x>"', '\\.@.'])}@pbx.example.com`;
  }

  // ---------------------------------------------------------------- setup and the run loop

  async setup() {
    for (let u = 0; u < USERS_PER_WORKER; u++) {
      const userId = `user-w${this.id}-${u}@tenant-a`;
      this.users.set(userId, new Map());
      for (let n = between(1, MAX_REGISTERED); n > 0; n--) await this.addDevice(userId, 'setup');
    }
  }

  async run() {
    while (Date.now() < this.w.endAt && this.w.rings < this.w.maxRings) {
      const scenario = weighted<[string, () => Promise<void>]>([
        [40, ['ring-and-phones', () => this.ringAndPhones()]],
        [12, ['pbx-cancels', () => this.pbxCancels()]],
        [10, ['retried-webhook', () => this.retriedWebhook()]],
        [4, ['cancel-before-create', () => this.cancelBeforeCreate()]],
        [8, ['bad-requests', () => this.badRequests()]],
        [8, ['registry-churn', () => this.registryChurn()]],
        [7, ['apns-faults', () => this.apnsFaults()]],
        [2, ['ring-timeout', () => this.ringTimeout()]],
        [2, ['other-tenant', () => this.otherTenant()]],
      ]);
      this.w.rec.tick(`scenario ${scenario[0]}`);
      try {
        await scenario[1]();
      } catch (e) {
        this.w.rec.error('generator', `w${this.id} ${scenario[0]}`, (e as Error).stack ?? String(e));
      }
    }
  }

  // ---------------------------------------------------------------- device registry

  private userWithDevices(): string {
    const users = [...this.users].filter(([, d]) => d.size > 0);
    return pick(users)[0];
  }

  private deviceBody(r: Reg, explicitTeam = chance(0.3)) {
    return {
      platform: 'ios',
      pushToken: chance(0.2) ? r.token.toUpperCase() : r.token,
      bundleId: r.bundleId,
      ...(explicitTeam ? { teamId: this.w.team } : {}),
      environment: r.environment,
      ...(r.pushType === 'voip' && chance(0.5) ? {} : { pushType: r.pushType }),
    };
  }

  private checkDeviceView(where: string, body: any, r: Reg) {
    // eslint-disable-line @typescript-eslint/no-explicit-any
    const want = {
      deviceId: r.deviceId,
      platform: 'ios',
      bundleId: r.bundleId,
      environment: r.environment,
      pushType: r.pushType,
      tokenSuffix: r.token.slice(-8),
    };
    const got =
      body && typeof body === 'object'
        ? {
            deviceId: body.deviceId,
            platform: body.platform,
            bundleId: body.bundleId,
            environment: body.environment,
            pushType: body.pushType,
            tokenSuffix: body.tokenSuffix,
          }
        : body;
    if (!deepEqual(got, want) || typeof body?.updatedAt !== 'string')
      this.w.rec.error('unexpected', where, `device view ${brief(body)}, expected ${brief(want)}`);
  }

  private async putDevice(userId: string, r: Reg, expect: 200 | 201, where: string) {
    const res = await send(this.w, EP.putDevice, where, () =>
      this.pbx.putDevice(userId, r.deviceId, this.deviceBody(r)),
    );
    if (expectStatus(this.w, res, where, expect)) this.checkDeviceView(where, res.body, r);
    return res;
  }

  private async addDevice(userId: string, label: string) {
    const r: Reg = {
      deviceId: this.uid('iphone'),
      token: newPushToken(),
      bundleId: chance(0.1) ? ALERT_BUNDLE : BUNDLE,
      environment: chance(0.5) ? 'production' : 'sandbox',
      pushType: 'voip',
    };
    if (r.bundleId === ALERT_BUNDLE) r.pushType = 'alert';
    const res = await this.putDevice(userId, r, 201, `w${this.id} ${label}: register ${r.deviceId}`);
    if (res.status === 201) this.users.get(userId)!.set(r.deviceId, r);
  }

  /** Lists the user's devices and compares them with the model. */
  async checkRegistry(userId: string, where: string) {
    const res = await send(this.w, EP.listDevices, where, () => this.pbx.listDevices(userId));
    if (!expectStatus(this.w, res, where, 200)) return;
    const want = [...this.users.get(userId)!.values()]
      .map((r) => ({
        deviceId: r.deviceId,
        platform: 'ios',
        bundleId: r.bundleId,
        environment: r.environment,
        pushType: r.pushType,
        tokenSuffix: r.token.slice(-8),
      }))
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    const got = (Array.isArray(res.body?.devices) ? res.body.devices : [])
      .map((d: any) => ({
        deviceId: d.deviceId,
        platform: d.platform,
        bundleId: d.bundleId,
        environment: d.environment,
        pushType: d.pushType,
        tokenSuffix: d.tokenSuffix,
      })) // eslint-disable-line @typescript-eslint/no-explicit-any
      .sort((a: { deviceId: string }, b: { deviceId: string }) => (a.deviceId < b.deviceId ? -1 : 1));
    if (!deepEqual(got, want))
      this.w.rec.error('wrong-state', where, `registry of ${userId}: ${brief(got, 600)}, expected ${brief(want, 600)}`);
  }

  async registryChurn() {
    const userId = this.userWithDevices();
    const devices = this.users.get(userId)!;
    const where = `w${this.id} registry-churn ${userId}`;
    const what = weighted([
      [3, 'replace'],
      [2, 'move-token'],
      [2, 'move-to-other-user'],
      [2, 'delete'],
      [2, 'add'],
      [1, 'unknown-team'],
    ] as const);
    const r = pick([...devices.values()]);
    switch (what) {
      case 'replace': {
        // Same device re-registered (app relaunch), sometimes a changed environment.
        if (chance(0.5)) r.environment = r.environment === 'production' ? 'sandbox' : 'production';
        await this.putDevice(userId, r, 200, `${where}: replace ${r.deviceId}`);
        break;
      }
      case 'move-token': {
        // A reinstalled app: same token, new deviceId; the old one must not stay behind.
        const moved: Reg = { ...r, deviceId: this.uid('iphone-reinstalled') };
        const res = await this.putDevice(userId, moved, 201, `${where}: move ${r.deviceId} -> ${moved.deviceId}`);
        if (res.status === 201) {
          devices.delete(r.deviceId);
          devices.set(moved.deviceId, moved);
        }
        break;
      }
      case 'move-to-other-user': {
        const other = pick([...this.users.keys()].filter((u) => u !== userId));
        if (this.users.get(other)!.size >= MAX_REGISTERED) break;
        const moved: Reg = { ...r, deviceId: this.uid('iphone-handed-on') };
        const res = await this.putDevice(other, moved, 201, `${where}: move ${r.deviceId} to ${other}`);
        if (res.status === 201) {
          devices.delete(r.deviceId);
          this.users.get(other)!.set(moved.deviceId, moved);
        }
        await this.checkRegistry(other, `${where}: after move to ${other}`);
        break;
      }
      case 'delete': {
        const res = await send(this.w, EP.deleteDevice, where, () => this.pbx.deleteDevice(userId, r.deviceId));
        if (expectStatus(this.w, res, `${where}: delete ${r.deviceId}`, 204)) devices.delete(r.deviceId);
        const again = await send(this.w, EP.deleteDevice, where, () => this.pbx.deleteDevice(userId, r.deviceId));
        expectStatus(this.w, again, `${where}: delete ${r.deviceId} again`, 204);
        break;
      }
      case 'add':
        if (devices.size < MAX_REGISTERED) await this.addDevice(userId, 'registry-churn');
        break;
      case 'unknown-team': {
        const body = {
          platform: 'ios',
          pushToken: newPushToken(),
          bundleId: BUNDLE,
          teamId: OTHER_TEAM,
          environment: 'production',
        };
        const res = await send(this.w, EP.putDevice, where, () =>
          this.pbx.putDevice(userId, this.uid('iphone-other-team'), body),
        );
        expectStatus(this.w, res, `${where}: unknown team`, 400, 'unknown_team');
        break;
      }
    }
    for (const [u, d] of this.users) if (d.size === 0) await this.addDevice(u, 'registry-churn refill');
    await this.checkRegistry(userId, `${where}: after ${what}`);
  }

  // ---------------------------------------------------------------- rings

  private expectationFor(token: string): Expectation {
    const t = token.toLowerCase();
    const planned = this.planned.get(t);
    if (planned) return planned;
    if (this.dead.has(t)) return { result: 'failed', reason: 'Unregistered', permanent: true };
    return { result: 'sent' };
  }

  private caller() {
    const name = weighted<string | undefined>([
      [3, undefined],
      [5, pick(['Bob Smith', 'Reception', 'Zoë Ångström', '山田 太郎', 'Front Desk (ext. 12)'])],
      [1, '☎️'.repeat(between(250, 300))],
    ]);
    const number = `+1555${between(1000000, 9999999)}`;
    return weighted([
      [6, { number, ...(name ? { displayName: name } : {}) }],
      [2, { number, uri: `sip:${number}@pbx.example.com`, ...(name ? { displayName: name } : {}) }],
      [1, { uri: `sip:reception@pbx.example.com`, ...(name ? { displayName: name } : {}) }],
    ]);
  }

  private pickTimeout(): number | undefined {
    return weighted<number | undefined>([
      [2, undefined],
      [2, between(5, 10)],
      [8, between(11, 300)],
    ]);
  }

  /** A ring body, and the devices it must reach (with what each push should come to). */
  private plan(o: { userId?: string; inline?: InlineSpec[]; timeout?: number | undefined; tenantId?: string }) {
    const body: any = {
      // eslint-disable-line @typescript-eslint/no-explicit-any
      callId: this.newCallId(),
      from: this.caller(),
      ...(o.userId ? { to: { userId: o.userId } } : {}),
      ...(o.inline && o.inline.length ? { devices: o.inline.map((d) => ({ pnProvider: 'apns', ...d })) } : {}),
      ...(o.timeout === undefined ? {} : { ringTimeoutSeconds: o.timeout }),
      ...(chance(0.2) ? { hasVideo: chance(0.5) } : {}),
      ...(chance(0.4)
        ? { metadata: { registrar: `sip:pbx${this.id}.example.com;transport=tls`, line: String(rand(9)) } }
        : {}),
    };
    const targets: {
      deviceId: string;
      token: string;
      pushType: 'voip' | 'alert';
      expected: Expectation;
      registeredTo?: string;
    }[] = [];
    const seen = new Set<string>();
    if (o.userId) {
      for (const r of this.users.get(o.userId)!.values()) {
        seen.add(r.token);
        targets.push({
          deviceId: r.deviceId,
          token: r.token,
          pushType: r.pushType,
          expected: this.expectationFor(r.token),
          registeredTo: o.userId,
        });
      }
    }
    for (const d of o.inline ?? []) {
      const token = d.pnPrid.toLowerCase();
      if (seen.has(token)) continue;
      seen.add(token);
      const team = d.pnParam.split('.')[0];
      const pushType = d.pnParam.endsWith('.voip') ? 'voip' : 'alert';
      const expected: Expectation =
        team === this.w.team ? this.expectationFor(token) : { result: 'failed', reason: 'UnknownTeam' };
      targets.push({ deviceId: inlineDeviceIdOf(token), token, pushType, expected });
    }
    return { body, targets };
  }

  private inlineDevices(n: number, userId?: string): InlineSpec[] {
    const out: InlineSpec[] = [];
    const registered = userId ? [...this.users.get(userId)!.values()] : [];
    for (let i = 0; i < n; i++) {
      const kind = weighted([
        [6, 'voip'],
        [1, 'alert'],
        [1, 'unknown-team'],
        [registered.length ? 2 : 0, 'also-registered'],
      ] as const);
      if (kind === 'also-registered') {
        // The PBX also knows one of the user's registered phones inline: pushed once, as the registry device.
        const r = pick(registered);
        out.push({
          pnPrid: r.token.toUpperCase(),
          pnParam: `${this.w.team}.${r.bundleId}${r.pushType === 'voip' ? '.voip' : ''}`,
        });
      } else {
        const team = kind === 'unknown-team' ? OTHER_TEAM : this.w.team;
        out.push({ pnPrid: newPushToken(chance(0.3)), pnParam: `${team}.${BUNDLE}${kind === 'alert' ? '' : '.voip'}` });
      }
    }
    return out;
  }

  /** A typical ring: one of the worker's users, sometimes with inline devices too, or inline only. */
  private typicalPlan(timeout = this.pickTimeout()) {
    if (chance(0.1)) return this.plan({ inline: this.inlineDevices(between(1, 3)), timeout });
    const userId = this.userWithDevices();
    return this.plan({ userId, inline: chance(0.2) ? this.inlineDevices(between(1, 2), userId) : [], timeout });
  }

  /**
   * Sends the create, checks the 201 answer against the plan, finds each sent device's push
   * (and its call token), prunes dead registry devices from the model, and records the call.
   */
  private async ring(
    p: ReturnType<Worker['plan']>,
    label: string,
    pbx = this.pbx,
    tenantId = this.w.tenantA,
  ): Promise<CallModel | undefined> {
    this.w.rings++;
    const where = `w${this.id} ${label} ring ${p.body.callId}`;
    const res = await send(this.w, EP.ring, where, () => pbx.ring(p.body));
    this.planned.clear();
    if (res.ms > this.w.pushDeadlineMs + 1000)
      this.w.rec.error(
        'slow-ring',
        where,
        `answered after ${res.ms.toFixed(0)} ms (push deadline ${this.w.pushDeadlineMs} ms + 1 s)`,
      );
    if (!expectStatus(this.w, res, where, 201)) {
      if (res.status === 400) this.w.rejected.push({ tenantId, callId: p.body.callId, label: where });
      return undefined;
    }
    return this.adopt(p, res, label, where, tenantId);
  }

  private adopt(p: ReturnType<Worker['plan']>, res: Res, label: string, where: string, tenantId: string): CallModel {
    const a = res.body;
    const callUuid = callUuidOf(tenantId, p.body.callId);
    const problems: string[] = [];
    const anySent = p.targets.some((t) => t.expected.result === 'sent');
    const timeout = p.body.ringTimeoutSeconds ?? 60;
    if (a.callId !== p.body.callId) problems.push(`callId ${a.callId}`);
    if (a.callUuid !== callUuid) problems.push(`callUuid ${a.callUuid}, expected ${callUuid}`);
    if (a.status !== (anySent ? 'ringing' : 'unreachable'))
      problems.push(`status ${a.status}, expected ${anySent ? 'ringing' : 'unreachable'}`);
    if (Date.parse(a.expiresAt) - Date.parse(a.createdAt) !== timeout * 1000)
      problems.push(`expiresAt ${a.expiresAt} is not createdAt ${a.createdAt} + ${timeout} s`);
    const got = new Map<string, any>(
      (Array.isArray(a.deliveries) ? a.deliveries : []).map((d: any) => [d.deviceId, d]),
    ); // eslint-disable-line @typescript-eslint/no-explicit-any
    if (got.size !== p.targets.length) problems.push(`${got.size} deliveries for ${p.targets.length} targets`);
    const devices: DeviceModel[] = [];
    for (const t of p.targets) {
      const d = got.get(t.deviceId);
      if (!d) {
        problems.push(`no delivery for ${t.deviceId}`);
        continue;
      }
      const okResult =
        d.result === t.expected.result && (t.expected.reason === undefined || d.reason === t.expected.reason);
      if (!okResult) {
        const history = this.w.pushes
          .all(t.token, callUuid)
          .map(
            (h) =>
              `${h.status}${h.reason ? ` ${h.reason}` : ''}${h.fault ? ` (fault ${JSON.stringify(h.fault)})` : ''}`,
          );
        problems.push(
          `${t.deviceId}: ${d.result}${d.reason ? ` ${d.reason}` : ''}, expected ${t.expected.result}${t.expected.reason ? ` ${t.expected.reason}` : ''} (APNs saw: ${history.join(', ') || 'nothing'})`,
        );
      }
      if (d.pushType !== t.pushType) problems.push(`${t.deviceId}: pushType ${d.pushType}, expected ${t.pushType}`);
      if (d.result === 'sent' && typeof d.apnsId !== 'string') problems.push(`${t.deviceId}: sent without apnsId`);
      // The model follows what the service said, so one wrong delivery is reported once, here.
      const dm: DeviceModel = {
        deviceId: t.deviceId,
        token: t.token,
        pushType: t.pushType,
        expected: { result: d.result, ...(d.reason ? { reason: d.reason } : {}) },
        registered: t.registeredTo !== undefined,
      };
      if (d.result === 'sent') {
        const accepted = this.w.pushes.accepted(t.token, callUuid);
        const push = accepted[0];
        if (!push) this.w.rec.error('push', where, `${t.deviceId}: delivery sent but APNs accepted no push for it`);
        else {
          const cw = (push.payload as any)?.callwake; // eslint-disable-line @typescript-eslint/no-explicit-any
          dm.callToken = cw?.token;
          const bad: string[] = [];
          if (push.headers['apns-push-type'] !== t.pushType)
            bad.push(`apns-push-type ${push.headers['apns-push-type']}`);
          if (cw?.callId !== p.body.callId) bad.push(`callId ${cw?.callId}`);
          if (cw?.expiresAt !== Date.parse(a.expiresAt))
            bad.push(`expiresAt ${cw?.expiresAt}, view says ${a.expiresAt}`);
          if (typeof cw?.token !== 'string' || cw.token.length > 200) bad.push(`token ${brief(cw?.token, 40)}`);
          if (bad.length) this.w.rec.error('push', where, `${t.deviceId}: push ${bad.join('; ')}`);
        }
      }
      if (t.registeredTo && d.result === 'failed' && t.expected.permanent)
        this.users.get(t.registeredTo)?.delete(t.deviceId);
      devices.push(dm);
    }
    if (problems.length)
      this.w.rec.error('unexpected', where, `201 answer: ${problems.join('; ')}; answer ${brief(a, 600)}`);
    const from = p.body.from;
    const unreachable = a.status === 'unreachable';
    const m: CallModel = {
      tenantId,
      callId: p.body.callId,
      callUuid,
      label: `w${this.id} ${label}`,
      tombstone: false,
      ringBody: p.body,
      answer: a,
      createdAt: a.createdAt,
      expiresAtMs: Date.parse(a.expiresAt),
      caller: {
        number: from.number ?? null,
        displayName: from.displayName === undefined ? null : codePoints(from.displayName, 256),
        uri: from.uri ?? null,
      },
      hasVideo: p.body.hasVideo ?? false,
      metadata: p.body.metadata ?? {},
      devices,
      state: {
        status: unreachable ? 'unreachable' : 'ringing',
        endReason: unreachable ? 'failed' : null,
        answeredBy: null,
        declinedBy: null,
        confirmed: [],
      },
    };
    this.w.calls.push(m);
    this.recent.push(m);
    if (this.recent.length > 20) this.recent.shift();
    return m;
  }

  // ---------------------------------------------------------------- acting on a call

  private pbxFor(m: CallModel) {
    return m.tenantId === this.w.tenantA ? this.pbx : this.w.pbxB;
  }

  private tokenOf(m: CallModel, deviceId: string): string {
    const t = m.devices.find((d) => d.deviceId === deviceId)?.callToken;
    if (!t) throw new Error(`generator: no call token for ${deviceId} of ${m.callId}`);
    return t;
  }

  /** The same call spelled another way: defaults written out, nulls for absent members, an unknown member. */
  private alike(body: any) {
    // eslint-disable-line @typescript-eslint/no-explicit-any
    const b = structuredClone(body);
    b.ringTimeoutSeconds ??= 60;
    b.hasVideo ??= false;
    if (b.metadata === undefined) b.metadata = chance(0.5) ? {} : null;
    if (b.from.displayName === undefined) b.from.displayName = null;
    if (b.to && b.devices === undefined) b.devices = [];
    b.pbxTrace = { node: `pbx${this.id}`, attempt: 2 };
    return b;
  }

  private async exec(m: CallModel, op: Op): Promise<Done> {
    const where = `${m.label} ${m.callId}: ${op.kind}`;
    const app = this.w.app;
    let res: Res;
    switch (op.kind) {
      case 'confirm':
        res = await send(this.w, EP.confirm, where, () => app.confirm(m.callId, this.tokenOf(m, op.deviceId)));
        break;
      case 'appView':
        res = await send(this.w, EP.appView, where, () => app.view(m.callId, this.tokenOf(m, op.deviceId)));
        break;
      case 'answer':
        res = await send(this.w, EP.answer, where, () => app.answer(m.callId, this.tokenOf(m, op.deviceId)));
        break;
      case 'decline':
        res = await send(this.w, EP.decline, where, () => app.decline(m.callId, this.tokenOf(m, op.deviceId)));
        break;
      case 'cancel': {
        const pbx = this.pbxFor(m);
        const path = `/v1/pbx/calls/${encodeURIComponent(m.callId)}/cancel`;
        res = await send(this.w, EP.cancel, where, () =>
          op.spelling === 'none'
            ? pbx.send('POST', path)
            : op.spelling === 'empty'
              ? pbx.send('POST', path, {})
              : op.spelling === 'null'
                ? pbx.send('POST', path, null, { rawBody: 'null' })
                : pbx.send('POST', path, { reason: op.reason }),
        );
        break;
      }
      case 'pbxView':
        res = await send(this.w, EP.pbxView, where, () => this.pbxFor(m).view(m.callId));
        break;
      case 'ringSame':
        this.w.rec.tick(
          `retry: same create again${op.alike ? ' (spelled differently)' : ''}${m.state.status === 'cancelled' ? ' after cancel' : ''}`,
        );
        res = await send(this.w, EP.ring, where, () =>
          this.pbxFor(m).ring(op.alike ? this.alike(m.ringBody) : m.ringBody),
        );
        break;
      case 'ringConflict': {
        this.w.rec.tick(`retry: another body, same callId${m.state.status === 'cancelled' ? ' after cancel' : ''}`);
        const b = structuredClone(m.ringBody);
        b.ringTimeoutSeconds =
          ((b.ringTimeoutSeconds ?? 60) % 300) + 1 < 5 ? 42 : ((b.ringTimeoutSeconds ?? 60) % 300) + 1;
        res = await send(this.w, EP.ring, where, () => this.pbxFor(m).ring(b));
        break;
      }
    }
    return { op, ts: res.ts, te: res.te, status: res.status, body: res.body };
  }

  /**
   * Runs actors concurrently (each a sequence of requests on the call), then judges all their
   * replies at once against the model and moves the model to the state they lead to.
   */
  private async phase(
    m: CallModel,
    name: string,
    actors: ((ex: (op: Op) => Promise<Done>) => Promise<void>)[],
  ): Promise<Done[]> {
    const dones: Done[] = [];
    const ex = async (op: Op) => {
      const d = await this.exec(m, op);
      dones.push(d);
      return d;
    };
    await Promise.all(actors.map((a) => a(ex)));
    this.settle(m, name, dones);
    return dones;
  }

  private settle(m: CallModel, name: string, dones: Done[]) {
    if (m.tainted || dones.length === 0) return;
    if (dones.some((d) => d.status >= 500 || d.status === 0)) {
      m.tainted = `a 5xx in ${name}`;
      return;
    }
    const r = linearize(m, m.state, dones);
    if (r.ok) m.state = r.state;
    else {
      this.w.rec.error('unexpected', `${m.label} ${m.callId} (${name})`, r.why);
      m.tainted = `replies in ${name} did not fit the model`;
    }
  }

  private sent(m: CallModel) {
    return m.devices.filter((d) => d.callToken !== undefined);
  }

  /** The phones: each confirms (most do), then answers or declines as its role says. */
  private phones(m: CallModel, roles: Map<string, 'answer' | 'decline' | 'none'>, confirmP = 0.9) {
    return this.sent(m).map((d) => async (ex: (op: Op) => Promise<Done>) => {
      await sleep(rand(15));
      if (chance(confirmP)) await ex({ kind: 'confirm', deviceId: d.deviceId });
      if (chance(0.1)) await ex({ kind: 'appView', deviceId: d.deviceId });
      const role = roles.get(d.deviceId) ?? 'none';
      if (role !== 'none') {
        await sleep(rand(30));
        await ex({ kind: role, deviceId: d.deviceId });
      }
    });
  }

  private cancelOp(): Op {
    const reason = pick(CANCEL_REASONS);
    if (reason === 'caller_hangup' && chance(0.5))
      return { kind: 'cancel', reason, spelling: pick(['none', 'empty', 'null'] as const) };
    return { kind: 'cancel', reason };
  }

  // ---------------------------------------------------------------- scenarios

  /** Ring; phones confirm, then one answers, several race, one declines, or nobody acts; the PBX follows up. */
  async ringAndPhones() {
    const m = await this.ring(this.typicalPlan(), 'ring-and-phones');
    if (!m) return;
    const sent = shuffle(this.sent(m));
    const roles = new Map<string, 'answer' | 'decline' | 'none'>();
    const outcome = weighted([
      [35, 'answer'],
      [20, 'answer-race'],
      [8, 'answer-decline-race'],
      [14, 'decline'],
      [15, 'nobody'],
    ] as const);
    if (sent.length) {
      if (outcome === 'answer') roles.set(sent[0]!.deviceId, 'answer');
      if (outcome === 'decline') roles.set(sent[0]!.deviceId, 'decline');
      if (outcome === 'answer-race')
        for (const d of sent.slice(0, Math.max(2, rand(sent.length) + 1))) roles.set(d.deviceId, 'answer');
      if (outcome === 'answer-decline-race')
        for (const d of sent) roles.set(d.deviceId, chance(0.5) ? 'answer' : 'decline');
    }
    const dones = await this.phase(m, 'phones', this.phones(m, roles));
    if (outcome === 'answer-race' || outcome === 'answer-decline-race') {
      const winners = dones.filter((d) => (d.op.kind === 'answer' || d.op.kind === 'decline') && d.status === 200);
      const contenders = dones.filter((d) => d.op.kind === 'answer' || d.op.kind === 'decline').length;
      const live = m.expiresAtMs > Math.max(...dones.map((d) => d.te));
      if (contenders > 1) this.w.rec.tick(`race: ${contenders} devices answering/declining at once`);
      if (contenders > 1 && live && winners.length !== 1)
        this.w.rec.error(
          'unexpected',
          `${m.label} ${m.callId}`,
          `${contenders} devices raced to answer/decline, ${winners.length} won`,
        );
    }
    await this.followUp(m);
  }

  /** What a PBX and phones do after the ringing decided something. */
  private async followUp(m: CallModel) {
    const s = m.state;
    const ops: Op[] = [];
    if (chance(0.5)) ops.push({ kind: 'pbxView' });
    if (s.status === 'answered' && chance(0.35)) {
      // The answering phone never connected over SIP, or the caller hung up first.
      ops.push(chance(0.5) ? { kind: 'cancel', reason: 'error' } : this.cancelOp());
      ops.push({ kind: 'appView', deviceId: s.answeredBy! });
    }
    if (s.answeredBy && chance(0.15)) ops.push({ kind: 'answer', deviceId: s.answeredBy });
    const losers = this.sent(m).filter((d) => d.deviceId !== s.answeredBy && d.deviceId !== s.declinedBy);
    if (losers.length && s.status !== 'ringing' && chance(0.2))
      ops.push({ kind: pick(['answer', 'decline'] as const), deviceId: pick(losers).deviceId });
    if (s.status !== 'ringing' && chance(0.1)) ops.push(this.cancelOp());
    if (ops.length)
      await this.phase(m, 'follow-up', [
        async (ex) => {
          for (const op of ops) await ex(op);
        },
      ]);
  }

  /** The caller hangs up: before anyone acts, while phones confirm, or racing an answer. */
  async pbxCancels() {
    const m = await this.ring(this.typicalPlan(), 'pbx-cancels');
    if (!m) return;
    const sent = shuffle(this.sent(m));
    const variant = weighted([
      [3, 'after-confirms'],
      [3, 'racing-confirms'],
      [4, 'racing-answer'],
    ] as const);
    if (variant === 'after-confirms') {
      await this.phase(m, 'confirms', this.phones(m, new Map()));
      await this.phase(m, 'cancel', [async (ex) => void (await ex(this.cancelOp()))]);
    } else {
      const roles = new Map<string, 'answer' | 'decline' | 'none'>();
      if (variant === 'racing-answer')
        for (const d of sent.slice(0, between(1, Math.max(1, sent.length)))) roles.set(d.deviceId, 'answer');
      await this.phase(m, 'cancel-race', [
        ...this.phones(m, roles),
        async (ex) => {
          await sleep(rand(40));
          await ex(this.cancelOp());
        },
      ]);
    }
    // Late phones learn the end; a second cancel changes nothing; a retried create is refused.
    const later: Op[] = [];
    for (const d of sent.slice(0, 2)) later.push({ kind: chance(0.5) ? 'answer' : 'confirm', deviceId: d.deviceId });
    if (chance(0.3)) later.push(this.cancelOp());
    if (chance(0.3)) later.push({ kind: 'ringSame' });
    if (chance(0.5)) later.push({ kind: 'pbxView' });
    if (later.length)
      await this.phase(m, 'after-cancel', [
        async (ex) => {
          for (const op of later) await ex(op);
        },
      ]);
  }

  /** The PBX retries its webhook: later, at the same time as the first, or spelled differently; or reuses a callId with another body. */
  async retriedWebhook() {
    const variant = weighted([
      [4, 'sequential'],
      [4, 'concurrent'],
      [2, 'conflict'],
      [1, 'after-cancel'],
    ] as const);
    const p = this.typicalPlan();
    if (variant === 'concurrent') {
      // Two or three identical creates at once (a PBX that timed out and retried at once).
      const where = `w${this.id} retried-webhook concurrent ${p.body.callId}`;
      const n = between(2, 3);
      this.w.rec.tick(`retry: ${n} identical creates at once`);
      this.w.rings += 1;
      const pbx = this.pbx;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          sleep(i === 0 ? 0 : rand(30)).then(() => send(this.w, EP.ring, where, () => pbx.ring(p.body))),
        ),
      );
      this.planned.clear();
      for (const r of replies)
        if (r.ms > this.w.pushDeadlineMs + 1500)
          this.w.rec.error('slow-ring', where, `answered after ${r.ms.toFixed(0)} ms`);
      const created = replies.filter((r) => r.status === 201);
      const others = replies.filter((r) => r.status !== 201);
      if (created.length !== 1 || others.some((r) => r.status !== 200)) {
        this.w.rec.error(
          'unexpected',
          where,
          `identical concurrent creates answered ${replies.map((r) => `${r.status}${r.body?.code ? ` ${r.body.code}` : ''}`).join(', ')}; expected one 201 and the rest 200`,
        );
      }
      const first = created[0] ?? replies.find((r) => r.status === 200);
      if (!first) return;
      for (const r of replies)
        if (r !== first && (r.status === 200 || r.status === 201) && !deepEqual(r.body, first.body))
          this.w.rec.error(
            'retry-mismatch',
            where,
            `answers differ:\n      ${brief(first.body, 500)}\n      ${brief(r.body, 500)}`,
          );
      const m = this.adopt(p, first, 'retried-webhook concurrent', where, this.w.tenantA);
      await this.phase(
        m,
        'phones',
        this.phones(
          m,
          new Map(
            this.sent(m)
              .slice(0, 1)
              .map((d) => [d.deviceId, 'answer'] as const),
          ),
        ),
      );
      await this.phase(m, 'retry-again', [async (ex) => void (await ex({ kind: 'ringSame', alike: chance(0.5) }))]);
      return;
    }
    const m = await this.ring(p, `retried-webhook ${variant}`);
    if (!m) return;
    const ops: Op[] = [];
    if (variant === 'sequential') ops.push({ kind: 'ringSame', alike: chance(0.4) });
    if (variant === 'conflict') ops.push({ kind: 'ringConflict' });
    if (variant === 'after-cancel') ops.push(this.cancelOp(), { kind: 'ringSame' }, { kind: 'ringConflict' });
    await this.phase(m, 'retry', [
      async (ex) => {
        for (const op of ops) await ex(op);
      },
    ]);
    // Whatever the call's state, the same body gets the stored answer (and pushes nothing again).
    const roles = new Map(
      this.sent(m)
        .slice(0, 1)
        .map((d) => [d.deviceId, chance(0.5) ? 'answer' : 'decline'] as const),
    );
    await this.phase(m, 'phones', this.phones(m, roles));
    await this.phase(m, 'retry-later', [async (ex) => void (await ex({ kind: 'ringSame', alike: chance(0.5) }))]);
  }

  /** The caller hung up before the create arrived (a tombstone), or while it was still being pushed. */
  async cancelBeforeCreate() {
    const p = this.typicalPlan(between(11, 300));
    const callId: string = p.body.callId;
    const where = `w${this.id} cancel-before-create ${callId}`;
    const reason = pick(CANCEL_REASONS);
    const cancelPath = `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`;
    const tomb = (): CallModel => ({
      tenantId: this.w.tenantA,
      callId,
      callUuid: callUuidOf(this.w.tenantA, callId),
      label: `w${this.id} cancel-before-create`,
      tombstone: true,
      expiresAtMs: 0,
      caller: { number: null, displayName: null, uri: null },
      hasVideo: false,
      metadata: {},
      devices: [],
      state: {
        status: 'cancelled',
        endReason: END_REASON_OF[reason],
        answeredBy: null,
        declinedBy: null,
        confirmed: [],
      },
    });
    if (chance(0.5)) {
      const c = await send(this.w, EP.cancel, where, () => this.pbx.send('POST', cancelPath, { reason }));
      const m = tomb();
      if (expectStatus(this.w, c, `${where}: cancel unknown call`, 200)) {
        const why = checkPbxView(m, m.state, false, c.body);
        if (why) this.w.rec.error('unexpected', `${where}: cancel unknown call`, why);
      }
      this.w.calls.push(m);
      this.w.rings++;
      const r = await send(this.w, EP.ring, where, () => this.pbx.ring(p.body));
      this.planned.clear();
      this.w.rec.tick('cancel before create, then the create (410)');
      expectStatus(this.w, r, `${where}: create after cancel`, 410, 'call_ended');
      return;
    }
    // Create and cancel at the same time: either the call exists and is cancelled, or the create finds the tombstone.
    this.w.rings++;
    const pbx = this.pbx;
    const [r, c] = await Promise.all([
      send(this.w, EP.ring, where, () => pbx.ring(p.body)),
      sleep(rand(20)).then(() => send(this.w, EP.cancel, where, () => pbx.send('POST', cancelPath, { reason }))),
    ]);
    this.planned.clear();
    this.w.rec.tick(`cancel racing create: create got ${r.status}`);
    if (!expectStatus(this.w, c, `${where}: cancel racing create`, 200)) return;
    if (r.status === 410 && r.body?.code === 'call_ended') {
      const m = tomb();
      const why = checkPbxView(m, m.state, false, c.body);
      if (why) this.w.rec.error('unexpected', `${where}: cancel racing create (create got 410)`, why);
      this.w.calls.push(m);
      return;
    }
    if (!expectStatus(this.w, r, `${where}: create racing cancel`, 201)) return;
    // The cancel landed while the call rang (maybe while its pushes were still in flight: the
    // answer still says what was pushed), or after a create that reached no device had already
    // ended the call as unreachable, which a cancel leaves alone.
    const m = this.adopt(p, r, 'cancel-before-create (race)', where, this.w.tenantA);
    const sawUnreachable = c.body?.status === 'unreachable' && m.state.status === 'unreachable';
    if (!sawUnreachable) {
      if (c.body?.status !== 'cancelled' || c.body?.endReason !== END_REASON_OF[reason])
        this.w.rec.error('unexpected', `${where}: cancel racing create`, `view ${brief(c.body)}`);
      m.state = { ...m.state, status: 'cancelled', endReason: END_REASON_OF[reason] };
    }
    await this.phase(
      m,
      'late phones',
      this.phones(
        m,
        new Map(
          this.sent(m)
            .slice(0, 1)
            .map((d) => [d.deviceId, 'answer'] as const),
        ),
      ),
    );
  }

  /** Ring timeouts: a 5 s call nobody answers expires; a late answer is refused. */
  async ringTimeout() {
    const m = await this.ring(this.typicalPlan(5), 'ring-timeout');
    if (!m) return;
    await this.phase(m, 'confirms', this.phones(m, new Map()));
    await sleep(Math.max(0, m.expiresAtMs - Date.now() + between(-300, 300)));
    const sent = this.sent(m);
    const ops: Op[] = [{ kind: 'pbxView' }];
    if (sent.length) ops.push({ kind: pick(['answer', 'decline'] as const), deviceId: pick(sent).deviceId });
    ops.push(this.cancelOp(), { kind: 'pbxView' });
    await this.phase(m, 'around the ring timeout', [
      async (ex) => {
        for (const op of ops) await ex(op);
      },
    ]);
  }

  /** Another tenant uses the same callId for its own call: two independent calls. */
  async otherTenant() {
    const mine = this.recent
      .filter((c) => c.tenantId === this.w.tenantA && !c.tombstone && !this.reusedByB.has(c.callId))
      .at(-1);
    if (!mine) return;
    this.reusedByB.add(mine.callId);
    const p = this.plan({
      inline: this.inlineDevices(between(1, 2)).filter((d) => !d.pnParam.startsWith(OTHER_TEAM)),
      timeout: this.pickTimeout(),
    });
    if (p.targets.length === 0) return;
    p.body.callId = mine.callId;
    const m = await this.ring(p, 'other-tenant', this.w.pbxB, this.w.tenantB);
    if (!m) return;
    await this.phase(
      m,
      'phones',
      this.phones(
        m,
        new Map(
          this.sent(m)
            .slice(0, 1)
            .map((d) => [d.deviceId, 'answer'] as const),
        ),
      ),
    );
    await this.phase(m, 'cancel', [async (ex) => void (await ex(this.cancelOp()))]);
  }

  /** APNs misbehaves for some devices: passing errors (retried), dead tokens (pruned), no answer at all. */
  async apnsFaults() {
    const kind = weighted([
      [5, 'transient'],
      [4, 'permanent'],
      [1, 'timeout'],
      [2, 'unreachable'],
    ] as const);
    const label = `apns-faults ${kind}`;
    let p: ReturnType<Worker['plan']>;
    let refillUser: string | undefined;
    if (kind === 'transient' || kind === 'permanent') {
      const userId = this.userWithDevices();
      const r = pick([...this.users.get(userId)!.values()]);
      if (kind === 'transient') {
        const fault = pick([
          { status: 503, reason: 'ServiceUnavailable' },
          { status: 500, reason: 'InternalServerError' },
          { status: 429, reason: 'TooManyRequests', retryAfterSeconds: 1 },
          { resetStream: true },
          { goaway: true },
          // One attempt unanswered past the per-attempt timeout: retried on the same deadline.
          { delayMs: this.w.pushDeadlineMs + 800 },
        ]);
        this.w.sim.injectFault({ token: r.token, ...fault, times: 1 });
        this.w.rec.tick(
          `APNs fault, retried: ${Object.keys(fault).join('+')}${fault.status ? ` ${fault.status}` : ''}`,
        );
      } else {
        const how = pick(['unregistered', 'bad-token', 'not-for-topic'] as const);
        if (how === 'unregistered') {
          this.w.sim.markUnregistered(r.token);
          this.dead.add(r.token);
        } else if (how === 'bad-token') {
          this.w.sim.injectFault({ token: r.token, status: 400, reason: 'BadDeviceToken', times: 1 });
          this.planned.set(r.token, { result: 'failed', reason: 'BadDeviceToken', permanent: true });
        } else {
          this.w.sim.bindTopic(r.token, 'com.example.elsewhere.voip');
          this.dead.add(r.token);
          this.planned.set(r.token, { result: 'failed', reason: 'DeviceTokenNotForTopic', permanent: true });
        }
        refillUser = userId;
        this.w.rec.tick(`APNs fault, device pruned: ${how}`);
      }
      p = this.plan({ userId, timeout: this.pickTimeout() });
    } else if (kind === 'timeout') {
      // APNs never answers one inline device within the push deadline.
      const inline = this.inlineDevices(1).map((d) => ({ ...d, pnParam: `${this.w.team}.${BUNDLE}.voip` }));
      const token = inline[0]!.pnPrid.toLowerCase();
      // Every attempt (the pusher retries an unanswered one within the deadline) is held back.
      this.w.sim.injectFault({ token, delayMs: this.w.pushDeadlineMs + 800, times: 50 });
      this.planned.set(token, { result: 'failed', reason: 'Timeout' });
      this.w.rec.tick('APNs fault: no answer within the push deadline');
      p = chance(0.5)
        ? this.plan({ userId: this.userWithDevices(), inline, timeout: this.pickTimeout() })
        : this.plan({ inline, timeout: this.pickTimeout() });
    } else {
      // Nothing reachable: unregistered inline tokens and unknown teams. The PBX answers 480 at once.
      const inline = this.inlineDevices(between(1, 3)).map((d) => ({
        ...d,
        pnParam: chance(0.3) ? `${OTHER_TEAM}.${BUNDLE}.voip` : d.pnParam,
      }));
      for (const d of inline) {
        this.w.sim.markUnregistered(d.pnPrid);
        this.dead.add(d.pnPrid.toLowerCase());
      }
      p = this.plan({ inline, timeout: this.pickTimeout() });
      this.w.rec.tick('APNs fault: no device reachable (unreachable call)');
    }
    const m = await this.ring(p, label);
    if (refillUser) {
      // The registry dropped the dead device in the same request; the user gets a working phone again.
      await this.checkRegistry(refillUser, `w${this.id} ${label}: after prune`);
      if (this.users.get(refillUser)!.size < MAX_REGISTERED) await this.addDevice(refillUser, label);
    }
    if (!m) return;
    const sent = this.sent(m);
    const roles = new Map(sent.slice(0, 1).map((d) => [d.deviceId, 'answer'] as const));
    await this.phase(m, 'phones', this.phones(m, roles));
    await this.phase(m, 'pbx', [
      async (ex) => {
        await ex({ kind: 'pbxView' });
        if (chance(0.5)) await ex(this.cancelOp());
      },
    ]);
  }

  // ---------------------------------------------------------------- bad requests

  async badRequests() {
    const where = `w${this.id} bad-requests`;
    const fresh = () => this.plan({ userId: this.userWithDevices(), timeout: 30 }).body;
    const refused = (body: { callId: string }) =>
      this.w.rejected.push({ tenantId: this.w.tenantA, callId: body.callId, label: where });
    const pbx = this.pbx;
    const cases: [string, () => Promise<void>][] = [
      [
        'wrong secret',
        async () => {
          const b = fresh();
          const r = await send(this.w, EP.ring, where, () =>
            pbx.send('POST', '/v1/pbx/calls', b, { secret: 'not-the-secret' }),
          );
          if (expectStatus(this.w, r, `${where}: wrong secret`, 401, 'bad_signature')) refused(b);
        },
      ],
      [
        'unknown tenant',
        async () => {
          const r = await send(this.w, EP.pbxView, where, () =>
            pbx.send('GET', `/v1/pbx/calls/x`, undefined, { tenantId: 'no-such-tenant' }),
          );
          expectStatus(this.w, r, `${where}: unknown tenant`, 401, 'bad_signature');
        },
      ],
      [
        'malformed signature',
        async () => {
          const b = fresh();
          const r = await send(this.w, EP.ring, where, () =>
            pbx.send('POST', '/v1/pbx/calls', b, { headers: { 'x-callwake-signature': 'v1=zz' } }),
          );
          if (expectStatus(this.w, r, `${where}: malformed signature`, 401, 'bad_signature')) refused(b);
        },
      ],
      [
        'stale timestamp',
        async () => {
          const b = fresh();
          const r = await send(this.w, EP.ring, where, () =>
            pbx.send('POST', '/v1/pbx/calls', b, { timestamp: Math.floor(Date.now() / 1000) - 400 }),
          );
          if (expectStatus(this.w, r, `${where}: stale timestamp`, 401, 'stale_signature')) refused(b);
        },
      ],
      [
        'malformed JSON',
        async () => {
          const r = await send(this.w, EP.ring, where, () =>
            pbx.send('POST', '/v1/pbx/calls', undefined, { rawBody: '{"callId": "x@y", "from": {' }),
          );
          expectStatus(this.w, r, `${where}: malformed JSON`, 400, 'malformed_json');
        },
      ],
      [
        'empty body',
        async () => {
          const r = await send(this.w, EP.ring, where, () =>
            pbx.send('POST', '/v1/pbx/calls', undefined, { headers: { 'content-type': 'application/json' } }),
          );
          expectStatus(this.w, r, `${where}: empty body`, 400, 'malformed_json');
        },
      ],
      [
        'text/plain',
        async () => {
          const b = fresh();
          const r = await send(this.w, EP.ring, where, () =>
            pbx.send('POST', '/v1/pbx/calls', b, { headers: { 'content-type': 'text/plain' } }),
          );
          if (expectStatus(this.w, r, `${where}: text/plain`, 415, 'unsupported_media_type')) refused(b);
        },
      ],
      [
        'too large',
        async () => {
          const b = { ...fresh(), from: { number: '+15550000000', displayName: 'x'.repeat(17 * 1024) } };
          const r = await send(this.w, EP.ring, where, () => pbx.ring(b));
          if (expectStatus(this.w, r, `${where}: body over 16 KiB`, 413, 'payload_too_large')) refused(b);
        },
      ],
      [
        'invalid callId',
        async () => {
          const r = await send(this.w, EP.ring, where, () => pbx.ring({ ...fresh(), callId: 'has space@pbx' }));
          expectStatus(this.w, r, `${where}: callId with a space`, 400, 'validation_failed');
        },
      ],
      [
        'invalid callId in path',
        async () => {
          const r = await send(this.w, EP.pbxView, where, () => pbx.view('has space@pbx'));
          expectStatus(this.w, r, `${where}: path callId with a space`, 400, 'validation_failed');
        },
      ],
      [
        'ring timeout 4',
        async () => {
          const b = { ...fresh(), ringTimeoutSeconds: 4 };
          const r = await send(this.w, EP.ring, where, () => pbx.ring(b));
          if (expectStatus(this.w, r, `${where}: ringTimeoutSeconds 4`, 400, 'validation_failed')) refused(b);
        },
      ],
      [
        'fcm device',
        async () => {
          const b = { ...fresh(), devices: [{ pnProvider: 'fcm', pnPrid: newPushToken(), pnParam: 'x' }] };
          const r = await send(this.w, EP.ring, where, () => pbx.ring(b));
          if (expectStatus(this.w, r, `${where}: pnProvider fcm`, 400, 'validation_failed')) refused(b);
        },
      ],
      [
        'no target',
        async () => {
          const b = { callId: this.newCallId(), from: { number: '+15550001111' } };
          const r = await send(this.w, EP.ring, where, () => pbx.ring(b));
          if (expectStatus(this.w, r, `${where}: no target`, 400, 'validation_failed')) refused(b);
        },
      ],
      [
        'bad cancel reason',
        async () => {
          const callId = this.newCallId();
          const r = await send(this.w, EP.cancel, where, () =>
            pbx.send('POST', `/v1/pbx/calls/${encodeURIComponent(callId)}/cancel`, { reason: 'bored' }),
          );
          if (expectStatus(this.w, r, `${where}: cancel reason bored`, 400, 'validation_failed'))
            this.w.rejected.push({
              tenantId: this.w.tenantA,
              callId,
              label: `${where}: cancel reason bored (no tombstone)`,
            });
        },
      ],
      [
        'bad userId',
        async () => {
          const r = await send(this.w, EP.putDevice, where, () =>
            pbx.putDevice('bad!user', 'd1', {
              platform: 'ios',
              pushToken: newPushToken(),
              bundleId: BUNDLE,
              environment: 'sandbox',
            }),
          );
          expectStatus(this.w, r, `${where}: userId bad!user`, 400, 'validation_failed');
        },
      ],
      [
        'short token',
        async () => {
          const r = await send(this.w, EP.putDevice, where, () =>
            pbx.putDevice(this.userWithDevices(), this.uid('d'), {
              platform: 'ios',
              pushToken: 'abcd',
              bundleId: BUNDLE,
              environment: 'sandbox',
            }),
          );
          expectStatus(this.w, r, `${where}: short push token`, 400, 'validation_failed');
        },
      ],
      [
        'unknown call',
        async () => {
          const r = await send(this.w, EP.pbxView, where, () => pbx.view(this.newCallId()));
          expectStatus(this.w, r, `${where}: unknown call`, 404, 'call_not_found');
        },
      ],
      [
        'no route',
        async () => {
          const r = await send(this.w, EP.other, where, () => pbx.send('GET', '/v1/pbx/nothing-here'));
          expectStatus(this.w, r, `${where}: no such route`, 404, 'not_found');
        },
      ],
      [
        'wrong method',
        async () => {
          const r = await send(this.w, EP.other, where, () =>
            pbx.send('DELETE', `/v1/pbx/calls/${encodeURIComponent(this.newCallId())}`),
          );
          expectStatus(this.w, r, `${where}: DELETE a call`, 405, 'method_not_allowed');
        },
      ],
      [
        'app without token',
        async () => {
          const r = await send(this.w, EP.appView, where, () =>
            this.w.app.send('GET', `/v1/app/calls/${encodeURIComponent(this.newCallId())}`, undefined),
          );
          expectStatus(this.w, r, `${where}: app without token`, 401, 'invalid_token');
        },
      ],
      [
        'app forged token',
        async () => {
          const r = await send(this.w, EP.answer, where, () =>
            this.w.app.answer(this.newCallId(), 'v1.' + 'A'.repeat(60)),
          );
          expectStatus(this.w, r, `${where}: forged token`, 401, 'invalid_token');
        },
      ],
      [
        'app tampered token / other call',
        async () => {
          const donor = this.recent.flatMap((c) => this.sent(c).map((d) => ({ c, t: d.callToken! }))).at(-1);
          if (!donor) return;
          const t = donor.t;
          // A character inside the signed payload (cw1.<tag>.<payload>.<mac>), so the MAC no longer fits.
          const tampered = t.slice(0, 14) + (t[14] === 'A' ? 'B' : 'A') + t.slice(15);
          const r1 = await send(this.w, EP.answer, where, () => this.w.app.answer(donor.c.callId, tampered));
          expectStatus(this.w, r1, `${where}: tampered token`, 401, 'invalid_token');
          const r2 = await send(this.w, EP.answer, where, () => this.w.app.answer(this.newCallId(), t));
          expectStatus(this.w, r2, `${where}: token for another call`, 403, 'token_scope');
        },
      ],
    ];
    for (const [name, run] of shuffle(cases).slice(0, between(2, 4))) {
      this.w.rec.tick(`bad request: ${name}`);
      await run();
    }
  }
}
