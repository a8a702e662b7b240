import { describeCancelAndView } from '../../support/checks/cancel-call.js';
import { fakeWorld } from '../../support/fakes/world.js';

describeCancelAndView('in memory', fakeWorld);
