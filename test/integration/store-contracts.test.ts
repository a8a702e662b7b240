import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from '@jest/globals';
import { DynamoCallStore } from '../../functions/adapters/dynamo-call-store.js';
import { DynamoDeviceStore } from '../../functions/adapters/dynamo-device-store.js';
import { documentClient, ensureTable } from '../../functions/adapters/dynamo-table.js';
import { describeCallStoreContract } from '../support/checks/call-store.js';
import { describeDeviceStoreContract } from '../support/checks/device-store.js';

/** The DynamoDB adapters on DynamoDB Local, held to the same checks as the unit tier's fakes (test/unit/fakes). */
const doc = documentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! });
const table = `contracts-${randomUUID()}`;
beforeAll(() => ensureTable(doc, table));
afterAll(() => doc.destroy());

describeCallStoreContract('DynamoCallStore', (clock) => new DynamoCallStore(doc, table, clock));
describeDeviceStoreContract('DynamoDeviceStore', () => new DynamoDeviceStore(doc, table));
