/**
 * One virtual worker: a PBX with its own users and their phones. It runs the scenarios of
 * load/scenarios/ one after the other until the run's end, picked by weight, and keeps a model of
 * everything it touched: its users' device registries and every call it made.
 */
import type { PbxClient } from '../local/clients.js';
import { DeliveryExpectations } from './delivery-expectations.js';
import type { CallModel } from './model.js';
import { addDevice, MAX_REGISTERED, type RegisteredDevice } from './registry.js';
import { apnsFaults } from './scenarios/apns-faults.js';
import { badRequests } from './scenarios/bad-requests.js';
import { cancelBeforeCreate } from './scenarios/cancel-before-create.js';
import { otherTenant } from './scenarios/other-tenant.js';
import { pbxCancels } from './scenarios/pbx-cancels.js';
import { registryChurn } from './scenarios/registry-churn.js';
import { retriedWebhook } from './scenarios/retried-webhook.js';
import { ringAndPhones } from './scenarios/ring-and-phones.js';
import { ringTimeout } from './scenarios/ring-timeout.js';
import { between, pick, weighted } from './util.js';
import type { World } from './world.js';

const USERS_PER_WORKER = 3;
/** Scenarios that reuse a recent call look this far back. */
const RECENT_CALLS = 20;

type Scenario = (wk: Worker) => Promise<void>;

const SCENARIOS: [number, [string, Scenario]][] = [
  [40, ['ring-and-phones', ringAndPhones]],
  [12, ['pbx-cancels', pbxCancels]],
  [10, ['retried-webhook', retriedWebhook]],
  [4, ['cancel-before-create', cancelBeforeCreate]],
  [8, ['bad-requests', badRequests]],
  [8, ['registry-churn', registryChurn]],
  [7, ['apns-faults', apnsFaults]],
  [2, ['ring-timeout', ringTimeout]],
  [2, ['other-tenant', otherTenant]],
];

export class Worker {
  /** Each user's registered devices, by deviceId: what the registry must hold. */
  readonly users = new Map<string, Map<string, RegisteredDevice>>();
  readonly deliveries = new DeliveryExpectations();
  /** The worker's latest calls, for scenarios that reuse one (a call token, a callId). */
  readonly recent: CallModel[] = [];
  /** Tenant A callIds tenant B has already used for its own call. */
  readonly reusedByB = new Set<string>();
  private seq = 0;

  constructor(
    readonly w: World,
    readonly id: number,
  ) {}

  /** An id no other request of the run uses. */
  uid(prefix: string) {
    return `${prefix}-w${this.id}-${this.seq++}`;
  }

  /** Tenant A's client with either of its secrets: both must verify. */
  pbx(): PbxClient {
    return pick(this.w.pbxA);
  }

  /** Every call goes to the final check; the latest few stay at hand. */
  remember(m: CallModel) {
    this.w.calls.push(m);
    this.recent.push(m);
    if (this.recent.length > RECENT_CALLS) this.recent.shift();
  }

  async setup() {
    for (let u = 0; u < USERS_PER_WORKER; u++) {
      const userId = `user-w${this.id}-${u}@tenant-a`;
      this.users.set(userId, new Map());
      for (let n = between(1, MAX_REGISTERED); n > 0; n--) await addDevice(this, userId, 'setup');
    }
  }

  async run() {
    while (Date.now() < this.w.endAt && this.w.rings < this.w.maxRings) {
      const [name, scenario] = weighted(SCENARIOS);
      this.w.rec.tick(`scenario ${name}`);
      try {
        await scenario(this);
      } catch (e) {
        this.w.rec.error('generator', `w${this.id} ${name}`, (e as Error).stack ?? String(e));
      }
    }
  }
}
