/**
 * Monitoring of a callwake deployment, on unless `monitoring: false`: an alarm topic (SNS,
 * encrypted with a key CloudWatch may use), alarms on what an operator must act on, each
 * notifying the topic when it goes off and when it recovers, and one dashboard with the key
 * graphs. Plain CDK (docs/decisions.md says why not a construct library).
 *
 * ```
 * callwake metrics (namespace Callwake, dimension service)  --\
 * AWS/Lambda, AWS/ApiGateway, AWS/DynamoDB, AWS/SQS           ---> alarms --> alarm topic --> your subscriptions
 * "initialisation failed" log lines (metric filters)         --/         \-> dashboard
 * ```
 *
 * The functions' metrics carry the dimension `service` (Powertools' service name,
 * `callwake-<function>`), and some a `Reason`, `Outcome` or (with `METRICS_BY_TENANT`) `Tenant`
 * too. Alarms read the series with `service` alone; graphs by reason or outcome are SEARCH
 * expressions over those dimensions.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Operation, type Table } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../functions/adapters/metrics.js';
import type { MetricName } from '../functions/core/ports.js';
import { INIT_FAILED_LOG_MESSAGE } from '../functions/init-once.js';
import type { HouseFunction } from './lambda-defaults.js';

export { METRICS_NAMESPACE };

/** The five functions, by the folder of their handler (`functions/<name>/handler.ts`). */
export type ServiceFunction = 'pbx-api' | 'app-api' | 'events' | 'callbacks' | 'ring-timer';
export const SERVICE_FUNCTIONS: readonly ServiceFunction[] = [
  'pbx-api',
  'app-api',
  'events',
  'callbacks',
  'ring-timer',
];

/**
 * A function's service name: its `POWERTOOLS_SERVICE_NAME`, and the `service` dimension of every
 * metric it emits (each handler passes the same name to `lambdaObservability`).
 */
export const serviceNameOf = (fn: ServiceFunction): string => `callwake-${fn}`;

/** The construct id prefix of each function's monitoring resources. */
const CONSTRUCT_PREFIX: Readonly<Record<ServiceFunction, string>> = {
  'pbx-api': 'PbxApi',
  'app-api': 'AppApi',
  events: 'Events',
  callbacks: 'Callbacks',
  'ring-timer': 'RingTimer',
};

/** What every function logs, at ERROR, when building its dependencies fails (functions/init-once.ts). */
export { INIT_FAILED_LOG_MESSAGE };
/** The metric the log metric filters count those lines in (namespace Callwake, no dimension). */
export const INIT_FAILURES_METRIC = 'InitFailures';

/** Alarm thresholds; every alarm is evaluated over 5-minute periods. */
export interface MonitoringProps {
  /**
   * API Gateway's 5xx answers as a percentage of all requests to the API, in 2 of 3 five-minute
   * periods with at least `minimumSamples` requests.
   * @default 5
   */
  readonly apiServerErrorRatePercent?: number;
  /**
   * The webhook's p99 latency (`WebhookLatency`, ms: a ring from its first byte to its answer),
   * in 2 of 3 five-minute periods.
   * @default 3000
   */
  readonly webhookLatencyP99Ms?: number;
  /**
   * Failed VoIP pushes as a percentage of all pushes of the rings
   * (`PushesFailed / (PushesSent + PushesFailed)`), in 2 of 3 five-minute periods with at least
   * `minimumSamples` pushes.
   * @default 25
   */
  readonly pushFailureRatePercent?: number;
  /**
   * Calls no device could be pushed to, as a percentage of the calls that were pushed
   * (`CallsUnreachable / (CallsRung + CallsUnreachable)`), in 2 of 3 five-minute periods with at
   * least `minimumSamples` calls.
   * @default 25
   */
  readonly unreachableCallRatePercent?: number;
  /** The fewest requests, pushes or calls in a period for its ratio to count. @default 10 */
  readonly minimumSamples?: number;
  /** Errors of one function in 5 minutes (one alarm per function). @default 1 */
  readonly lambdaErrors?: number;
  /** Throttled invocations of one function in 5 minutes (one alarm per function). @default 1 */
  readonly lambdaThrottles?: number;
  /** Throttled requests to the table (and its stream) in 5 minutes. @default 1 */
  readonly dynamoThrottles?: number;
  /** `initialisation failed` log lines of all functions together in 5 minutes. @default 1 */
  readonly initFailures?: number;
}

