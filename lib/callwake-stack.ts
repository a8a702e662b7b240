/**
 * The `Callwake` stack: the {@link Callwake} construct with its props read from CDK context
 * (cdk.json `context`, or `npx cdk deploy -c key=value`), and the outputs an operator needs.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct, Node } from 'constructs';
import {
  APNS_ENVIRONMENTS,
  type ApnsEnvironment,
  Callwake,
  type CallwakeProps,
  LOG_LEVELS,
  type LogLevelName,
  RESERVED_CONCURRENCY_PROPS,
} from './callwake.js';
import type { MonitoringProps } from './monitoring.js';

/** The context keys that are plain numbers, each setting the {@link CallwakeProps} member of its name. */
const NUMBER_CONTEXT_KEYS = [
  'pushDeadlineMs',
  'pbxRateLimit',
  'pbxBurstLimit',
  'appRateLimit',
  'appBurstLimit',
  'unmatchedRateLimit',
  'unmatchedBurstLimit',
  'tenantRequestsPerSecond',
  'tenantRingingCalls',
] as const;

/**
 * The context keys the stack reads; each maps to the {@link CallwakeProps} member of that name,
 * but `logRetentionDays` (`logRetention`), the `edge*` keys (the members of `edge`), the
 * `customDomain*` keys (`customDomain`) and the `alarm*` keys (the members of `monitoring`).
 */
export const CONTEXT_KEYS = [
  'defaultApnsEnvironment',
  'tenantSecretName',
  'apnsKeySecretName',
  'tokenKeySecretName',
  'secretNamePrefix',
  ...NUMBER_CONTEXT_KEYS,
  'publicBaseUrl',
  'edgeOriginDomainName',
  'edgeOriginCertificateArn',
  'edgeWafRateLimitPer5Min',
  'edgeWebAclArn',
  'edgeKeepExecuteApiEndpoint',
  'customDomainName',
  'customDomainCertificateArn',
  'logRetentionDays',
  'tableRemovalPolicy',
  'logLevel',
  'tracing',
  'pbxApiReservedConcurrency',
  'appApiReservedConcurrency',
  'eventsReservedConcurrency',
  'callbacksReservedConcurrency',
  'ringTimerReservedConcurrency',
  'metricsByTenant',
  'secretsMaxAgeSeconds',
  'monitoring',
  'alarmApiServerErrorRatePercent',
  'alarmWebhookLatencyP99Ms',
  'alarmPushFailureRatePercent',
  'alarmUnreachableCallRatePercent',
  'alarmMinimumSamples',
  'alarmLambdaErrors',
  'alarmLambdaThrottles',
  'alarmDynamoThrottles',
  'alarmInitFailures',
] as const;

/** The `alarm*` context keys and the {@link MonitoringProps} member each sets. */
export const ALARM_CONTEXT_KEYS = {
  alarmApiServerErrorRatePercent: 'apiServerErrorRatePercent',
  alarmWebhookLatencyP99Ms: 'webhookLatencyP99Ms',
  alarmPushFailureRatePercent: 'pushFailureRatePercent',
  alarmUnreachableCallRatePercent: 'unreachableCallRatePercent',
  alarmMinimumSamples: 'minimumSamples',
  alarmLambdaErrors: 'lambdaErrors',
  alarmLambdaThrottles: 'lambdaThrottles',
  alarmDynamoThrottles: 'dynamoThrottles',
  alarmInitFailures: 'initFailures',
} as const satisfies Record<string, keyof MonitoringProps>;

/** Context keys of earlier versions: refused with what replaced them, rather than silently ignored. */
export const REMOVED_CONTEXT_KEYS: Readonly<Record<string, string>> = {
  throttlingRateLimit:
    'the stage-wide limit became one per route: pbxRateLimit, appRateLimit and unmatchedRateLimit (docs/deploy.md, Limits)',
  throttlingBurstLimit:
    'the stage-wide limit became one per route: pbxBurstLimit, appBurstLimit and unmatchedBurstLimit (docs/deploy.md, Limits)',
};

