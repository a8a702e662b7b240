import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DynamoCallStore } from '../../functions/adapters/dynamo-call-store.js';
import { documentClient } from '../../functions/adapters/dynamo-table.js';
import { type Call, slotName } from '../../functions/core/call.js';
import { hashOfJson } from '../../functions/core/canonical-json.js';
import { callUuidOf } from '../../functions/core/ids.js';
import { CALL_GRACE_MS } from '../../functions/core/ring-call.js';
import { ringSchema } from '../../functions/pbx-api/schemas.js';
import { newToken, uniqueCallId, VOIP_PARAM } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Crashes a real component cannot be made to do on cue are staged by writing the state they leave
 * behind straight into DynamoDB Local, then driving the API as usual.
 */
let t: TestStack;
let store: DynamoCallStore;
const doc = documentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! });
beforeAll(async () => {
  t = await startTestStack({ pushDeadlineMs: 1000 });
  store = new DynamoCallStore(doc, t.tableName, t.clock);
});
afterAll(async () => {
  await t?.stop();
  doc.destroy();
});

const ringingCall = (callId: string, body: unknown): Call => {
  const now = t.clock.now();
  return {
    tenantId: 'acme',
    callId,
    callUuid: callUuidOf('acme', callId),
    status: 'ringing',
    tombstone: false,
    createdAt: now,
    expiresAt: now + 60_000,
    lifetimeEnd: now + 60_000 + CALL_GRACE_MS,
    requestHash: hashOfJson(ringSchema.parse(body)),
    caller: { number: '+15550001111' },
    hasVideo: false,
    metadata: {},
    devices: { [slotName(0)]: { deviceId: 'inline-x', pushType: 'voip', delivery: 'pending' } },
  };
};

describe('a create that died between storing the call and recording its pushes', () => {
  it('is settled by the retry: 200 unreachable, the device failed, and an app sees the call ended', async () => {
    const callId = uniqueCallId();
    const body = {
      callId,
      from: { number: '+15550001111' },
      devices: [{ pnProvider: 'apns', pnPrid: newToken(), pnParam: VOIP_PARAM }],
    };
    expect((await store.create(ringingCall(callId, body))).created).toBe(true);

    const retry = await t.pbx.ring(body);
    expect(retry.status).toBe(200);
    expect(retry.body.status).toBe('unreachable');
    expect(retry.body.deliveries).toEqual([expect.objectContaining({ result: 'failed', reason: 'Timeout' })]);
    expect(retry.ms).toBeLessThan(1000 + 500 + 1000);
    expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'unreachable', endReason: 'failed' });
    expect((await t.pbx.ring(body)).body).toEqual(retry.body);
  });
});

describe('a push given up on that reached a phone after all', () => {
  it('reports ringing, not unreachable, when the phone answered before the results were recorded', async () => {
    const callId = uniqueCallId();
    const call = ringingCall(callId, { callId, from: { number: '+15550001111' }, to: { userId: 'nobody' } });
    await store.create(call);
    expect((await store.answer(call.callUuid, 'd0', t.clock.now())).outcome).toBe('changed');
    const recorded = await store.recordDeliveries(
      call.callUuid,
      { d0: { delivery: 'failed', reason: 'Timeout' } },
      'unreachable',
      t.clock.now(),
    );
    expect(recorded).toMatchObject({ status: 'answered', answerStatus: 'ringing' });
  });
});
