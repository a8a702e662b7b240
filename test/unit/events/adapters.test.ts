import { PublishBatchCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from '@jest/globals';
import type { DynamoDBRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { SnsPublisher } from '../../../functions/adapters/sns-publisher.js';
import { SqsCallbackQueue, SqsRingTimers } from '../../../functions/adapters/sqs-queues.js';
import { changesOfRecords } from '../../../functions/adapters/stream-changes.js';
import { eventsOfCallChange } from '../../../functions/core/events.js';
import { createEventsHandler, type EventsFunctionDeps } from '../../../functions/events/events.js';
import { VirtualClock } from '../../support/fakes/clock.js';
import { FakeDeviceStore } from '../../support/fakes/device-store.js';
import { CapturedLog } from '../../support/fakes/log.js';
import { FakePusher } from '../../support/fakes/pusher.js';

/**
 * The events path's adapters. SNS and SQS have no local stand-in, so their clients are the SDK's
 * own with a mocked transport (aws-sdk-client-mock): what is checked is the request each adapter
 * builds and how it treats the service's answer. The CDK tests check the wiring.
 */

const image = (item: Record<string, unknown>) =>
  marshall(item, { removeUndefinedValues: true }) as NonNullable<DynamoDBRecord['dynamodb']>['NewImage'];
const record = (eventName: 'INSERT' | 'MODIFY' | 'REMOVE', after?: object, before?: object): DynamoDBRecord => ({
  eventName,
  dynamodb: {
    ...(after ? { NewImage: image({ ...after }) } : {}),
    ...(before ? { OldImage: image({ ...before }) } : {}),
  },
});
const callItem = (over: Record<string, unknown> = {}) => ({
  pk: 'CALL#uuid-1',
  sk: 'CALL',
  ttl: 99,
  tenantId: 'acme',
  callId: 'c1@pbx',
  callUuid: 'uuid-1',
  status: 'ringing',
  tombstone: false,
  createdAt: 1000,
  expiresAt: 61000,
  lifetimeEnd: 3661000,
  caller: { number: '+1555' },
  hasVideo: false,
  metadataJson: '{"constructor":"x"}',
  devices: { d0: { deviceId: 'p', pushType: 'voip', delivery: 'sent' } },
  ...over,
});

describe('stream records as changes', () => {
  it('reads call items before and after, with their metadata, and skips deletions and other items', () => {
    const { changes, unreadable } = changesOfRecords([
      record('INSERT', callItem()),
      record('MODIFY', callItem({ answerStatus: 'ringing' }), callItem()),
      record('REMOVE', undefined, callItem()),
      record('INSERT', { pk: 'APNSJWT#T#K', sk: 'TOKEN', token: 'x' }),
      record('INSERT', { pk: 'TENANT#acme', sk: 'WEBHOOK', url: 'https://x' }),
    ]);
    expect(unreadable).toEqual([]);
    expect(changes).toHaveLength(2);
    const [created, modified] = changes;
    expect(created).toMatchObject({
      kind: 'call',
      before: undefined,
      after: { callUuid: 'uuid-1', metadata: { constructor: 'x' } },
    });
    expect(modified).toMatchObject({ kind: 'call', before: { status: 'ringing' }, after: { answerStatus: 'ringing' } });
    expect(modified!.kind === 'call' && eventsOfCallChange(modified!.before, modified!.after)).toHaveLength(1);
  });

  it('turns a new prune entry on a user item into a prune record (and an unchanged one into nothing)', () => {
    const cause = { reason: 'Unregistered', callId: 'c1@pbx', callUuid: 'uuid-1', at: 5 };
    const before = { pk: 'USER#acme#ann', sk: 'DEVICES', devices: {}, version: 1 };
    const after = { ...before, version: 2, pruned: { 'ann-ipad': cause } };
    const { changes } = changesOfRecords([
      record('MODIFY', after, before),
      record('MODIFY', { ...after, version: 3 }, after),
    ]);
    expect(changes).toEqual([
      { kind: 'pruned', record: { tenantId: 'acme', userId: 'ann', deviceId: 'ann-ipad', ...cause } },
    ]);
  });

  it('a record that is not a change of ours is set aside, never thrown', () => {
    const junk: DynamoDBRecord[] = [
      { eventName: 'INSERT', dynamodb: {} },
      record('INSERT', { pk: 42, sk: 'x' }),
      record('MODIFY', { pk: 'USER#only-one-part', sk: 'DEVICES', pruned: { d: { at: 1 } } }),
    ];
    const { changes, unreadable } = changesOfRecords([...junk, record('INSERT', callItem())]);
    expect(unreadable).toEqual(junk);
    expect(changes).toHaveLength(1);
  });

  it('the events handler dead-letters unreadable records and goes on with the rest (never blocks the shard)', async () => {
    const deadLettered: unknown[] = [];
    const published: unknown[] = [];
    const deps: EventsFunctionDeps = {
      publisher: { publish: async (es) => void published.push(...es) },
      webhooks: { get: async () => undefined, put: async () => undefined, remove: async () => undefined },
      callbacks: { enqueue: async () => undefined, deadLetter: async () => undefined },
      ringTimers: { schedule: async () => undefined },
      alerts: {
        pusher: new FakePusher([], new VirtualClock()),
        devices: new FakeDeviceStore(),
        clock: new VirtualClock(),
        log: new CapturedLog(),
        pushDeadlineMs: 1000,
      },
      log: new CapturedLog(),
      unreadable: async (rs) => void deadLettered.push(...rs),
    };
    const junk: DynamoDBRecord = { eventName: 'MODIFY', dynamodb: {} };
    await createEventsHandler(async () => deps)({
      Records: [junk, record('MODIFY', callItem({ answerStatus: 'ringing', deliveredAt: 1 }), callItem())],
    });
    expect(deadLettered).toEqual([junk]);
    expect(published).toHaveLength(1);
  });
});

describe('SNS publisher', () => {
  const events = Array.from({ length: 12 }, (_, i) => ({
    ...eventsOfCallChange(undefined, { ...callItemCall(), answerStatus: 'ringing' })[0]!,
    tenantId: i % 2 ? 'acme' : 'globex',
  }));

  it('publishes every event in batches of 10, with tenantId and type as message attributes', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishBatchCommand).resolves({ Successful: [], Failed: [] });
    await new SnsPublisher(new SNSClient({ region: 'us-east-1' }), 'arn:aws:sns:us-east-1:1:events').publish(events);
    const calls = sns.commandCalls(PublishBatchCommand);
    expect(calls.map((c) => c.args[0].input.PublishBatchRequestEntries?.length)).toEqual([10, 2]);
    const first = calls[0]!.args[0].input;
    expect(first.TopicArn).toBe('arn:aws:sns:us-east-1:1:events');
    expect(first.PublishBatchRequestEntries![1]).toEqual({
      Id: '1',
      Message: JSON.stringify(events[1]),
      MessageAttributes: {
        tenantId: { DataType: 'String', StringValue: 'acme' },
        type: { DataType: 'String', StringValue: 'call.ringing' },
      },
    });
    sns.restore();
  });

  it('throws when SNS refuses an entry, so the batch is retried', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishBatchCommand).resolves({ Failed: [{ Id: '0', Code: 'Throttled', SenderFault: false }] });
    await expect(
      new SnsPublisher(new SNSClient({ region: 'us-east-1' }), 'arn:t').publish(events.slice(0, 1)),
    ).rejects.toThrow(/Throttled/);
    sns.restore();
  });
});