export type MonitoringThresholds = Required<MonitoringProps>;

export const MONITORING_DEFAULTS: MonitoringThresholds = {
  apiServerErrorRatePercent: 5,
  webhookLatencyP99Ms: 3000,
  pushFailureRatePercent: 25,
  unreachableCallRatePercent: 25,
  minimumSamples: 10,
  lambdaErrors: 1,
  lambdaThrottles: 1,
  dynamoThrottles: 1,
  initFailures: 1,
};

/** Every alarm's period. */
export const ALARM_PERIOD = Duration.minutes(5);
/** Rates and latencies: in alarm when 2 of the last 3 periods breach (a single bad period is not enough). */
export const RATE_ALARM_EVALUATION = { evaluationPeriods: 3, datapointsToAlarm: 2 } as const;
/** The dashboard's graphs. */
const GRAPH_PERIOD = Duration.minutes(1);

/** `true` or absent: the defaults; `false`: no monitoring; an object: its thresholds over the defaults. */
export function resolveMonitoring(value: boolean | MonitoringProps | undefined): MonitoringThresholds | undefined {
  if (value === false) return undefined;
  const t: MonitoringThresholds = { ...MONITORING_DEFAULTS, ...(typeof value === 'object' ? value : {}) };
  for (const prop of ['apiServerErrorRatePercent', 'pushFailureRatePercent', 'unreachableCallRatePercent'] as const) {
    if (!Number.isFinite(t[prop]) || t[prop] <= 0 || t[prop] > 100) {
      throw new Error(`monitoring.${prop} must be a percentage above 0, at most 100, got ${t[prop]}`);
    }
  }
  if (!Number.isFinite(t.webhookLatencyP99Ms) || t.webhookLatencyP99Ms <= 0) {
    throw new Error(`monitoring.webhookLatencyP99Ms must be a positive number of ms, got ${t.webhookLatencyP99Ms}`);
  }
  for (const prop of [
    'minimumSamples',
    'lambdaErrors',
    'lambdaThrottles',
    'dynamoThrottles',
    'initFailures',
  ] as const) {
    if (!Number.isInteger(t[prop]) || t[prop] < 1) {
      throw new Error(`monitoring.${prop} must be a positive integer, got ${t[prop]}`);
    }
  }
  return t;
}

/** What is monitored: the construct's parts. */
export interface MonitoredService {
  readonly functions: Readonly<Record<ServiceFunction, HouseFunction>>;
  readonly httpApi: HttpApi;
  readonly table: Table;
  /** The dead-letter queues, by a readable name, and the alarms they already have. */
  readonly deadLetters: readonly { readonly name: string; readonly queue: Queue; readonly alarm: Alarm }[];
  /** Add a graph of calls by tenant (`METRICS_BY_TENANT`). */
  readonly metricsByTenant: boolean;
}

export interface MonitoringAlarms {
  readonly apiServerErrorRate: Alarm;
  readonly webhookLatency: Alarm;
  readonly pushFailureRate: Alarm;
  readonly unreachableCallRate: Alarm;
  readonly functionErrors: Readonly<Record<ServiceFunction, Alarm>>;
  readonly functionThrottles: Readonly<Record<ServiceFunction, Alarm>>;
  readonly tableThrottles: Alarm;
  readonly initFailures: Alarm;
}

export interface CallwakeMonitoring {
  /** Every alarm of the stack notifies it (ALARM and OK): subscribe e-mail, chat or paging to it. */
  readonly alarmTopic: Topic;
  /** The customer managed key the alarm topic is encrypted with; CloudWatch may use it. */
  readonly alarmTopicKey: Key;
  readonly alarms: MonitoringAlarms;
  readonly dashboard: Dashboard;
}

/**
 * Builds the monitoring under `scope` (construct id `Monitoring`) and gives the existing
 * dead-letter alarms the topic as their action.
 */
