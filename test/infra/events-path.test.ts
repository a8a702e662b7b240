/**
 * The events path of the default deployment: the table's stream into the events function, the
 * events topic, the callback and ring-timer queues into their functions, the dead-letter queues
 * and their alarms, and exactly what each of the three functions may do. (Bundling is checked in
 * callwake-stack.test.ts; these look at the template only.)
 */
import {
  callKey,
  PARTITION_KEY,
  providerTokenKey,
  pushTokenOwnerKey,
  SORT_KEY,
  STREAM_VIEW_TYPE,
  userKey,
  webhookKey,
} from '../../functions/adapters/table-layout.js';
import { CALLBACK_RETRY } from '../../functions/core/deliver-callback.js';
import {
  type CfnResource,
  FUNCTION_NAMES,
  type FunctionName,
  type Json,
  lambdaFunction,
  onlyResource,
  permissionLines,
  referencedId,
  resourceIdAt,
  resourcesOf,
  roleOfFunction,
  type Synthesized,
  synthCallwake,
} from './support.js';

let s: Synthesized;
beforeAll(() => {
  s = synthCallwake({ bundle: false });
});

const queueId = (id: string): string => resourceIdAt(s.template, 'AWS::SQS::Queue', `${id}/Resource`);
const queue = (id: string): CfnResource => resourcesOf(s.template, 'AWS::SQS::Queue')[queueId(id)] as CfnResource;
const fn = (name: FunctionName): CfnResource => lambdaFunction(s.template, name)[1];
const timeoutOf = (name: FunctionName): number => Number(fn(name).Properties?.['Timeout']);
const tableId = (): string => onlyResource(s.template, 'AWS::DynamoDB::Table')[0];
const topicId = (): string => resourceIdAt(s.template, 'AWS::SNS::Topic', 'EventsTopic/Resource');

/** The event source mappings of one function. */
const mappingsOf = (name: FunctionName): CfnResource[] => {
  const fnId = lambdaFunction(s.template, name)[0];
  return Object.values(resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping')).filter(
    (m) => referencedId(m.Properties?.['FunctionName']) === fnId,
  );
};
const onlyMappingOf = (name: FunctionName): Record<string, Json> => {
  const mappings = mappingsOf(name);
  expect(mappings).toHaveLength(1);
  return (mappings[0] as CfnResource).Properties ?? {};
};

/** The statements of the resource policies of `type` that apply to `id` (listed under `listKey`). */
const resourcePolicyStatements = (type: string, listKey: 'Topics' | 'Queues', id: string): Record<string, Json>[] =>
  Object.values(resourcesOf(s.template, type)).flatMap((policy) => {
    const props = policy.Properties ?? {};
    if (!((props[listKey] ?? []) as Json[]).some((target) => referencedId(target) === id)) return [];
    return (props['PolicyDocument'] as { Statement: Record<string, Json>[] }).Statement;
  });

const DEAD_LETTER_QUEUES = ['CallbackDeadLetterQueue', 'EventsDeadLetterQueue', 'RingTimerDeadLetterQueue'];
const ALL_QUEUES = ['CallbackQueue', 'RingTimerQueue', ...DEAD_LETTER_QUEUES];