describe('SQS queues', () => {
  it('callback deliveries: one message each, delayed to the second (at most 15 minutes); dead letters apart', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    sqs.on(SendMessageCommand).resolves({});
    const q = new SqsCallbackQueue(new SQSClient({ region: 'us-east-1' }), 'https://q/callbacks', 'https://q/dlq');
    const d = { tenantId: 'acme', url: 'https://x', event: events0(), attempts: 2 };
    await q.enqueue([d, d], 1_500);
    await q.enqueue([d], 3_600_000);
    await q.deadLetter(d);
    const batches = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
    expect(batches[0]).toEqual({
      QueueUrl: 'https://q/callbacks',
      Entries: [
        { Id: '0', MessageBody: JSON.stringify(d), DelaySeconds: 2 },
        { Id: '1', MessageBody: JSON.stringify(d), DelaySeconds: 2 },
      ],
    });
    expect(batches[1]!.Entries![0]!.DelaySeconds).toBe(900);
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: 'https://q/dlq',
      MessageBody: JSON.stringify(d),
    });
    sqs.restore();
  });

  it('a ring timer is due a second before the ring end (SQS delays whole seconds and delivers late)', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({});
    const timers = new SqsRingTimers(new SQSClient({ region: 'us-east-1' }), 'https://q/timers', () => 10_000);
    await timers.schedule('uuid-1', 70_400);
    await timers.schedule('uuid-2', 10_300);
    const sent = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(sent).toEqual([
      {
        QueueUrl: 'https://q/timers',
        MessageBody: JSON.stringify({ callUuid: 'uuid-1', expiresAt: 70_400 }),
        DelaySeconds: 59,
      },
      {
        QueueUrl: 'https://q/timers',
        MessageBody: JSON.stringify({ callUuid: 'uuid-2', expiresAt: 10_300 }),
        DelaySeconds: 0,
      },
    ]);
    sqs.restore();
  });
});

function callItemCall() {
  const { pk: _pk, sk: _sk, ttl: _ttl, metadataJson: _m, ...rest } = callItem();
  return rest as unknown as Parameters<typeof eventsOfCallChange>[1];
}
function events0() {
  return eventsOfCallChange(undefined, { ...callItemCall(), answerStatus: 'ringing' })[0]!;
}