export function monitoringOf(
  scope: Construct,
  service: MonitoredService,
  thresholds: MonitoringThresholds,
): CallwakeMonitoring {
  const root = new Construct(scope, 'Monitoring');
  const { topic, key } = alarmTopic(root);
  const alarms = serviceAlarms(root, service, thresholds);
  const action = new SnsAction(topic);
  for (const alarm of [...allAlarms(alarms), ...service.deadLetters.map((d) => d.alarm)]) {
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
  const dashboard = dashboardOf(root, service, alarms);
  return { alarmTopic: topic, alarmTopicKey: key, alarms, dashboard };
}

export const allAlarms = (a: MonitoringAlarms): Alarm[] => [
  a.apiServerErrorRate,
  a.webhookLatency,
  a.pushFailureRate,
  a.unreachableCallRate,
  ...Object.values(a.functionErrors),
  ...Object.values(a.functionThrottles),
  a.tableThrottles,
  a.initFailures,
];

/**
 * The alarm topic. CloudWatch cannot publish to a topic under the AWS managed key `aws/sns` (its
 * key policy admits only principals of the account, through SNS), so the topic has a key of its
 * own whose policy lets CloudWatch encrypt (GenerateDataKey*) and decrypt, and a topic policy that
 * lets this account's alarms publish, over TLS only.
 */
function alarmTopic(scope: Construct): { topic: Topic; key: Key } {
  const stack = Stack.of(scope);
  const key = new Key(scope, 'AlarmTopicKey', {
    description: 'callwake: encrypts the alarm topic; CloudWatch alarms use it to publish',
    enableKeyRotation: true,
    // It only ever encrypts notifications in flight: nothing to decrypt once the topic is gone.
    removalPolicy: RemovalPolicy.DESTROY,
    pendingWindow: Duration.days(7),
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsUseTheKey',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }),
  );
  const topic = new Topic(scope, 'AlarmTopic', { displayName: 'callwake alarms', masterKey: key, enforceSSL: true });
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
        StringEquals: { 'aws:SourceAccount': stack.account },
      },
    }),
  );
  return { topic, key };
}

/** A callwake metric of one function (the series with `service` alone), or of none (`InitFailures`). */
export function callwakeMetric(
  name: MetricName | typeof INIT_FAILURES_METRIC,
  fn: ServiceFunction | undefined,
  statistic: string,
  period: Duration = ALARM_PERIOD,
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: fn === undefined ? {} : { service: serviceNameOf(fn) },
    statistic,
    period,
  });
}

/** `part` as a percentage of `whole`, 0 in a period with fewer than `minimum` in `whole`. */
function percentOf(part: IMetric, whole: IMetric, minimum: number, label: string): MathExpression {
  return new MathExpression({
    expression: `IF(FILL(whole, 0) >= ${minimum}, 100 * FILL(part, 0) / FILL(whole, 0), 0)`,
    usingMetrics: { part, whole },
    label,
    period: ALARM_PERIOD,
  });
}

/** `bad` as a percentage of `bad + good`, 0 in a period with fewer than `minimum` of both. */
function shareOf(bad: IMetric, good: IMetric, minimum: number, label: string): MathExpression {
  return new MathExpression({
    expression: `IF(FILL(bad, 0) + FILL(good, 0) >= ${minimum}, 100 * FILL(bad, 0) / (FILL(bad, 0) + FILL(good, 0)), 0)`,
    usingMetrics: { bad, good },
    label,
    period: ALARM_PERIOD,
  });
}

/** The table's throttled requests, every operation the functions and the stream reader send. */
export const THROTTLE_OPERATIONS = [
  Operation.GET_ITEM,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
  Operation.GET_RECORDS,
] as const;

/**
 * The sum of the table's `ThrottledRequests` over {@link THROTTLE_OPERATIONS}, each filled with 0:
 * the CDK's own sum leaves a period out unless every operation had a throttle in it.
 */
function tableThrottles(table: Table, period: Duration): MathExpression {
  const ids = THROTTLE_OPERATIONS.map((op) => op.toLowerCase());
  return new MathExpression({
    expression: ids.map((id) => `FILL(${id}, 0)`).join(' + '),
    usingMetrics: Object.fromEntries(
      THROTTLE_OPERATIONS.map((op, i) => [
        ids[i],
        new Metric({
          namespace: 'AWS/DynamoDB',
          metricName: 'ThrottledRequests',
          dimensionsMap: { TableName: table.tableName, Operation: op },
          statistic: 'Sum',
          period,
        }),
      ]),
    ),
    label: 'Throttled requests',
    period,
  });
}

