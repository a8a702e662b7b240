/**
 * The monitoring (on by default): the alarm topic, every alarm with its threshold and the topic as
 * its action, the dashboard and its graphs of the functions' metrics (namespace Callwake), the
 * outputs; `monitoring=false` turns it off. And the contract with the code: the series the alarms
 * and graphs read are the ones the functions' metrics adapter writes, and the log line the
 * initialisation-failure filters count is the one the functions write.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { metricsPort, powertoolsMetrics } from '../../functions/adapters/metrics.js';
import { lambdaObservability } from '../../functions/adapters/observability.js';
import type { MetricDimensions, MetricName } from '../../functions/core/ports.js';
import { initOnce } from '../../functions/init-once.js';
import {
  INIT_FAILED_LOG_MESSAGE,
  INIT_FAILURES_METRIC,
  METRICS_NAMESPACE,
  MONITORING_DEFAULTS,
  SERVICE_FUNCTIONS,
  type ServiceFunction,
  serviceNameOf,
} from '../../lib/monitoring.js';
import {
  type CfnResource,
  dashboardBody,
  environmentOf,
  FUNCTION_NAMES,
  type Json,
  lambdaFunction,
  onlyResource,
  REPO_ROOT,
  referencedId,
  resourceIdAt,
  resourcesOf,
  type Synthesized,
  synthCallwake,
} from './support.js';

let s: Synthesized;
beforeAll(() => {
  s = synthCallwake({ bundle: false });
});

type Alarm = CfnResource['Properties'] & Record<string, Json>;
const alarms = (sy: Synthesized = s): Record<string, Alarm> =>
  Object.fromEntries(
    Object.entries(resourcesOf(sy.template, 'AWS::CloudWatch::Alarm')).map(([id, r]) => [
      id,
      (r.Properties ?? {}) as Alarm,
    ]),
  );
const alarmAt = (path: string): Alarm => {
  const id = resourceIdAt(s.template, 'AWS::CloudWatch::Alarm', `${path}/Resource`);
  return alarms()[id] as Alarm;
};
const topicId = (): string => resourceIdAt(s.template, 'AWS::SNS::Topic', 'Monitoring/AlarmTopic/Resource');

interface MetricStatJson {
  Id: string;
  Expression?: string;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions?: { Name: string; Value: Json }[] };
    Stat: string;
    Period: number;
  };
}
const queriesOf = (a: Alarm): MetricStatJson[] => (a['Metrics'] ?? []) as unknown as MetricStatJson[];
const expressionOf = (a: Alarm): string =>
  String(queriesOf(a).find((q) => (q as { ReturnData?: boolean }).ReturnData !== false && q.Expression)?.Expression);
/** `name{dim=value,…}` of each metric an alarm reads, values as their logical ids when references. */
const seriesOf = (a: Alarm): string[] => {
  const metrics: MetricStatJson['MetricStat'][] = [
    ...queriesOf(a).map((q) => q.MetricStat),
    a['MetricName'] === undefined
      ? undefined
      : {
          Metric: {
            Namespace: String(a['Namespace']),
            MetricName: String(a['MetricName']),
            Dimensions: (a['Dimensions'] ?? []) as { Name: string; Value: Json }[],
          },
          Stat: String(a['Statistic'] ?? a['ExtendedStatistic']),
          Period: Number(a['Period']),
        },
  ];
  return metrics.flatMap((m) =>
    m === undefined
      ? []
      : [
          `${m.Metric.Namespace}/${m.Metric.MetricName}{${(m.Metric.Dimensions ?? [])
            .map((d) => `${d.Name}=${typeof d.Value === 'string' ? d.Value : `<${referencedId(d.Value)}>`}`)
            .sort()
            .join(',')}}`,
        ],
  );
};

