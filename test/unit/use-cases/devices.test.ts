import { describeDevices } from '../../support/checks/devices.js';
import { fakeWorld } from '../../support/fakes/world.js';

describeDevices('in memory', fakeWorld);