function serviceAlarms(scope: Construct, service: MonitoredService, t: MonitoringThresholds): MonitoringAlarms {
  const rate = (id: string, description: string, metric: IMetric, threshold: number): Alarm =>
    new Alarm(scope, id, {
      alarmDescription: `callwake: ${description}. See docs/deploy.md, Monitoring.`,
      metric,
      threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      ...RATE_ALARM_EVALUATION,
      // No traffic is not a failure: a quiet period neither raises nor clears.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  const count = (id: string, description: string, metric: IMetric, threshold: number): Alarm =>
    new Alarm(scope, id, {
      alarmDescription: `callwake: ${description}. See docs/deploy.md, Monitoring.`,
      metric,
      threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  const perFunction = (what: 'Errors' | 'Throttles', threshold: number) =>
    Object.fromEntries(
      SERVICE_FUNCTIONS.map((fn) => {
        const lambda = service.functions[fn].function;
        const metric =
          what === 'Errors'
            ? lambda.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' })
            : lambda.metricThrottles({ period: ALARM_PERIOD, statistic: 'Sum' });
        const description =
          what === 'Errors'
            ? `${fn} failed ${threshold} or more invocations in 5 minutes (an exception out of the handler, a timeout, out of memory)`
            : `${fn} had ${threshold} or more invocations throttled in 5 minutes (its reserved concurrency, or the account's, is used up)`;
        return [fn, count(`${CONSTRUCT_PREFIX[fn]}${what}Alarm`, description, metric, threshold)];
      }),
    ) as Record<ServiceFunction, Alarm>;

  for (const fn of SERVICE_FUNCTIONS) {
    new MetricFilter(scope, `${CONSTRUCT_PREFIX[fn]}InitFailures`, {
      logGroup: service.functions[fn].logGroup,
      filterPattern: FilterPattern.stringValue('$.message', '=', INIT_FAILED_LOG_MESSAGE),
      metricNamespace: METRICS_NAMESPACE,
      metricName: INIT_FAILURES_METRIC,
      metricValue: '1',
    });
  }

  const api = service.httpApi;
  return {
    apiServerErrorRate: rate(
      'ApiServerErrorRateAlarm',
      `more than ${t.apiServerErrorRatePercent}% of API requests answered 5xx (functions' 500 internal_error and 503 timed_out, API Gateway's own 5xx)`,
      percentOf(
        api.metricServerError({ period: ALARM_PERIOD, statistic: 'Sum' }),
        api.metricCount({ period: ALARM_PERIOD, statistic: 'Sum' }),
        t.minimumSamples,
        'API 5xx (% of requests)',
      ),
      t.apiServerErrorRatePercent,
    ),
    webhookLatency: rate(
      'WebhookLatencyAlarm',
      `the webhook's p99 latency (WebhookLatency, a ring to its answer) is above ${t.webhookLatencyP99Ms} ms: APNs or DynamoDB is slow`,
      callwakeMetric('WebhookLatency', 'pbx-api', 'p99'),
      t.webhookLatencyP99Ms,
    ),
    pushFailureRate: rate(
      'PushFailureRateAlarm',
      `more than ${t.pushFailureRatePercent}% of VoIP pushes failed (PushesFailed by Reason on the dashboard: Timeout or 5xx is APNs, ExpiredProviderToken or InvalidProviderToken a key, BadDeviceToken or Unregistered stale tokens)`,
      shareOf(
        callwakeMetric('PushesFailed', 'pbx-api', 'Sum'),
        callwakeMetric('PushesSent', 'pbx-api', 'Sum'),
        t.minimumSamples,
        'Failed pushes (%)',
      ),
      t.pushFailureRatePercent,
    ),
    unreachableCallRate: rate(
      'UnreachableCallRateAlarm',
      `more than ${t.unreachableCallRatePercent}% of calls reached no device (CallsUnreachable): pushes failing, or PBXs ringing users with no registered device`,
      shareOf(
        callwakeMetric('CallsUnreachable', 'pbx-api', 'Sum'),
        callwakeMetric('CallsRung', 'pbx-api', 'Sum'),
        t.minimumSamples,
        'Unreachable calls (%)',
      ),
      t.unreachableCallRatePercent,
    ),
    functionErrors: perFunction('Errors', t.lambdaErrors),
    functionThrottles: perFunction('Throttles', t.lambdaThrottles),
    tableThrottles: count(
      'TableThrottlesAlarm',
      `${t.dynamoThrottles} or more requests to the table or its stream throttled in 5 minutes`,
      tableThrottles(service.table, ALARM_PERIOD),
      t.dynamoThrottles,
    ),
    initFailures: count(
      'InitFailuresAlarm',
      `a function failed to start ${t.initFailures} or more times in 5 minutes ("${INIT_FAILED_LOG_MESSAGE}" in its log: a secret that does not parse or cannot be read, a missing setting)`,
      callwakeMetric(INIT_FAILURES_METRIC, undefined, 'Sum'),
      t.initFailures,
    ),
  };
}

/** A SEARCH over callwake metrics of one name with exactly the dimensions `service` and `by`, one line each. */
export function searchBy(
  name: MetricName,
  by: 'Reason' | 'Outcome' | 'Tenant',
  fn: ServiceFunction | undefined,
): IMetric {
  const service = fn === undefined ? '' : ` service="${serviceNameOf(fn)}"`;
  return new MathExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},${by},service} MetricName="${name}"${service}', 'Sum', ${GRAPH_PERIOD.toSeconds()})`,
    usingMetrics: {},
    label: '',
    period: GRAPH_PERIOD,
  });
}