describe("the table's stream", () => {
  it("carries the view type the events function reads (table-layout's)", () => {
    const table = onlyResource(s.template, 'AWS::DynamoDB::Table')[1];
    expect(STREAM_VIEW_TYPE).toBe('NEW_AND_OLD_IMAGES');
    expect(table.Properties?.['StreamSpecification']).toEqual({ StreamViewType: STREAM_VIEW_TYPE });
  });

  describe('into the events function', () => {
    let mapping: Record<string, Json>;
    beforeAll(() => {
      mapping = onlyMappingOf('events');
    });

    it("reads this table's stream, from the newest record on", () => {
      expect(mapping['EventSourceArn']).toEqual({ 'Fn::GetAtt': [tableId(), 'StreamArn'] });
      expect(mapping['StartingPosition']).toBe('LATEST');
    });

    it('retries a failing batch a bounded number of times, bisecting it, for a bounded time', () => {
      const retries = Number(mapping['MaximumRetryAttempts']);
      expect(retries).toBeGreaterThanOrEqual(1);
      expect(retries).toBeLessThanOrEqual(10); // -1 (the default) would retry until the record expires
      const maxAge = Number(mapping['MaximumRecordAgeInSeconds']);
      expect(maxAge).toBeGreaterThanOrEqual(60);
      expect(maxAge).toBeLessThan(24 * 60 * 60); // under the stream's retention, so it is what bounds
      expect(mapping['BisectBatchOnFunctionError']).toBe(true);
    });

    it('sends what still fails to the events dead-letter queue', () => {
      expect(mapping['DestinationConfig']).toEqual({
        OnFailure: { Destination: { 'Fn::GetAtt': [queueId('EventsDeadLetterQueue'), 'Arn'] } },
      });
    });

    it('fails whole batches: the handler throws, it reports no partial batch failures', () => {
      expect(mapping['FunctionResponseTypes']).toBeUndefined();
      expect(Number(mapping['BatchSize'])).toBeGreaterThanOrEqual(1);
      expect(Number(mapping['BatchSize'])).toBeLessThanOrEqual(100);
      expect(Number(mapping['MaximumBatchingWindowInSeconds'] ?? 0)).toBe(0);
      expect(mapping['ParallelizationFactor'] ?? 1).toBe(1); // one batch per shard at a time: in order
    });

    it('is invoked only for inserts and updates of call and user items', () => {
      const filters = (mapping['FilterCriteria'] as { Filters: { Pattern: string }[] }).Filters;
      const patterns = filters.map((f) => JSON.parse(f.Pattern) as Pattern);
      const invokes = (eventName: string, key: { pk: string; sk: string }): boolean =>
        patterns.some((p) =>
          matches(p, {
            eventName,
            dynamodb: { Keys: { [PARTITION_KEY]: { S: key.pk }, [SORT_KEY]: { S: key.sk } } },
          }),
        );
      const call = callKey('3f2c8e4a-5b1d-5c6e-9f70-8a1b2c3d4e5f');
      const user = userKey('acme', 'alice');
      for (const eventName of ['INSERT', 'MODIFY']) {
        expect([eventName, invokes(eventName, call), invokes(eventName, user)]).toEqual([eventName, true, true]);
        for (const other of [
          webhookKey('acme'),
          pushTokenOwnerKey('acme', 'a1b2c3'),
          providerTokenKey('TEAM123456', 'KEY1234567'),
        ]) {
          expect([eventName, other.pk, invokes(eventName, other)]).toEqual([eventName, other.pk, false]);
        }
      }
      // TTL deletions say nothing (the stream adapter ignores them): they never invoke it.
      expect(invokes('REMOVE', call)).toBe(false);
    });
  });
});