export interface CallwakeStackProps extends StackProps {
  /** Props given in code win over context values. */
  readonly callwake?: CallwakeProps;
}

export class CallwakeStack extends Stack {
  readonly callwake: Callwake;

  constructor(scope: Construct, id: string, props: CallwakeStackProps = {}) {
    super(scope, id, props);

    this.callwake = new Callwake(this, 'Callwake', {
      ...callwakePropsFromContext(this.node),
      ...props.callwake,
    });
    const c = this.callwake;

    new CfnOutput(this, 'ApiUrl', {
      description:
        c.edge === undefined
          ? 'Base URL of the HTTP API (PBX webhooks under /v1/pbx/, the app API under /v1/app/)'
          : 'Base URL of the API through CloudFront and AWS WAF, the only way in (PBX webhooks under /v1/pbx/)',
      value: c.apiUrl,
    });
    if (c.customDomain !== undefined) {
      new CfnOutput(this, 'CustomDomainTarget', {
        description: `Point ${c.customDomain.domainName} at this name (CNAME, or a Route 53 alias with CustomDomainHostedZoneId)`,
        value: c.customDomain.domain.regionalDomainName,
      });
      new CfnOutput(this, 'CustomDomainHostedZoneId', { value: c.customDomain.domain.regionalHostedZoneId });
    }
    if (c.edge !== undefined) {
      new CfnOutput(this, 'EdgeOriginTarget', {
        description: `Point ${c.edge.originDomainName} at this name (CNAME, or a Route 53 alias with EdgeOriginHostedZoneId)`,
        value: c.edge.originDomain.regionalDomainName,
      });
      new CfnOutput(this, 'EdgeOriginHostedZoneId', { value: c.edge.originDomain.regionalHostedZoneId });
    }
    new CfnOutput(this, 'TableName', { value: c.table.tableName });
    new CfnOutput(this, 'TenantSecretsName', {
      description: 'Secret holding {"<tenantId>": ["<secret>", ...]}',
      value: c.tenantSecrets.name,
    });
    new CfnOutput(this, 'ApnsKeysSecretName', {
      description: 'Secret holding {"<teamId>": {"keyId": "...", "privateKey": "<PEM .p8>"}}',
      value: c.apnsKeys.name,
    });
    new CfnOutput(this, 'TokenKeysSecretName', {
      description: 'Secret holding {"current": "<kid>", "keys": {"<kid>": "<random>"}}',
      value: c.tokenKeys.name,
    });
    new CfnOutput(this, 'PbxApiFunctionName', { value: c.pbxApi.function.functionName });
    new CfnOutput(this, 'AppApiFunctionName', { value: c.appApi.function.functionName });
    new CfnOutput(this, 'EventsFunctionName', {
      description: 'Recycle it with pbx-api after changing the APNs keys (it sends the end-of-call alerts)',
      value: c.events.function.functionName,
    });
    new CfnOutput(this, 'EventsTopicArn', {
      description: 'Every call event; subscribe with filter policies on the tenantId and type attributes',
      value: c.eventsTopic.topicArn,
    });
    new CfnOutput(this, 'CallbackDeadLetterQueueUrl', {
      description: 'Callbacks given up on after a day of retries (alarmed)',
      value: c.queues.callbackDeadLetters.queueUrl,
    });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', {
      description: 'Stream batches the events function kept failing on, and records it could not read (alarmed)',
      value: c.queues.eventsDeadLetters.queueUrl,
    });
    new CfnOutput(this, 'RingTimerDeadLetterQueueUrl', {
      description: 'Ring timers that kept failing (alarmed)',
      value: c.queues.ringTimerDeadLetters.queueUrl,
    });
    if (c.monitoring !== undefined) {
      new CfnOutput(this, 'AlarmTopicArn', {
        description: 'Every alarm notifies this topic (ALARM and OK); subscribe e-mail, chat or paging to it',
        value: c.monitoring.alarmTopic.topicArn,
      });
      new CfnOutput(this, 'DashboardName', {
        description: 'The CloudWatch dashboard: calls, pushes, latencies, outcomes, callbacks, Lambda, API, DynamoDB',
        value: c.monitoring.dashboard.dashboardName,
      });
    }
  }
}