function dashboardOf(scope: Construct, service: MonitoredService, alarms: MonitoringAlarms): Dashboard {
  const m = (name: MetricName, fn: ServiceFunction, statistic = 'Sum', label: string = name) =>
    callwakeMetric(name, fn, statistic, GRAPH_PERIOD).with({ label });
  const graph = (title: string, left: IMetric[], options: { right?: IMetric[]; width?: number; unit?: string } = {}) =>
    new GraphWidget({
      title,
      left,
      ...(options.right === undefined ? {} : { right: options.right }),
      width: options.width ?? 8,
      height: 6,
      ...(options.unit === undefined ? {} : { leftYAxis: { label: options.unit, showUnits: false } }),
    });
  const fns = SERVICE_FUNCTIONS.map((fn) => ({ fn, lambda: service.functions[fn].function }));
  const api = service.httpApi;

  const dashboard = new Dashboard(scope, 'Dashboard', { defaultInterval: Duration.hours(3) });
  dashboard.addWidgets(
    new TextWidget({
      markdown:
        '# callwake\nRings (pbx-api), the woken apps (app-api), the events path, and the AWS services under them. ' +
        'Every alarm notifies the alarm topic (the `AlarmTopicArn` output); docs/deploy.md, Monitoring, says what each means.',
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(
    graph('Calls', [
      m('CallsCreated', 'pbx-api'),
      m('CallsRung', 'pbx-api'),
      m('CallsUnreachable', 'pbx-api'),
      searchBy('CallsRejected', 'Reason', 'pbx-api'),
    ]),
    graph('VoIP pushes: sent, and failed by reason', [
      m('PushesSent', 'pbx-api'),
      searchBy('PushesFailed', 'Reason', 'pbx-api'),
    ]),
    graph(
      'Latencies (ms)',
      [
        m('WebhookLatency', 'pbx-api', 'p50', 'Webhook p50'),
        m('WebhookLatency', 'pbx-api', 'p99', 'Webhook p99'),
        m('PushLatency', 'pbx-api', 'p50', 'Push p50'),
        m('PushLatency', 'pbx-api', 'p99', 'Push p99'),
      ],
      { unit: 'ms' },
    ),
  );
  dashboard.addWidgets(
    graph(
      'Confirm delay (ms): push delivered to the app confirming',
      [
        m('ConfirmDelay', 'app-api', 'p50', 'p50'),
        m('ConfirmDelay', 'app-api', 'p90', 'p90'),
        m('ConfirmDelay', 'app-api', 'p99', 'p99'),
      ],
      { unit: 'ms' },
    ),
    graph('How calls end: answers, declines, cancels by reason, expiries', [
      m('Answers', 'app-api'),
      m('Declines', 'app-api'),
      searchBy('Cancels', 'Reason', 'pbx-api'),
      m('Expiries', 'ring-timer'),
    ]),
    graph('Held requests (Prefer: wait) by outcome', [
      searchBy('WaitsHeld', 'Outcome', 'pbx-api'),
      searchBy('WaitsHeld', 'Outcome', 'app-api'),
    ]),
  );
  dashboard.addWidgets(
    graph('Callbacks to tenants', [
      m('CallbacksDelivered', 'callbacks'),
      m('CallbacksRetried', 'callbacks'),
      m('CallbacksDeadLettered', 'callbacks'),
    ]),
    graph('End-of-call alerts: sent, and failed by reason', [
      m('AlertsSent', 'events'),
      searchBy('AlertsFailed', 'Reason', 'events'),
    ]),
    graph(
      'Dead letters (messages waiting)',
      service.deadLetters.map((d) =>
        d.queue.metricApproximateNumberOfMessagesVisible({ period: GRAPH_PERIOD, statistic: 'Maximum', label: d.name }),
      ),
    ),
  );
  dashboard.addWidgets(
    graph(
      'Lambda: errors (left), throttles (right)',
      fns.map(({ fn, lambda }) => lambda.metricErrors({ period: GRAPH_PERIOD, label: fn })),
      {
        right: fns.map(({ fn, lambda }) => lambda.metricThrottles({ period: GRAPH_PERIOD, label: `${fn} throttled` })),
      },
    ),
    graph(
      'Lambda: concurrent executions (max)',
      fns.map(({ fn, lambda }) =>
        lambda.metric('ConcurrentExecutions', { period: GRAPH_PERIOD, statistic: 'Maximum', label: fn }),
      ),
    ),
    graph(
      'Lambda: duration p99 (ms)',
      fns.map(({ fn, lambda }) => lambda.metricDuration({ period: GRAPH_PERIOD, statistic: 'p99', label: fn })),
      { unit: 'ms' },
    ),
  );
  dashboard.addWidgets(
    graph(
      'API: requests (left), 4xx and 5xx (right)',
      [api.metricCount({ period: GRAPH_PERIOD, statistic: 'Sum', label: 'requests' })],
      {
        right: [
          api.metricClientError({ period: GRAPH_PERIOD, label: '4xx' }),
          api.metricServerError({ period: GRAPH_PERIOD, label: '5xx' }),
        ],
      },
    ),
    graph(
      'API: latency p99 (ms), held requests included',
      [
        api.metricLatency({ period: GRAPH_PERIOD, statistic: 'p99', label: 'latency' }),
        api.metricIntegrationLatency({ period: GRAPH_PERIOD, statistic: 'p99', label: 'integration latency' }),
      ],
      { unit: 'ms' },
    ),
    graph(
      'DynamoDB: consumed capacity (left), throttled requests (right)',
      [
        service.table.metricConsumedReadCapacityUnits({ period: GRAPH_PERIOD, label: 'read units' }),
        service.table.metricConsumedWriteCapacityUnits({ period: GRAPH_PERIOD, label: 'write units' }),
      ],
      { right: [tableThrottles(service.table, GRAPH_PERIOD)] },
    ),
  );
  dashboard.addWidgets(
    graph('Initialisation failures (all functions)', [
      callwakeMetric(INIT_FAILURES_METRIC, undefined, 'Sum', GRAPH_PERIOD).with({ label: INIT_FAILURES_METRIC }),
    ]),
    ...(service.metricsByTenant
      ? [graph('Calls by tenant (METRICS_BY_TENANT)', [searchBy('CallsCreated', 'Tenant', 'pbx-api')], { width: 16 })]
      : []),
  );
  dashboard.addWidgets(
    new AlarmStatusWidget({
      title: 'Alarms',
      alarms: [...allAlarms(alarms), ...service.deadLetters.map((d) => d.alarm)],
      width: 24,
      height: 6,
    }),
  );
  return dashboard;
}