describe('the alarm topic', () => {
  it('is encrypted with a key of its own, which CloudWatch may use to publish (not aws/sns)', () => {
    const topic = resourcesOf(s.template, 'AWS::SNS::Topic')[topicId()] as CfnResource;
    const keyId = referencedId(topic.Properties?.['KmsMasterKeyId']);
    expect(keyId).toBe(onlyResource(s.template, 'AWS::KMS::Key')[0]);
    const key = onlyResource(s.template, 'AWS::KMS::Key')[1];
    expect(key.Properties?.['EnableKeyRotation']).toBe(true);
    const statements = ((key.Properties?.['KeyPolicy'] ?? {}) as { Statement?: Record<string, Json>[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
  });

  it("lets this account's CloudWatch alarms publish, over TLS only", () => {
    const policy = Object.values(resourcesOf(s.template, 'AWS::SNS::TopicPolicy')).find((p) =>
      ((p.Properties?.['Topics'] ?? []) as Json[]).some((t) => referencedId(t) === topicId()),
    );
    const statements = ((policy?.Properties?.['PolicyDocument'] ?? {}) as { Statement?: Record<string, Json>[] })
      .Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Condition: {
          ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*' },
          StringEquals: { 'aws:SourceAccount': '123456789012' },
        },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('is an output of the stack, and a member of the construct', () => {
    expect(s.template.findOutputs('AlarmTopicArn')['AlarmTopicArn']?.['Value']).toEqual({ Ref: topicId() });
    expect(s.stack.resolve(s.stack.callwake.monitoring?.alarmTopic.topicArn)).toEqual({ Ref: topicId() });
  });
});

describe('the alarms', () => {
  it('every alarm of the stack notifies the alarm topic when it goes off and when it recovers', () => {
    const all = alarms();
    expect(Object.keys(all)).toHaveLength(4 + 2 * FUNCTION_NAMES.length + 2 + 3);
    for (const [id, a] of Object.entries(all)) {
      expect([id, a['AlarmActions']]).toEqual([id, [{ Ref: topicId() }]]);
      expect([id, a['OKActions']]).toEqual([id, [{ Ref: topicId() }]]);
      expect([id, a['TreatMissingData']]).toEqual([id, 'notBreaching']);
    }
  });

  it('reuses the three dead-letter alarms (their logical ids unchanged), giving them the topic', () => {
    for (const path of ['CallbackDeadLetterAlarm', 'EventsDeadLetterAlarm', 'RingTimerDeadLetterAlarm']) {
      expect(alarmAt(path)['AlarmActions']).toEqual([{ Ref: topicId() }]);
    }
    expect(Object.keys(alarms())).toEqual(
      expect.arrayContaining([
        'CallwakeCallbackDeadLetterAlarmA820FB79',
        'CallwakeEventsDeadLetterAlarmD82C3B7C',
        'CallwakeRingTimerDeadLetterAlarm75520015',
      ]),
    );
  });

  it('API 5xx rate: API Gateway 5xx / requests of the HTTP API, in %, over 5 %, 2 of 3 five-minute periods', () => {
    const a = alarmAt('Monitoring/ApiServerErrorRateAlarm');
    const api = onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[0];
    expect(seriesOf(a).sort()).toEqual([`AWS/ApiGateway/5xx{ApiId=<${api}>}`, `AWS/ApiGateway/Count{ApiId=<${api}>}`]);
    expect(expressionOf(a)).toBe('IF(FILL(whole, 0) >= 10, 100 * FILL(part, 0) / FILL(whole, 0), 0)');
    expect(a).toEqual(
      expect.objectContaining({
        Threshold: 5,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      }),
    );
    for (const q of queriesOf(a))
      if (q.MetricStat) expect(q.MetricStat).toEqual(expect.objectContaining({ Stat: 'Sum', Period: 300 }));
  });

  it("webhook latency: p99 of the code's WebhookLatency (rings only, not held reads), over 3000 ms", () => {
    const a = alarmAt('Monitoring/WebhookLatencyAlarm');
    expect(seriesOf(a)).toEqual(['Callwake/WebhookLatency{service=callwake-pbx-api}']);
    expect(a).toEqual(
      expect.objectContaining({
        ExtendedStatistic: 'p99',
        Period: 300,
        Threshold: 3000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      }),
    );
  });

  it('APNs failure ratio: PushesFailed / (PushesSent + PushesFailed), in %, over 25 %, from 10 pushes', () => {
    const a = alarmAt('Monitoring/PushFailureRateAlarm');
    expect(seriesOf(a).sort()).toEqual([
      'Callwake/PushesFailed{service=callwake-pbx-api}',
      'Callwake/PushesSent{service=callwake-pbx-api}',
    ]);
    const ids = Object.fromEntries(
      queriesOf(a).flatMap((q) => (q.MetricStat ? [[q.MetricStat.Metric.MetricName, q.Id]] : [])),
    );
    expect(ids).toEqual({ PushesFailed: 'bad', PushesSent: 'good' });
    expect(expressionOf(a)).toBe(
      'IF(FILL(bad, 0) + FILL(good, 0) >= 10, 100 * FILL(bad, 0) / (FILL(bad, 0) + FILL(good, 0)), 0)',
    );
    expect(a).toEqual(expect.objectContaining({ Threshold: 25, EvaluationPeriods: 3, DatapointsToAlarm: 2 }));
  });

  it('unreachable ratio: CallsUnreachable / (CallsRung + CallsUnreachable), in %, over 25 %, from 10 calls', () => {
    const a = alarmAt('Monitoring/UnreachableCallRateAlarm');
    expect(seriesOf(a).sort()).toEqual([
      'Callwake/CallsRung{service=callwake-pbx-api}',
      'Callwake/CallsUnreachable{service=callwake-pbx-api}',
    ]);
    const ids = Object.fromEntries(
      queriesOf(a).flatMap((q) => (q.MetricStat ? [[q.MetricStat.Metric.MetricName, q.Id]] : [])),
    );
    expect(ids).toEqual({ CallsUnreachable: 'bad', CallsRung: 'good' });
    expect(a).toEqual(expect.objectContaining({ Threshold: 25, EvaluationPeriods: 3, DatapointsToAlarm: 2 }));
  });

  const constructOf: Record<ServiceFunction, string> = {
    'pbx-api': 'PbxApi',
    'app-api': 'AppApi',
    events: 'Events',
    callbacks: 'Callbacks',
    'ring-timer': 'RingTimer',
  };

  it.each(SERVICE_FUNCTIONS)('%s: an alarm on its Errors and one on its Throttles, each at 1 in 5 minutes', (name) => {
    const fnId = lambdaFunction(s.template, name)[0];
    for (const what of ['Errors', 'Throttles']) {
      const a = alarmAt(`Monitoring/${constructOf[name]}${what}Alarm`);
      expect(seriesOf(a)).toEqual([`AWS/Lambda/${what}{FunctionName=<${fnId}>}`]);
      expect(a).toEqual(
        expect.objectContaining({
          Statistic: 'Sum',
          Period: 300,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 1,
        }),
      );
    }
  });

  it("DynamoDB throttles: the table's ThrottledRequests of every operation sent, each filled with 0, at 1 in 5 minutes", () => {
    const a = alarmAt('Monitoring/TableThrottlesAlarm');
    const table = onlyResource(s.template, 'AWS::DynamoDB::Table')[0];
    expect(seriesOf(a).sort()).toEqual(
      ['DeleteItem', 'GetItem', 'GetRecords', 'PutItem', 'TransactWriteItems', 'UpdateItem'].map(
        (op) => `AWS/DynamoDB/ThrottledRequests{Operation=${op},TableName=<${table}>}`,
      ),
    );
    expect(expressionOf(a)).toMatch(/^FILL\(\w+, 0\)( \+ FILL\(\w+, 0\)){5}$/);
    expect(a).toEqual(expect.objectContaining({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }));
  });

  it("init failures: every function's log lines that say so, counted by a metric filter, at 1 in 5 minutes", () => {
    const filters = Object.values(resourcesOf(s.template, 'AWS::Logs::MetricFilter'));
    const logGroupOf = (name: (typeof FUNCTION_NAMES)[number]) =>
      referencedId(
        ((lambdaFunction(s.template, name)[1].Properties?.['LoggingConfig'] ?? {}) as Record<string, Json>)['LogGroup'],
      );
    expect(filters.map((f) => referencedId(f.Properties?.['LogGroupName'])).sort()).toEqual(
      FUNCTION_NAMES.map(logGroupOf).sort(),
    );
    for (const f of filters) {
      expect(f.Properties?.['FilterPattern']).toBe(`{ $.message = "${INIT_FAILED_LOG_MESSAGE}" }`);
      expect(f.Properties?.['MetricTransformations']).toEqual([
        { MetricNamespace: METRICS_NAMESPACE, MetricName: INIT_FAILURES_METRIC, MetricValue: '1' },
      ]);
    }
    const a = alarmAt('Monitoring/InitFailuresAlarm');
    expect(seriesOf(a)).toEqual([`Callwake/${INIT_FAILURES_METRIC}{}`]);
    expect(a).toEqual(expect.objectContaining({ Statistic: 'Sum', Threshold: 1, EvaluationPeriods: 1 }));
  });

  it('takes its thresholds from context (alarm* keys), as an operator sets them', () => {
    const custom = synthCallwake({
      bundle: false,
      context: {
        alarmApiServerErrorRatePercent: '2',
        alarmWebhookLatencyP99Ms: 1500,
        alarmPushFailureRatePercent: '40',
        alarmUnreachableCallRatePercent: '50',
        alarmMinimumSamples: '25',
        alarmLambdaErrors: '3',
        alarmLambdaThrottles: '4',
        alarmDynamoThrottles: '5',
        alarmInitFailures: '2',
      },
    });
    const at = (path: string) =>
      alarms(custom)[resourceIdAt(custom.template, 'AWS::CloudWatch::Alarm', `Monitoring/${path}/Resource`)] as Alarm;
    expect(
      [
        'ApiServerErrorRateAlarm',
        'WebhookLatencyAlarm',
        'PushFailureRateAlarm',
        'UnreachableCallRateAlarm',
        'PbxApiErrorsAlarm',
        'RingTimerThrottlesAlarm',
        'TableThrottlesAlarm',
        'InitFailuresAlarm',
      ].map((p) => at(p)['Threshold']),
    ).toEqual([2, 1500, 40, 50, 3, 4, 5, 2]);
    expect(expressionOf(at('PushFailureRateAlarm'))).toContain('>= 25,');
  });

  it('documents its defaults: the values the template has without context', () => {
    expect(MONITORING_DEFAULTS).toEqual({
      apiServerErrorRatePercent: 5,
      webhookLatencyP99Ms: 3000,
      pushFailureRatePercent: 25,
      unreachableCallRatePercent: 25,
      minimumSamples: 10,
      lambdaErrors: 1,
      lambdaThrottles: 1,
      dynamoThrottles: 1,
      initFailures: 1,
    });
    const deploy = readFileSync(join(REPO_ROOT, 'docs/deploy.md'), 'utf8');
    for (const key of [
      'alarmApiServerErrorRatePercent',
      'alarmWebhookLatencyP99Ms',
      'alarmPushFailureRatePercent',
      'alarmUnreachableCallRatePercent',
      'alarmMinimumSamples',
      'alarmLambdaErrors',
      'alarmLambdaThrottles',
      'alarmDynamoThrottles',
      'alarmInitFailures',
    ]) {
      expect([key, deploy.includes(`\`${key}\``)]).toEqual([key, true]);
    }
  });
});

/** Every metric name the code emits (functions/core/ports.ts); the type check below keeps it complete. */
const ALL_METRIC_NAMES = [
  'CallsCreated',
  'CallsRung',
  'CallsUnreachable',
  'CallsRejected',
  'PushesSent',
  'PushesFailed',
  'PushLatency',
  'WebhookLatency',
  'ConfirmDelay',
  'Answers',
  'Declines',
  'Cancels',
  'Expiries',
  'AlertsSent',
  'AlertsFailed',
  'CallbacksDelivered',
  'CallbacksRetried',
  'CallbacksDeadLettered',
  'WaitsHeld',
] as const satisfies readonly MetricName[];
type Unlisted = Exclude<MetricName, (typeof ALL_METRIC_NAMES)[number]>;
const everyMetricListed: [Unlisted] extends [never] ? true : Unlisted = true;

interface Graphed {
  /** `name{dim=value,…}` of plain metrics. */
  readonly series: string[];
  /** The SEARCH expressions. */
  readonly searches: string[];
}
const graphedIn = (sy: Synthesized): Graphed => {
  const body = dashboardBody(onlyResource(sy.template, 'AWS::CloudWatch::Dashboard')[1]);
  const series: string[] = [];
  const searches: string[] = [];
  for (const w of body.widgets.filter((w) => w.type === 'metric')) {
    for (const m of (w.properties['metrics'] ?? []) as Json[][]) {
      const first = m[0];
      if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
        const expression = String((first as Record<string, Json>)['expression'] ?? '');
        if (expression.startsWith('SEARCH(')) searches.push(expression);
        continue;
      }
      const [namespace, name, ...rest] = m.filter((x) => typeof x === 'string') as string[];
      const dims: string[] = [];
      for (let i = 0; i + 1 < rest.length; i += 2) dims.push(`${rest[i]}=${rest[i + 1]}`);
      series.push(`${namespace}/${name}{${dims.sort().join(',')}}`);
    }
  }
  return { series, searches };
};

describe('the dashboard', () => {
  it('exists, and is an output of the stack', () => {
    const [id] = onlyResource(s.template, 'AWS::CloudWatch::Dashboard');
    expect(s.template.findOutputs('DashboardName')['DashboardName']?.['Value']).toEqual({ Ref: id });
  });

  it('graphs every metric the code emits, in namespace Callwake, per function (service)', () => {
    expect(everyMetricListed).toBe(true);
    const { series, searches } = graphedIn(s);
    const callwake = series.filter((x) => x.startsWith(`${METRICS_NAMESPACE}/`));
    const names = new Set([
      ...callwake.map((x) => x.slice(METRICS_NAMESPACE.length + 1, x.indexOf('{'))),
      ...searches.map((e) => /MetricName="(\w+)"/.exec(e)?.[1]),
    ]);
    expect(ALL_METRIC_NAMES.filter((n) => !names.has(n))).toEqual([]);
    expect(names.has(INIT_FAILURES_METRIC)).toBe(true);
    for (const x of callwake.filter((x) => !x.includes(INIT_FAILURES_METRIC))) {
      expect(x).toMatch(/\{service=callwake-(pbx-api|app-api|events|callbacks|ring-timer)\}$/);
    }
    for (const e of searches)
      expect(e).toMatch(new RegExp(`^SEARCH\\('\\{${METRICS_NAMESPACE},(Reason|Outcome|Tenant),service\\}`));
  });

  it("graphs the AWS side: each function's errors, throttles, concurrency and duration, the API, the table, the dead letters", () => {
    const { series } = graphedIn(s);
    const namespaces = (ns: string) =>
      series.filter((x) => x.startsWith(`${ns}/`)).map((x) => x.slice(ns.length + 1, x.indexOf('{')));
    expect(new Set(namespaces('AWS/Lambda'))).toEqual(
      new Set(['Errors', 'Throttles', 'ConcurrentExecutions', 'Duration']),
    );
    expect(series.filter((x) => x.startsWith('AWS/Lambda/Errors'))).toHaveLength(FUNCTION_NAMES.length);
    expect(new Set(namespaces('AWS/ApiGateway'))).toEqual(
      new Set(['Count', '4xx', '5xx', 'Latency', 'IntegrationLatency']),
    );
    expect(namespaces('AWS/DynamoDB')).toEqual(
      expect.arrayContaining(['ConsumedReadCapacityUnits', 'ConsumedWriteCapacityUnits', 'ThrottledRequests']),
    );
    expect(namespaces('AWS/SQS').filter((n) => n === 'ApproximateNumberOfMessagesVisible')).toHaveLength(3);
  });

  it('shows every alarm in an alarm status widget', () => {
    const body = dashboardBody(onlyResource(s.template, 'AWS::CloudWatch::Dashboard')[1]);
    const widget = body.widgets.find((w) => w.type === 'alarm');
    expect(((widget?.properties['alarms'] ?? []) as string[]).map((a) => a.replace(/^<|>$/g, '')).sort()).toEqual(
      Object.keys(alarms()).sort(),
    );
  });

  it('adds calls by tenant with metricsByTenant', () => {
    expect(graphedIn(s).searches.some((e) => e.includes(',Tenant,'))).toBe(false);
    const byTenant = synthCallwake({ bundle: false, context: { metricsByTenant: 'true' } });
    expect(graphedIn(byTenant).searches.filter((e) => e.includes(',Tenant,'))).toHaveLength(1);
    for (const name of FUNCTION_NAMES) {
      expect(environmentOf(lambdaFunction(byTenant.template, name)[1])['METRICS_BY_TENANT']).toBe('true');
    }
  });
});

describe('monitoring=false', () => {
  let off: Synthesized;
  beforeAll(() => {
    off = synthCallwake({ bundle: false, context: { monitoring: 'false' } });
  });

  it('builds no alarm topic, key, dashboard, metric filter or alarm but the three dead-letter ones, which have no action', () => {
    for (const type of ['AWS::KMS::Key', 'AWS::CloudWatch::Dashboard', 'AWS::Logs::MetricFilter']) {
      expect([type, Object.keys(resourcesOf(off.template, type))]).toEqual([type, []]);
    }
    expect(Object.keys(resourcesOf(off.template, 'AWS::SNS::Topic'))).toHaveLength(1); // the events topic
    const remaining = alarms(off);
    expect(Object.keys(remaining).sort()).toEqual([
      'CallwakeCallbackDeadLetterAlarmA820FB79',
      'CallwakeEventsDeadLetterAlarmD82C3B7C',
      'CallwakeRingTimerDeadLetterAlarm75520015',
    ]);
    for (const a of Object.values(remaining)) expect(a['AlarmActions']).toBeUndefined();
    expect(off.stack.callwake.monitoring).toBeUndefined();
  });

  it('has neither output', () => {
    expect(Object.keys(off.template.findOutputs('*'))).not.toEqual(expect.arrayContaining(['AlarmTopicArn']));
    expect(off.template.findOutputs('AlarmTopicArn')).toEqual({});
    expect(off.template.findOutputs('DashboardName')).toEqual({});
  });

  it('refuses alarm thresholds without the monitoring', () => {
    expect(() => synthCallwake({ bundle: false, context: { monitoring: 'false', alarmLambdaErrors: '2' } })).toThrow(
      /need the monitoring/,
    );
  });
});

describe('monitoring props given in code', () => {
  it.each([
    [{ apiServerErrorRatePercent: 0 }, /apiServerErrorRatePercent/],
    [{ pushFailureRatePercent: 101 }, /pushFailureRatePercent/],
    [{ webhookLatencyP99Ms: -1 }, /webhookLatencyP99Ms/],
    [{ minimumSamples: 2.5 }, /minimumSamples/],
    [{ lambdaErrors: 0 }, /lambdaErrors/],
  ])('refuses %j', (monitoring, message) => {
    expect(() => synthCallwake({ bundle: false, props: { callwake: { monitoring } } })).toThrow(message);
  });
});

// ---- The contract with the code ----------------------------------------------------------------

/**
 * What each function's code records, as the core calls its Metrics port (functions/core: ring-call,
 * cancel-call, watch, app-calls, end-alerts, deliver-callback, expire-ring; the pipeline's
 * WebhookLatency): the name and the dimensions it passes.
 */
const CODE_RECORDS: [ServiceFunction, 'count' | 'time', MetricName, MetricDimensions][] = [
  ['pbx-api', 'count', 'CallsCreated', { tenant: 'acme' }],
  ['pbx-api', 'count', 'CallsRung', { tenant: 'acme' }],
  ['pbx-api', 'count', 'CallsUnreachable', { tenant: 'acme' }],
  ['pbx-api', 'count', 'CallsRejected', { tenant: 'acme', reason: 'doNotDisturb' }],
  ['pbx-api', 'count', 'PushesSent', {}],
  ['pbx-api', 'count', 'PushesFailed', { reason: 'BadDeviceToken' }],
  ['pbx-api', 'time', 'PushLatency', {}],
  ['pbx-api', 'time', 'WebhookLatency', {}],
  ['pbx-api', 'count', 'Cancels', { tenant: 'acme', reason: 'caller_hangup' }],
  ['pbx-api', 'count', 'WaitsHeld', { outcome: 'woken' }],
  ['app-api', 'time', 'ConfirmDelay', { tenant: 'acme' }],
  ['app-api', 'count', 'Answers', { tenant: 'acme' }],
  ['app-api', 'count', 'Declines', { tenant: 'acme' }],
  ['app-api', 'count', 'WaitsHeld', { outcome: 'timedOut' }],
  ['events', 'count', 'AlertsSent', {}],
  ['events', 'count', 'AlertsFailed', { reason: 'Unregistered' }],
  ['callbacks', 'count', 'CallbacksDelivered', {}],
  ['callbacks', 'count', 'CallbacksRetried', {}],
  ['callbacks', 'count', 'CallbacksDeadLettered', {}],
  ['ring-timer', 'count', 'Expiries', {}],
];

/** Runs the real metrics adapter (Powertools, embedded metric format) and reads back the series it writes. */
function seriesWritten(byTenant: boolean): { series: Set<string>; schemas: Set<string> } {
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  // Powertools warns on stderr when a function had only single metrics to flush.
  const warn = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    for (const fn of SERVICE_FUNCTIONS) {
      const pm = powertoolsMetrics(serviceNameOf(fn));
      const port = metricsPort(pm, byTenant);
      for (const [f, kind, name, dims] of CODE_RECORDS) {
        if (f !== fn) continue;
        if (kind === 'count') port.count(name, 1, dims);
        else port.time(name, 100, dims);
      }
      pm.publishStoredMetrics();
    }
  } finally {
    write.mockRestore();
    warn.mockRestore();
  }
  const series = new Set<string>();
  const schemas = new Set<string>();
  for (const line of lines.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{"_aws"'))) {
    const emf = JSON.parse(line) as {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    } & Record<string, Json>;
    for (const d of emf._aws.CloudWatchMetrics) {
      for (const set of d.Dimensions) {
        for (const m of d.Metrics) {
          series.add(
            `${d.Namespace}/${m.Name}{${set
              .map((k) => `${k}=${String(emf[k])}`)
              .sort()
              .join(',')}}`,
          );
          schemas.add(`{${[d.Namespace, ...[...set].sort()].join(',')}} ${m.Name} ${String(emf['service'])}`);
        }
      }
    }
  }
  return { series, schemas };
}

/** The series with `service` alone that the alarms and graphs read. */
const readCallwakeSeries = (): string[] => {
  const fromAlarms = Object.values(alarms()).flatMap(seriesOf);
  const fromGraphs = graphedIn(s).series;
  return [...new Set([...fromAlarms, ...fromGraphs])]
    .filter((x) => x.startsWith(`${METRICS_NAMESPACE}/`) && !x.includes(INIT_FAILURES_METRIC))
    .sort();
};

describe('the contract with the code', () => {
  it('each handler names itself as its POWERTOOLS_SERVICE_NAME: the service dimension the alarms read', () => {
    for (const fn of SERVICE_FUNCTIONS) {
      const handler = readFileSync(join(REPO_ROOT, `functions/${fn}/handler.ts`), 'utf8');
      expect([fn, /lambdaObservability\('([^']+)'\)/.exec(handler)?.[1]]).toEqual([fn, serviceNameOf(fn)]);
      expect(environmentOf(lambdaFunction(s.template, fn)[1])['POWERTOOLS_SERVICE_NAME']).toBe(serviceNameOf(fn));
    }
  });

  it.each([
    ['without', false],
    ['with', true],
  ] as const)(
    'the metrics adapter writes every series an alarm or graph reads, %s METRICS_BY_TENANT',
    (key, byTenant) => {
      const { series } = seriesWritten(byTenant);
      const missing = readCallwakeSeries().filter((x) => !series.has(x));
      // Every series the dashboard or an alarm reads is one the adapter writes.
      expect([key, missing]).toEqual([key, []]);
    },
  );

  it('the SEARCH graphs by reason and outcome find what the adapter writes without METRICS_BY_TENANT', () => {
    const { schemas } = seriesWritten(false);
    for (const e of graphedIn(s).searches) {
      const m = /^SEARCH\('(\{[^}]+\}) MetricName="(\w+)" service="([^"]+)"/.exec(e);
      expect([e, m !== null && schemas.has(`${m[1]} ${m[2]} ${m[3]}`)]).toEqual([e, true]);
    }
  });

  it('a failed initialisation writes the very log line the metric filters count', async () => {
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      const deps = initOnce(lambdaObservability('callwake-test', {}), async () => {
        throw new Error('no secret');
      });
      await expect(deps()).rejects.toThrow('no secret');
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    const logged = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, Json>);
    // The filter pattern `{ $.message = "initialisation failed" }` matches a JSON line whose top-level `message` is that.
    expect(logged.filter((l) => l['message'] === INIT_FAILED_LOG_MESSAGE).length).toBeGreaterThan(0);
  });
});