/**
 * Reads the {@link CONTEXT_KEYS} from `node`'s context. Values given with `-c key=value` are
 * strings; values from cdk.json may be numbers or booleans: both are accepted. Absent keys stay
 * absent (the construct applies its defaults); malformed values throw, naming the key.
 */
export function callwakePropsFromContext(node: Node): CallwakeProps {
  const get = (key: (typeof CONTEXT_KEYS)[number]): unknown => {
    const value: unknown = node.tryGetContext(key);
    return value === '' || value === null ? undefined : value;
  };
  const props: { -readonly [K in keyof CallwakeProps]: CallwakeProps[K] } = {};

  const env = str(get('defaultApnsEnvironment'), 'defaultApnsEnvironment');
  if (env !== undefined) {
    if (!(APNS_ENVIRONMENTS as readonly string[]).includes(env)) {
      throw new Error(`context defaultApnsEnvironment must be one of ${APNS_ENVIRONMENTS.join(', ')}, got "${env}"`);
    }
    props.defaultApnsEnvironment = env as ApnsEnvironment;
  }
  const tenantSecretName = str(get('tenantSecretName'), 'tenantSecretName');
  if (tenantSecretName !== undefined) props.tenantSecretName = tenantSecretName;
  const apnsKeySecretName = str(get('apnsKeySecretName'), 'apnsKeySecretName');
  if (apnsKeySecretName !== undefined) props.apnsKeySecretName = apnsKeySecretName;
  const tokenKeySecretName = str(get('tokenKeySecretName'), 'tokenKeySecretName');
  if (tokenKeySecretName !== undefined) props.tokenKeySecretName = tokenKeySecretName;
  const secretNamePrefix = str(get('secretNamePrefix'), 'secretNamePrefix');
  if (secretNamePrefix !== undefined) props.secretNamePrefix = secretNamePrefix;

  for (const [key, replacement] of Object.entries(REMOVED_CONTEXT_KEYS)) {
    if (node.tryGetContext(key) !== undefined) throw new Error(`context ${key} is no longer read: ${replacement}`);
  }

  for (const key of NUMBER_CONTEXT_KEYS) {
    const value = num(get(key), key);
    if (value !== undefined) props[key] = value;
  }
  const publicBaseUrl = str(get('publicBaseUrl'), 'publicBaseUrl');
  if (publicBaseUrl !== undefined) props.publicBaseUrl = publicBaseUrl;

  const days = num(get('logRetentionDays'), 'logRetentionDays');
  if (days !== undefined) {
    const allowed = Object.values(RetentionDays).filter(
      (v): v is RetentionDays => typeof v === 'number' && v !== RetentionDays.INFINITE,
    );
    if (!allowed.includes(days as RetentionDays)) {
      throw new Error(
        `context logRetentionDays must be one of CloudWatch's retention periods (${allowed.join(', ')}), got ${days}`,
      );
    }
    props.logRetention = days as RetentionDays;
  }

  const removal = str(get('tableRemovalPolicy'), 'tableRemovalPolicy');
  if (removal !== undefined) {
    const policy = ({ retain: RemovalPolicy.RETAIN, destroy: RemovalPolicy.DESTROY } as const)[
      removal.toLowerCase() as 'retain' | 'destroy'
    ];
    if (policy === undefined) {
      throw new Error(`context tableRemovalPolicy must be "retain" or "destroy", got "${removal}"`);
    }
    props.tableRemovalPolicy = policy;
  }

  const logLevel = str(get('logLevel'), 'logLevel')?.toUpperCase();
  if (logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
      throw new Error(`context logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
    }
    props.logLevel = logLevel as LogLevelName;
  }

  const edgeOriginDomainName = str(get('edgeOriginDomainName'), 'edgeOriginDomainName');
  const edgeOriginCertificateArn = str(get('edgeOriginCertificateArn'), 'edgeOriginCertificateArn');
  const wafRateLimitPer5Min = num(get('edgeWafRateLimitPer5Min'), 'edgeWafRateLimitPer5Min');
  const webAclArn = str(get('edgeWebAclArn'), 'edgeWebAclArn');
  const keepExecuteApiEndpoint = bool(get('edgeKeepExecuteApiEndpoint'), 'edgeKeepExecuteApiEndpoint');
  if (edgeOriginDomainName !== undefined || edgeOriginCertificateArn !== undefined) {
    if (edgeOriginDomainName === undefined || edgeOriginCertificateArn === undefined) {
      throw new Error('context edgeOriginDomainName and edgeOriginCertificateArn go together: the edge needs both');
    }
    props.edge = {
      originDomainName: edgeOriginDomainName,
      originCertificateArn: edgeOriginCertificateArn,
      ...(wafRateLimitPer5Min === undefined ? {} : { wafRateLimitPer5Min }),
      ...(webAclArn === undefined ? {} : { webAclArn }),
      ...(keepExecuteApiEndpoint === undefined ? {} : { keepExecuteApiEndpoint }),
    };
  } else if (wafRateLimitPer5Min !== undefined || webAclArn !== undefined || keepExecuteApiEndpoint !== undefined) {
    throw new Error(
      'context edgeWafRateLimitPer5Min, edgeWebAclArn and edgeKeepExecuteApiEndpoint need the edge: ' +
        'edgeOriginDomainName and edgeOriginCertificateArn',
    );
  }

  const tracing = bool(get('tracing'), 'tracing');
  if (tracing !== undefined) props.tracing = tracing;

  const customDomainName = str(get('customDomainName'), 'customDomainName');
  const customDomainCertificateArn = str(get('customDomainCertificateArn'), 'customDomainCertificateArn');
  if (customDomainName !== undefined || customDomainCertificateArn !== undefined) {
    if (customDomainName === undefined || customDomainCertificateArn === undefined) {
      throw new Error(
        'context customDomainName and customDomainCertificateArn go together: the custom domain needs both',
      );
    }
    props.customDomain = { domainName: customDomainName, certificate: customDomainCertificateArn };
  }

  for (const prop of Object.values(RESERVED_CONCURRENCY_PROPS)) {
    const value = get(prop);
    if (value === undefined) continue;
    props[prop] = value === false || value === 'false' || value === 'none' ? false : num(value, prop);
  }
  const metricsByTenant = bool(get('metricsByTenant'), 'metricsByTenant');
  if (metricsByTenant !== undefined) props.metricsByTenant = metricsByTenant;
  const secretsMaxAgeSeconds = num(get('secretsMaxAgeSeconds'), 'secretsMaxAgeSeconds');
  if (secretsMaxAgeSeconds !== undefined) props.secretsMaxAgeSeconds = secretsMaxAgeSeconds;

  const monitoring = bool(get('monitoring'), 'monitoring');
  const thresholds: { -readonly [K in keyof MonitoringProps]: MonitoringProps[K] } = {};
  for (const [key, member] of Object.entries(ALARM_CONTEXT_KEYS) as [
    keyof typeof ALARM_CONTEXT_KEYS,
    keyof MonitoringProps,
  ][]) {
    const value = num(get(key), key);
    if (value !== undefined) thresholds[member] = value;
  }
  if (monitoring === false) {
    if (Object.keys(thresholds).length > 0) {
      throw new Error('context alarm* thresholds need the monitoring, which monitoring=false turns off');
    }
    props.monitoring = false;
  } else if (Object.keys(thresholds).length > 0) {
    props.monitoring = thresholds;
  }

  return props;
}

function str(value: unknown, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`context ${key} must be a string, got ${JSON.stringify(value)}`);
  return value.trim();
}

function num(value: unknown, key: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new Error(`context ${key} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function bool(value: unknown, key: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
}
