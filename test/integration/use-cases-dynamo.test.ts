import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from '@jest/globals';
import { DynamoCallStore } from '../../functions/adapters/dynamo-call-store.js';
import { DynamoDeviceStore } from '../../functions/adapters/dynamo-device-store.js';
import { documentClient, ensureTable } from '../../functions/adapters/dynamo-table.js';
import { describeAppCalls } from '../support/checks/app-calls.js';
import { describeCancelAndView } from '../support/checks/cancel-call.js';
import { describeDevices } from '../support/checks/devices.js';
import { describeExpireRing } from '../support/checks/expire-ring.js';
import { describeRingCall } from '../support/checks/ring-call.js';
import { worldOn } from '../support/fakes/world.js';

/**
 * The use-case checks of the unit tier (test/unit/use-cases), on the DynamoDB adapters and
 * DynamoDB Local instead of the in-memory fakes: the same rules, the real conditional writes.
 * APNs and time stay fake (the fake pusher, the virtual clock).
 */
const doc = documentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! });
const table = `use-cases-${randomUUID()}`;
beforeAll(() => ensureTable(doc, table));
afterAll(() => doc.destroy());

const dynamoWorld = worldOn((clock) => ({
  calls: new DynamoCallStore(doc, table, clock),
  devices: new DynamoDeviceStore(doc, table),
}));

describeRingCall('DynamoDB', dynamoWorld);
describeCancelAndView('DynamoDB', dynamoWorld);
describeAppCalls('DynamoDB', dynamoWorld);
describeDevices('DynamoDB', dynamoWorld);
describeExpireRing('DynamoDB', dynamoWorld);
