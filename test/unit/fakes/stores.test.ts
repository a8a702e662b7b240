import { describeCallStoreContract } from '../../support/checks/call-store.js';
import { describeDeviceStoreContract } from '../../support/checks/device-store.js';
import { FakeCallStore } from '../../support/fakes/call-store.js';
import { FakeDeviceStore } from '../../support/fakes/device-store.js';

/** The fakes the use-case tests run on, held to the checks DynamoDB's adapters pass (test/integration/store-contracts.test.ts). */
describeCallStoreContract('FakeCallStore', (clock) => new FakeCallStore(clock));
describeDeviceStoreContract('FakeDeviceStore', () => new FakeDeviceStore());
