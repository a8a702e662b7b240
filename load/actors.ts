/** The actors scenarios put on a call: its woken phones, and actors making requests one after another. */
import { CANCEL_REASONS, type CallModel, type Op } from './model.js';
import type { Actor } from './phase.js';
import { chance, pick, rand, sleep } from './util.js';

export type Role = 'answer' | 'decline' | 'none';

/** The devices that got a push, and so hold a call token. */
export const sentDevices = (m: CallModel) => m.devices.filter((d) => d.callToken !== undefined);

/** The phones: each confirms (most do), then answers or declines as its role says. */
export function phones(m: CallModel, roles: Map<string, Role>): Actor[] {
  return sentDevices(m).map((d) => async (ex) => {
    await sleep(rand(15));
    if (chance(0.9)) await ex({ kind: 'confirm', deviceId: d.deviceId });
    if (chance(0.1)) await ex({ kind: 'appView', deviceId: d.deviceId });
    const role = roles.get(d.deviceId) ?? 'none';
    if (role !== 'none') {
      await sleep(rand(30));
      await ex({ kind: role, deviceId: d.deviceId });
    }
  });
}

/** Roles where the first sent device answers and the others only confirm. */
export const firstAnswers = (m: CallModel): Map<string, Role> =>
  new Map(
    sentDevices(m)
      .slice(0, 1)
      .map((d) => [d.deviceId, 'answer'] as const),
  );

/** One actor making these requests in order. */
export const inOrder =
  (ops: Op[]): Actor =>
  async (ex) => {
    for (const op of ops) await ex(op);
  };

/** A cancel with any reason; the default reason sometimes spelled as no body, `{}` or `null`. */
export function cancelOp(): Op {
  const reason = pick(CANCEL_REASONS);
  if (reason === 'caller_hangup' && chance(0.5))
    return { kind: 'cancel', reason, spelling: pick(['none', 'empty', 'null'] as const) };
  return { kind: 'cancel', reason };
}
