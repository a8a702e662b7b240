import { afterAll, beforeAll } from '@jest/globals';
import { ProviderTokens, teamKeyOf } from '../../functions/adapters/apns-jwt.js';
import { ApnsPusher } from '../../functions/adapters/apns-pusher.js';
import { realTimer } from '../../functions/core/clock.js';
import { silentLog } from '../../functions/core/ports.js';
import { ApnsSimulator, createSimulatorKey } from '../../local/apns-simulator/index.js';
import { describePusherContract } from '../support/checks/pusher.js';

/** ApnsPusher over real sockets to the simulator, held to the outcomes the unit tier's FakePusher gives. */
const key = createSimulatorKey('CONTRACT01', 'CONTRACTK1');
let sim: ApnsSimulator;
let pusher: ApnsPusher;

beforeAll(async () => {
  sim = await ApnsSimulator.start();
  sim.trustKey(key.teamId, key.keyId, key.publicKey);
  const tokens = new ProviderTokens(new Map([[key.teamId, teamKeyOf(key.teamId, key.keyId, key.privateKeyPem)]]), {
    now: Date.now,
  });
  pusher = new ApnsPusher({ tokens, hostOverride: sim.address, ca: sim.caPem, log: silentLog });
});
afterAll(async () => {
  pusher?.close();
  await sim?.stop();
});

describePusherContract('ApnsPusher against the APNs simulator', key.teamId, () => ({
  pusher,
  timer: realTimer,
  slackMs: 100,
  arrange(token, b) {
    if (b.kind === 'refuse') sim.injectFault({ token, status: b.status, reason: b.reason, times: 1000 });
    else if (b.kind === 'never-answer') sim.injectFault({ token, delayMs: 30_000, times: 1000 });
  },
  received: (token) => sim.pushesFor(token).length,
}));