describe('the events topic', () => {
  it('is encrypted with KMS (the AWS managed key of SNS)', () => {
    const topic = resourcesOf(s.template, 'AWS::SNS::Topic')[topicId()] as CfnResource;
    expect(topic.Properties?.['KmsMasterKeyId']).toBe('alias/aws/sns');
  });

  it('refuses publishing without TLS', () => {
    const statements = resourcePolicyStatements('AWS::SNS::TopicPolicy', 'Topics', topicId());
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('is an output of the stack, and a member of the construct for an operator to subscribe to', () => {
    expect(s.template.findOutputs('EventsTopicArn')['EventsTopicArn']?.['Value']).toEqual({ Ref: topicId() });
    expect(s.stack.resolve(s.stack.callwake.eventsTopic.topicArn)).toEqual({ Ref: topicId() });
  });

  it('may be published to by the events function only, and the events function may publish nowhere else', () => {
    const publishers = Object.keys(resourcesOf(s.template, 'AWS::IAM::Role')).flatMap((roleId) =>
      permissionLines(s.template, roleId)
        .filter((line) => /^Allow sns:/i.test(line))
        .map((line) => `${roleId}: ${line}`),
    );
    const eventsRole = roleOfFunction(fn('events'));
    expect(publishers).toEqual([`${eventsRole}: Allow sns:Publish on ${topicId()}`]);
  });
});

describe('the queues', () => {
  it.each(ALL_QUEUES)('%s is encrypted at rest and refuses requests without TLS', (id) => {
    const props = queue(id).Properties ?? {};
    expect(props['SqsManagedSseEnabled'] === true || props['KmsMasterKeyId'] !== undefined).toBe(true);
    const statements = resourcePolicyStatements('AWS::SQS::QueuePolicy', 'Queues', queueId(id));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it.each([
    ['CallbackQueue', 'CallbackDeadLetterQueue'],
    ['RingTimerQueue', 'RingTimerDeadLetterQueue'],
  ])('%s redrives a message that keeps failing to %s', (id, deadLetters) => {
    const redrive = queue(id).Properties?.['RedrivePolicy'] as { deadLetterTargetArn: Json; maxReceiveCount: number };
    expect(redrive.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': [queueId(deadLetters), 'Arn'] });
    expect(redrive.maxReceiveCount).toBeGreaterThanOrEqual(3);
    expect(redrive.maxReceiveCount).toBeLessThanOrEqual(10);
  });

  it.each(DEAD_LETTER_QUEUES)('%s keeps its messages for 14 days and redrives nowhere', (id) => {
    expect(queue(id).Properties?.['MessageRetentionPeriod']).toBe(14 * 24 * 60 * 60);
    expect(queue(id).Properties?.['RedrivePolicy']).toBeUndefined();
  });

  it.each([
    ['CallbackQueue', 'callbacks'],
    ['RingTimerQueue', 'ring-timer'],
  ] as const)("%s hides a message in flight for at least 6 times %s's timeout", (id, consumer) => {
    const visibility = Number(queue(id).Properties?.['VisibilityTimeout']);
    expect(visibility).toBeGreaterThanOrEqual(6 * timeoutOf(consumer));
  });

  it.each([
    ['CallbackQueue', 'callbacks'],
    ['RingTimerQueue', 'ring-timer'],
  ] as const)('%s feeds %s at once, in batches of 10, reporting failed messages one by one', (id, consumer) => {
    const mapping = onlyMappingOf(consumer);
    expect(mapping['EventSourceArn']).toEqual({ 'Fn::GetAtt': [queueId(id), 'Arn'] });
    expect(mapping['BatchSize']).toBe(10);
    expect(Number(mapping['MaximumBatchingWindowInSeconds'] ?? 0)).toBe(0);
    expect(mapping['FunctionResponseTypes']).toEqual(['ReportBatchItemFailures']);
  });

  it("bounds the callbacks in flight, so hanging receivers cannot take the APIs' concurrency", () => {
    const scaling = onlyMappingOf('callbacks')['ScalingConfig'] as { MaximumConcurrency?: number } | undefined;
    expect(scaling?.MaximumConcurrency).toBeGreaterThanOrEqual(2);
    expect(scaling?.MaximumConcurrency).toBeLessThanOrEqual(100);
  });

  it('no other queue feeds a function, and nothing reads the dead-letter queues', () => {
    const sources = Object.values(resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping')).map((m) =>
      referencedId(m.Properties?.['EventSourceArn']),
    );
    expect(sources.sort()).toEqual([tableId(), queueId('CallbackQueue'), queueId('RingTimerQueue')].sort());
  });
});

describe('the dead-letter alarms', () => {
  const alarmsOn = (id: string): Record<string, Json>[] =>
    Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Alarm'))
      .map((a) => a.Properties ?? {})
      .filter((p) =>
        (p['Dimensions'] as { Name: string; Value: Json }[] | undefined)?.some(
          (d) =>
            d.Name === 'QueueName' &&
            JSON.stringify(d.Value) === JSON.stringify({ 'Fn::GetAtt': [queueId(id), 'QueueName'] }),
        ),
      );

  it('are one per dead-letter queue, and no other alarm watches a queue', () => {
    const onQueues = Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties?.['Namespace'] === 'AWS/SQS',
    );
    expect(onQueues).toHaveLength(DEAD_LETTER_QUEUES.length);
    for (const id of DEAD_LETTER_QUEUES) expect([id, alarmsOn(id).length]).toEqual([id, 1]);
  });

  it.each(DEAD_LETTER_QUEUES)('%s: in alarm as soon as one message is visible in it', (id) => {
    const alarm = alarmsOn(id)[0] ?? {};
    expect(alarm).toEqual(
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      }),
    );
    expect(['Maximum', 'Sum']).toContain(alarm['Statistic']);
    expect(Number(alarm['Period'])).toBeLessThanOrEqual(300);
  });

  it('are members of the construct, as are the dead-letter queues', () => {
    const c = s.stack.callwake;
    const alarmQueue = (alarm: typeof c.deadLetterAlarms.callbacks) =>
      s.stack.resolve((alarm.node.defaultChild as { dimensions?: unknown }).dimensions);
    expect(alarmQueue(c.deadLetterAlarms.callbacks)).toEqual([
      { name: 'QueueName', value: { 'Fn::GetAtt': [queueId('CallbackDeadLetterQueue'), 'QueueName'] } },
    ]);
    expect(alarmQueue(c.deadLetterAlarms.events)).toEqual([
      { name: 'QueueName', value: { 'Fn::GetAtt': [queueId('EventsDeadLetterQueue'), 'QueueName'] } },
    ]);
    expect(alarmQueue(c.deadLetterAlarms.ringTimers)).toEqual([
      { name: 'QueueName', value: { 'Fn::GetAtt': [queueId('RingTimerDeadLetterQueue'), 'QueueName'] } },
    ]);
  });

  it('the dead-letter queues are outputs of the stack', () => {
    for (const [output, id] of [
      ['CallbackDeadLetterQueueUrl', 'CallbackDeadLetterQueue'],
      ['EventsDeadLetterQueueUrl', 'EventsDeadLetterQueue'],
      ['RingTimerDeadLetterQueueUrl', 'RingTimerDeadLetterQueue'],
    ] as const) {
      expect(s.template.findOutputs(output)[output]?.['Value']).toEqual({ Ref: queueId(id) });
    }
  });
});

describe('the events path functions', () => {
  it('callbacks outlives an attempt, its quick retry and a second attempt, with room to queue the next', () => {
    const attemptsMs = 2 * CALLBACK_RETRY.attemptTimeoutMs + CALLBACK_RETRY.firstRetryMs;
    expect(timeoutOf('callbacks') * 1000).toBeGreaterThanOrEqual(attemptsMs + 5000);
  });

  it('ring-timer outlives its wait for the ring end (up to ~2 s) and the write that marks it', () => {
    expect(timeoutOf('ring-timer')).toBeGreaterThanOrEqual(2 + 3);
  });

  it('events has time for a full batch of sends', () => {
    expect(timeoutOf('events')).toBeGreaterThanOrEqual(10);
  });

  it.each(['callbacks', 'ring-timer'] as const)('%s has the house memory for I/O-bound work', (name) => {
    expect(fn(name).Properties?.['MemorySize']).toBe(256);
  });

  it("outputs the events function's name, to recycle it after the APNs keys change", () => {
    expect(s.template.findOutputs('EventsFunctionName')['EventsFunctionName']?.['Value']).toEqual({
      Ref: lambdaFunction(s.template, 'events')[0],
    });
  });

  it('events has more, as pbx-api: it signs provider tokens and opens TLS to APNs for the end-of-call alerts', () => {
    expect(fn('events').Properties?.['MemorySize']).toBe(512);
  });
});

describe('least privilege on the events path', () => {
  /** Readable names for the resources a role's lines name. */
  const names = (): Record<string, string> => ({
    [tableId()]: 'table',
    [topicId()]: 'topic',
    [queueId('CallbackQueue')]: 'callbackQueue',
    [queueId('CallbackDeadLetterQueue')]: 'callbackDLQ',
    [queueId('RingTimerQueue')]: 'ringTimerQueue',
    [queueId('EventsDeadLetterQueue')]: 'eventsDLQ',
    ...Object.fromEntries(
      Object.entries(resourcesOf(s.template, 'AWS::SecretsManager::Secret')).map(([id, r]) => [
        id,
        String(r.Properties?.['Name']),
      ]),
    ),
    ...Object.fromEntries(
      FUNCTION_NAMES.map((name) => [
        String(
          referencedId((fn(name).Properties?.['LoggingConfig'] as Record<string, Json> | undefined)?.['LogGroup']),
        ),
        `${name}Logs`,
      ]),
    ),
  });
  const linesOf = (name: FunctionName): string[] => permissionLines(s.template, roleOfFunction(fn(name)), names());
  const _onlyItemsUnder = (...prefixes: string[]): string =>
    JSON.stringify({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes.map((p) => `${p}*`) } });
  const consume = (queueName: string): string[] =>
    [
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
    ].map((a) => `Allow ${a} on ${queueName}.Arn`);

  it('events: its stream, the items its stores touch, the APNs keys, the topic, its queues and its DLQ', () => {
    expect(linesOf('events')).toEqual(
      [
        'Allow logs:CreateLogStream on eventsLogs.Arn',
        'Allow logs:PutLogEvents on eventsLogs.Arn',
        'Allow dynamodb:ListStreams on *',
        'Allow dynamodb:DescribeStream on table.StreamArn',
        'Allow dynamodb:GetRecords on table.StreamArn',
        'Allow dynamodb:GetShardIterator on table.StreamArn',
        // the items (webhooks, users, the provider token, ringing slots) and attributes: table-access.test.ts
        ...linesOf('events').filter((l) => / on table\.Arn /.test(l)),
        'Allow secretsmanager:DescribeSecret on Callwake/apns-keys',
        'Allow secretsmanager:GetSecretValue on Callwake/apns-keys',
        'Allow sns:Publish on topic',
        'Allow sqs:SendMessage on callbackQueue.Arn',
        'Allow sqs:SendMessage on ringTimerQueue.Arn',
        'Allow sqs:SendMessage on eventsDLQ.Arn',
      ].sort(),
    );
  });

  it('callbacks: consume its queue, send to it (retries) and its DLQ, read the tenant secrets', () => {
    expect(linesOf('callbacks')).toEqual(
      [
        'Allow logs:CreateLogStream on callbacksLogs.Arn',
        'Allow logs:PutLogEvents on callbacksLogs.Arn',
        ...consume('callbackQueue'),
        'Allow sqs:SendMessage on callbackQueue.Arn',
        'Allow sqs:SendMessage on callbackDLQ.Arn',
        'Allow secretsmanager:DescribeSecret on Callwake/tenant-secrets',
        'Allow secretsmanager:GetSecretValue on Callwake/tenant-secrets',
      ].sort(),
    );
  });

  it('ring-timer: consume its queue, read and update call items (which, and naming what: table-access.test.ts)', () => {
    const lines = linesOf('ring-timer');
    const onTable = (l: string) =>
      l.startsWith('Allow dynamodb:UpdateItem on table.Arn if ') ||
      l.startsWith('Allow dynamodb:GetItem on table.Arn if ');
    expect(lines.filter((l) => l.startsWith('Allow dynamodb:UpdateItem on table.Arn if '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('Allow dynamodb:GetItem on table.Arn if '))).toHaveLength(1);
    expect(lines.filter((l) => !onTable(l))).toEqual(
      [
        'Allow logs:CreateLogStream on ring-timerLogs.Arn',
        'Allow logs:PutLogEvents on ring-timerLogs.Arn',
        ...consume('ringTimerQueue'),
      ].sort(),
    );
  });
});

// ---- A small reading of Lambda's event filter patterns (the subset the construct writes) -----

type Pattern = { [key: string]: Pattern | (string | { prefix: string })[] };

/** True when `event` matches `pattern`: every key present, each value one of the listed ones. */
function matches(pattern: Pattern, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const value = event[key];
    if (Array.isArray(rule)) {
      return (
        typeof value === 'string' &&
        rule.some((r) => (typeof r === 'string' ? r === value : value.startsWith(r.prefix)))
      );
    }
    return value !== null && typeof value === 'object' && matches(rule, value as Record<string, unknown>);
  });
}
