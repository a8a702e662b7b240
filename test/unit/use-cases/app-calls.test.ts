import { describeAppCalls } from '../../support/checks/app-calls.js';
import { fakeWorld } from '../../support/fakes/world.js';

describeAppCalls('in memory', fakeWorld);
