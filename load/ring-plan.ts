/** Ring bodies as PBXs send them, and which devices each must reach with what result. */
import { inlineDeviceIdOf } from '../functions/core/ids.js';
import { BUNDLE, OTHER_TEAM } from './apps.js';
import type { Expectation } from './delivery-expectations.js';
import { userWithDevices } from './registry.js';
import { between, chance, newPushToken, pick, rand, weighted } from './util.js';
import type { Caller, InlineDevice, RingBody } from './wire.js';
import type { Worker } from './worker.js';

/** A device the ring must push to, and what its push should come to. */
export interface Target {
  deviceId: string;
  token: string;
  pushType: 'voip' | 'alert';
  expected: Expectation;
  /** The user it is registered to (not for inline devices). */
  registeredTo?: string;
}

export interface RingPlan {
  body: RingBody;
  targets: Target[];
}

/** A SIP-like Call-ID; some use the rarer printable characters the contract allows. */
export function newCallId(wk: Worker): string {
  const base = `${wk.uid('c')}-${Math.random().toString(36).slice(2, 10)}`;
  if (chance(0.8)) return `${base}@pbx${wk.id}.example.com`;
  return `${base}${pick(["!$&'()*+,;=", '%41%zz', ':[::1]:5060', '~^`|{}', '"<sip:x>"', '\\.@.'])}@pbx.example.com`;
}

/** A ring timeout: short, long, or left to the default. */
export function pickTimeout(): number | undefined {
  return weighted<number | undefined>([
    [2, undefined],
    [2, between(5, 10)],
    [8, between(11, 300)],
  ]);
}

function caller(): Caller {
  const name = weighted<string | undefined>([
    [3, undefined],
    [5, pick(['Bob Smith', 'Reception', 'Zoë Ångström', '山田 太郎', 'Front Desk (ext. 12)'])],
    [1, '☎️'.repeat(between(250, 300))],
  ]);
  const number = `+1555${between(1000000, 9999999)}`;
  return weighted<Caller>([
    [6, { number, ...(name ? { displayName: name } : {}) }],
    [2, { number, uri: `sip:${number}@pbx.example.com`, ...(name ? { displayName: name } : {}) }],
    [1, { uri: `sip:reception@pbx.example.com`, ...(name ? { displayName: name } : {}) }],
  ]);
}

export function planRing(
  wk: Worker,
  o: { userId?: string; inline?: InlineDevice[]; timeout?: number | undefined },
): RingPlan {
  const body: RingBody = {
    callId: newCallId(wk),
    from: caller(),
    ...(o.userId ? { to: { userId: o.userId } } : {}),
    ...(o.inline?.length ? { devices: o.inline.map((d) => ({ pnProvider: 'apns' as const, ...d })) } : {}),
    ...(o.timeout === undefined ? {} : { ringTimeoutSeconds: o.timeout }),
    ...(chance(0.2) ? { hasVideo: chance(0.5) } : {}),
    ...(chance(0.4)
      ? { metadata: { registrar: `sip:pbx${wk.id}.example.com;transport=tls`, line: String(rand(9)) } }
      : {}),
  };
  const targets: Target[] = [];
  const seen = new Set<string>();
  if (o.userId) {
    for (const r of wk.users.get(o.userId)!.values()) {
      seen.add(r.token);
      targets.push({
        deviceId: r.deviceId,
        token: r.token,
        pushType: r.pushType,
        expected: wk.deliveries.of(r.token),
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
      team === wk.w.team ? wk.deliveries.of(token) : { result: 'failed', reason: 'UnknownTeam' };
    targets.push({ deviceId: inlineDeviceIdOf(token), token, pushType, expected });
  }
  return { body, targets };
}

/** Inline devices: new VoIP or alert phones, an unconfigured team, or one of the user's registered phones. */
export function inlineDevices(wk: Worker, n: number, userId?: string): InlineDevice[] {
  const out: InlineDevice[] = [];
  const registered = userId ? [...wk.users.get(userId)!.values()] : [];
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
        pnParam: `${wk.w.team}.${r.bundleId}${r.pushType === 'voip' ? '.voip' : ''}`,
      });
    } else {
      const team = kind === 'unknown-team' ? OTHER_TEAM : wk.w.team;
      out.push({ pnPrid: newPushToken(chance(0.3)), pnParam: `${team}.${BUNDLE}${kind === 'alert' ? '' : '.voip'}` });
    }
  }
  return out;
}

/** A typical ring: one of the worker's users, sometimes with inline devices too, or inline only. */
export function typicalPlan(wk: Worker, timeout = pickTimeout()): RingPlan {
  if (chance(0.1)) return planRing(wk, { inline: inlineDevices(wk, between(1, 3)), timeout });
  const userId = userWithDevices(wk);
  return planRing(wk, { userId, inline: chance(0.2) ? inlineDevices(wk, between(1, 2), userId) : [], timeout });
}
