import { describeExpireRing } from '../../support/checks/expire-ring.js';
import { fakeWorld } from '../../support/fakes/world.js';

describeExpireRing('in memory', fakeWorld);
