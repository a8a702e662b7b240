/**
 * The callwake service as one reusable construct: one DynamoDB table, two API functions
 * (pbx-api, app-api), three Secrets Manager secrets and one HTTP API in front; and the events
 * path behind the table's stream: three more functions (events, callbacks, ring-timer), the events
 * topic, the callback and ring-timer queues, three dead-letter queues and an alarm on each.
 * Each route of the API is throttled on its own; with `customDomain` it is served on the
 * operator's name (lib/custom-domain.ts); with `edge`, CloudFront and an AWS WAF rate limit per
 * client IP stand in front of it, the only way in (lib/edge.ts). Unless `monitoring: false`, an
 * alarm topic, alarms and a dashboard watch it all (lib/monitoring.ts). The two API functions have
 * reserved concurrency: app-api, which carries the answers, cannot be starved by pbx-api.
 *
 * ```
 * PBX  --signed webhook-->  HTTP API  ANY /v1/pbx/{proxy+} --> pbx-api --> table, APNs
 * app  --bearer token--->   HTTP API  ANY /v1/app/{proxy+} --> app-api --> table (CALL# items)
 *                                      $default            --> app-api (problem+json 404)
 *
 * table stream (CALL#, USER#) --> events --> events topic (SNS: operators subscribe)
 *                                        \-> callback queue --> callbacks --> tenants' signed callbacks
 *                                        \-> ring-timer queue (delayed) --> ring-timer --> table (expiredAt)
 *                                        \-> APNs (end-of-call alerts)
 * failures: events DLQ, callback DLQ, ring-timer DLQ, each with an alarm
 * alarms (these and the monitoring's) --> alarm topic (SNS, its own KMS key) --> operators
 * ```
 */
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, SecretValue, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, type IEventSourceDlq, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret, type SecretStringGenerator } from 'aws-cdk-lib/aws-secretsmanager';
import { type CfnTopic, Topic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  PARTITION_KEY,
  PREFIX,
  SORT_KEY,
  STREAM_VIEW_TYPE,
  TTL_ATTRIBUTE,
} from '../functions/adapters/table-layout.js';
import { API_FUNCTION_TIMEOUT_SECONDS, DEFAULT_TENANT_LIMITS } from '../functions/config.js';
import { APNS_ENVIRONMENTS, type ApnsEnvironment } from '../functions/core/call.js';
import {
  type CallwakeCustomDomain,
  type CustomDomainProps,
  checkCustomDomain,
  customDomainOf,
} from './custom-domain.js';
import { type CallwakeEdge, type EdgeProps, edgeInFront, type ResolvedEdge, resolveEdge } from './edge.js';
import { HOUSE_LOG_RETENTION, HouseFunction } from './lambda-defaults.js';
import {
  type CallwakeMonitoring,
  type MonitoringProps,
  type MonitoringThresholds,
  monitoringOf,
  resolveMonitoring,
  SERVICE_FUNCTIONS,
  type ServiceFunction,
  serviceNameOf,
} from './monitoring.js';

/** Core's, re-exported: the type of {@link CallwakeProps.defaultApnsEnvironment} and the values it may take. */
export { APNS_ENVIRONMENTS, type ApnsEnvironment };

export type LogLevelName = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export const LOG_LEVELS: readonly LogLevelName[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

/** The key id of the call-token signing key generated at the first deployment. */
export const INITIAL_TOKEN_KEY_ID = 'k1';

/** Sizing of the two API functions (see docs/deploy.md for the reasoning). */
export const PBX_API_MEMORY_MB = 512;
export const APP_API_MEMORY_MB = 256;
/**
 * Both API functions hold a request (`Prefer: wait`) for up to 20 s, so their timeout is the
 * functions' own {@link API_FUNCTION_TIMEOUT_SECONDS}; the webhook answers within 9 s anyway.
 */
export const PBX_API_TIMEOUT = Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS);
export const APP_API_TIMEOUT = Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS);
/**
 * How long API Gateway waits for either function: longer than their timeout, so a held request
 * is answered by the function, never cut off as a 503 by API Gateway (its maximum is 30 s).
 */
export const API_INTEGRATION_TIMEOUT = Duration.seconds(29);

/**
 * Sizing of the events path's functions. callbacks and ring-timer are I/O-bound (a few AWS calls,
 * one HTTPS POST per callback); 256 MB keeps their cold start (bundled SDK, TLS) short, which the
 * ring timer's "within 2 s of the ring end" needs most. events also sends the end-of-call alerts
 * through the same APNs pusher as the rings (ES256 provider tokens, HTTP/2 over TLS): pbx-api's
 * memory, for pbx-api's reason.
 */
export const EVENTS_MEMORY_MB = PBX_API_MEMORY_MB;
export const CALLBACKS_MEMORY_MB = 256;
export const RING_TIMER_MEMORY_MB = 256;
/** A batch of up to 100 stream records: a few SNS, SQS and DynamoDB round trips each. */
export const EVENTS_TIMEOUT = Duration.seconds(30);
/** A delivery: a 5 s attempt, a retry within 1 s, a second 5 s attempt, then a queue send. */
export const CALLBACKS_TIMEOUT = Duration.seconds(30);
/** A timer arrives up to ~2 s before the ring end, waits it out, then one conditional write. */
export const RING_TIMER_TIMEOUT = Duration.seconds(10);
/** Lambda's advice for SQS event sources: a queue's visibility timeout is 6 times the function's timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** A message that failed this many receives goes to its queue's dead-letter queue. */
export const MAX_RECEIVE_COUNT = 5;
/** Callback deliveries in flight at once: a burst of hanging receivers cannot take the API's concurrency. */
export const CALLBACKS_MAX_CONCURRENCY = 20;

/**
 * Reserved concurrency of the two API functions, within the 1,000 concurrent executions a region
 * of an account has by default (Lambda keeps 100 of them unreserved), leaving 300 for the events
 * path and anything else of the account. app-api carries the answers and the woken phones' held
 * reads (up to 20 s each, one or two per ringing device): its 400 are its own whatever pbx-api
 * does. pbx-api's 300 are also its ceiling: a ring holds an execution until APNs answers (up to
 * the push deadline + 1 s) and a PBX's held read up to 20 s, so a slow APNs makes pbx-api's
 * executions pile up; capped, it can take no more than its share (docs/deploy.md, Concurrency).
 */
export const PBX_API_RESERVED_CONCURRENCY = 300;
export const APP_API_RESERVED_CONCURRENCY = 400;
/** What Lambda requires to stay unreserved in an account's region. */
export const LAMBDA_MIN_UNRESERVED_CONCURRENCY = 100;
/** Lambda's bounds of an SQS event source's maximum concurrency. */
export const SQS_MAX_CONCURRENCY_MIN = 2;
export const SQS_MAX_CONCURRENCY_MAX = 1000;
/** The functions' bound of `SECRETS_MAX_AGE_SECONDS` (functions/config.ts secretsMaxAgeOf). */
export const SECRETS_MAX_AGE_SECONDS_MAX = 3600;

/** Bounds of `pushDeadlineMs`: the webhook must answer within it + 1 s, well under pbx-api's timeout. */
export const PUSH_DEADLINE_MS_MIN = 1000;
export const PUSH_DEADLINE_MS_MAX = 8000;

export const CALLWAKE_DEFAULTS = {
  defaultApnsEnvironment: 'production',
  pushDeadlineMs: 5000,
  pbxRateLimit: 100,
  pbxBurstLimit: 200,
  appRateLimit: 200,
  appBurstLimit: 400,
  unmatchedRateLimit: 10,
  unmatchedBurstLimit: 20,
  // The functions' own defaults, so an environment without them means the same.
  tenantRequestsPerSecond: DEFAULT_TENANT_LIMITS.requestsPerSecond,
  tenantRingingCalls: DEFAULT_TENANT_LIMITS.ringingCalls,
  logRetention: HOUSE_LOG_RETENTION,
  tableRemovalPolicy: RemovalPolicy.RETAIN,
  logLevel: 'INFO',
  tracing: false,
  pbxApiReservedConcurrency: PBX_API_RESERVED_CONCURRENCY,
  appApiReservedConcurrency: APP_API_RESERVED_CONCURRENCY,
  eventsReservedConcurrency: false,
  callbacksReservedConcurrency: false,
  ringTimerReservedConcurrency: false,
  metricsByTenant: false,
  secretsMaxAgeSeconds: 60,
} as const;

/** The props naming a function's reserved concurrency, by function. */
export const RESERVED_CONCURRENCY_PROPS = {
  'pbx-api': 'pbxApiReservedConcurrency',
  'app-api': 'appApiReservedConcurrency',
  events: 'eventsReservedConcurrency',
  callbacks: 'callbacksReservedConcurrency',
  'ring-timer': 'ringTimerReservedConcurrency',
} as const satisfies Record<ServiceFunction, keyof CallwakeProps>;

/** A function's reserved concurrency: a number of concurrent executions, or `false` for none. */
export type ReservedConcurrency = number | false;

export interface CallwakeProps {
  /**
   * APNs environment for devices given inline in a webhook (registered devices carry their own).
   * @default 'production'
   */
  readonly defaultApnsEnvironment?: ApnsEnvironment;
  /**
   * Name of an existing Secrets Manager secret holding the tenants' PBX signing secrets,
   * `{"<tenantId>": ["<secret>", ...]}`.
   * @default - a secret `<secretNamePrefix>/tenant-secrets` is created holding `{}`
   */
  readonly tenantSecretName?: string;
  /**
   * Name of an existing secret holding the APNs signing keys,
   * `{"<teamId>": {"keyId": "...", "privateKey": "<PEM .p8>"}}`.
   * @default - a secret `<secretNamePrefix>/apns-keys` is created holding `{}`
   */
  readonly apnsKeySecretName?: string;
  /**
   * Name of an existing secret holding the call-token signing keys,
   * `{"current": "<kid>", "keys": {"<kid>": "<random>"}}` (or `{"kid": "...", "key": "..."}`).
   * @default - a secret `<secretNamePrefix>/token-keys` is created with a generated key
   */
  readonly tokenKeySecretName?: string;
  /**
   * Prefix of the names of the secrets this construct creates.
   * @default - the stack name
   */
  readonly secretNamePrefix?: string;
  /**
   * How long the webhook waits for APNs before answering (`Timeout` deliveries), in ms.
   * @default 5000
   */
  readonly pushDeadlineMs?: number;
  /**
   * Public base URL of the API when something of yours serves it under another name, e.g.
   * `https://calls.example.com` (without `/v1`). Pushes then point apps at it. Not with
   * `customDomain` (which sets it) nor with `edge`.
   * @default - the functions derive it from each request
   */
  readonly publicBaseUrl?: string;
  /**
   * The API on a DNS name of yours: an API Gateway custom domain (regional, TLS 1.2) for
   * `domainName` with your ACM certificate, mapped to the stage. Pushes point apps at
   * `https://<domainName>` (`PUBLIC_BASE_URL`) and `apiUrl` is it; point the name at the
   * `CustomDomainTarget` output. With `edge`, only during its switch-over
   * (`edge.keepExecuteApiEndpoint`): a custom domain would be a way in around the WAF.
   * @default - none: the `execute-api` endpoint (or the edge's distribution)
   */
  readonly customDomain?: CustomDomainProps;
  /**
   * Steady-state requests per second API Gateway lets through to the PBX routes
   * (`ANY /v1/pbx/{proxy+}`), all tenants together; above it, 429 from API Gateway.
   * @default 100
   */
  readonly pbxRateLimit?: number;
  /** Burst of the PBX routes, requests. @default 200 */
  readonly pbxBurstLimit?: number;
  /** Steady-state requests per second of the app routes (`ANY /v1/app/{proxy+}`), all phones together. @default 200 */
  readonly appRateLimit?: number;
  /** Burst of the app routes, requests. @default 400 */
  readonly appBurstLimit?: number;
  /**
   * Steady-state requests per second of `$default`: paths no route matches, which only ever get a
   * 404 (also the limit of any route added without limits of its own).
   * @default 10
   */
  readonly unmatchedRateLimit?: number;
  /** Burst of `$default`, requests. @default 20 */
  readonly unmatchedBurstLimit?: number;
  /**
   * A tenant's signed PBX requests per second, unless the tenant's own configuration sets another;
   * above it, 429 `rate_limited` (pbx-api's `TENANT_REQUESTS_PER_SECOND`).
   * @default 50
   */
  readonly tenantRequestsPerSecond?: number;
  /**
   * A tenant's calls ringing at once, unless the tenant's own configuration sets another; a ring
   * beyond it gets 429 `rate_limited` (pbx-api's `TENANT_RINGING_CALLS`).
   * @default 200
   */
  readonly tenantRingingCalls?: number;
  /**
   * CloudFront with an AWS WAF rate limit per client IP in front of the API, and API Gateway's
   * `execute-api` endpoint turned off (lib/edge.ts; docs/deploy.md says what it needs: an origin
   * name and certificate of yours, and the stack in us-east-1 unless you bring the web ACL).
   * Pushes then point apps at the distribution's URL.
   * @default - none: clients call the `execute-api` endpoint (or `publicBaseUrl`)
   */
  readonly edge?: EdgeProps;
  /** Retention of function and access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the table (and the secrets this construct creates) when the stack is deleted
   * or they are removed from it. `RETAIN` also turns on the table's deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /** `LOG_LEVEL` of every function. @default 'INFO' */
  readonly logLevel?: LogLevelName;
  /** X-Ray active tracing on every function. @default false */
  readonly tracing?: boolean;
  /**
   * The alarm topic, the alarms (with these thresholds) and the dashboard; `false` builds none of
   * them (the dead-letter alarms stay, without an action).
   * @default true - every threshold at its default (MONITORING_DEFAULTS)
   */
  readonly monitoring?: boolean | MonitoringProps;
  /**
   * Concurrent executions reserved for pbx-api, which are also the most it runs at once (a slow
   * APNs cannot make it take the account's concurrency); `false`: none, no cap.
   * @default 300
   */
  readonly pbxApiReservedConcurrency?: ReservedConcurrency;
  /**
   * Concurrent executions reserved for app-api, which carries the answers: pbx-api cannot starve
   * it. Also its ceiling. `false`: none.
   * @default 400
   */
  readonly appApiReservedConcurrency?: ReservedConcurrency;
  /** Reserved for the events function (one execution per stream shard is all it uses). @default false */
  readonly eventsReservedConcurrency?: ReservedConcurrency;
  /**
   * Reserved for the callbacks function; at least its queue's maximum concurrency
   * (`CALLBACKS_MAX_CONCURRENCY`, 20), or deliveries are throttled back to the queue.
   * @default false
   */
  readonly callbacksReservedConcurrency?: ReservedConcurrency;
  /**
   * Reserved for the ring-timer function; its queue's event source then polls with at most that
   * many (up to 1,000) at once, so timers wait in the queue rather than being throttled.
   * @default false
   */
  readonly ringTimerReservedConcurrency?: ReservedConcurrency;
  /**
   * The tenant as a dimension of the functions' metrics (`METRICS_BY_TENANT`): per-tenant graphs,
   * one more custom metric per tenant and metric.
   * @default false
   */
  readonly metricsByTenant?: boolean;
  /**
   * How long warm functions keep a secret before reading it again (`SECRETS_MAX_AGE_SECONDS` of
   * pbx-api, app-api and callbacks): an added or removed tenant secret or token key takes effect
   * everywhere within it. 1 to 3600.
   * @default 60
   */
  readonly secretsMaxAgeSeconds?: number;
}

/** A secret the functions read, and its name (what goes into their environment). */
export interface NamedSecret {
  readonly secret: ISecret;
  /** The secret's name: always a plain string, never a token or a value. */
  readonly name: string;
  /** Whether this construct created the secret (false: imported by name). */
  readonly created: boolean;
}

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

export class Callwake extends Construct {
  readonly table: Table;
  readonly pbxApi: HouseFunction;
  readonly appApi: HouseFunction;
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly tenantSecrets: NamedSecret;
  readonly apnsKeys: NamedSecret;
  readonly tokenKeys: NamedSecret;
  /**
   * Where clients reach the API, with a trailing slash: the default endpoint
   * (`https://<id>.execute-api.<region>.amazonaws.com/`), or with `edge` the distribution's
   * (`https://<id>.cloudfront.net/`).
   */
  readonly apiUrl: string;
  /** The CloudFront distribution, web ACL and origin domain in front of the API, with `edge`. */
  readonly edge: CallwakeEdge | undefined;
  /** The API Gateway custom domain clients call, with `customDomain`. */
  readonly customDomain: CallwakeCustomDomain | undefined;
  /** The alarm topic, the alarms and the dashboard; undefined with `monitoring: false`. */
  readonly monitoring: CallwakeMonitoring | undefined;
  /**
   * Every call event, published by the events function with the message attributes `tenantId`
   * and `type` (String): subscribe with filter policies on them.
   */
  readonly eventsTopic: Topic;
  /** Reads the table's stream: events to the topic, deliveries to the callback queue, ring timers. */
  readonly events: HouseFunction;
  /** Delivers each tenant's signed callbacks from the callback queue. */
  readonly callbacks: HouseFunction;
  /** Marks calls that rang out (their `call.expired`), from the ring-timer queue. */
  readonly ringTimer: HouseFunction;
  /** The queues of the events path and their dead-letter queues. */
  readonly queues: EventQueues;
  /** One alarm per dead-letter queue: it goes off when a message is in it. */
  readonly deadLetterAlarms: DeadLetterAlarms;

  // The builders below take this construct as their scope and keep the construct ids they have
  // always had: the logical ids of a deployed stack's resources depend on them.
  constructor(scope: Construct, id: string, props: CallwakeProps = {}) {
    super(scope, id);
    const config = resolveProps(props, Stack.of(this).region);
    const secretPrefix = secretNamePrefix(this, props.secretNamePrefix);

    this.table = callTable(this, config.tableRemovalPolicy);

    const secrets = serviceSecrets(this, props, secretPrefix, config.tableRemovalPolicy);
    this.tenantSecrets = secrets.tenantSecrets;
    this.apnsKeys = secrets.apnsKeys;
    this.tokenKeys = secrets.tokenKeys;

    this.pbxApi = pbxApiFunction(this, this.table, secrets, config);
    this.appApi = appApiFunction(this, this.table, secrets, config);
    grantPbxApiItemsAndSecrets(this.pbxApi, this.table, secrets);
    grantAppApiCallDecisionsAndTokenKeys(this.appApi, this.table, secrets);

    this.httpApi = routedHttpApi(this, this.pbxApi, this.appApi, config);
    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: config.logRetention });
    this.stage = throttledStage(this, this.httpApi, this.accessLogs, config);
    this.customDomain =
      props.customDomain === undefined ? undefined : customDomainOf(this, this.httpApi, this.stage, props.customDomain);
    this.edge = config.edge === undefined ? undefined : edgeInFront(this, this.httpApi, this.stage, config.edge);
    if (this.edge !== undefined && config.edge?.keepExecuteApiEndpoint !== true) {
      // The request's own domain is API Gateway's origin name: pushes must carry CloudFront's.
      for (const fn of [this.pbxApi, this.appApi]) fn.function.addEnvironment('PUBLIC_BASE_URL', this.edge.baseUrl);
    }
    // With the edge, clients' way in is the distribution (during a switch-over, the default
    // endpoint or the custom domain too); else the custom domain, else the default endpoint.
    this.apiUrl =
      this.edge !== undefined
        ? `${this.edge.baseUrl}/`
        : this.customDomain !== undefined
          ? `${this.customDomain.baseUrl}/`
          : this.stage.url;

    this.eventsTopic = encryptedEventsTopic(this);
    this.queues = eventQueues(this);
    this.events = eventsFunction(this, this.table, secrets, this.eventsTopic, this.queues, config);
    this.callbacks = callbacksFunction(this, secrets, this.queues, config);
    this.ringTimer = ringTimerFunction(this, this.table, config);
    feedEventsFromTableStream(this.events, this.table, this.queues.eventsDeadLetters);
    feedFromQueue(this.callbacks, this.queues.callbacks, { maxConcurrency: CALLBACKS_MAX_CONCURRENCY });
    feedFromQueue(this.ringTimer, this.queues.ringTimers, ringTimerSourceConcurrency(config));
    grantEventsWebhooksAlertsTopicAndQueues(this.events, this.table, secrets, this.eventsTopic, this.queues);
    grantCallbacksTenantSecretsAndRetries(this.callbacks, secrets, this.queues);
    grantRingTimerCallExpiry(this.ringTimer, this.table);
    this.deadLetterAlarms = deadLetterAlarms(this, this.queues);
    this.monitoring =
      config.monitoring === undefined
        ? undefined
        : monitoringOf(this, this.monitoredService(config), config.monitoring);
  }

  private monitoredService(config: ResolvedProps) {
    const q = this.queues;
    const a = this.deadLetterAlarms;
    return {
      functions: {
        'pbx-api': this.pbxApi,
        'app-api': this.appApi,
        events: this.events,
        callbacks: this.callbacks,
        'ring-timer': this.ringTimer,
      },
      httpApi: this.httpApi,
      table: this.table,
      deadLetters: [
        { name: 'events', queue: q.eventsDeadLetters, alarm: a.events },
        { name: 'callbacks', queue: q.callbackDeadLetters, alarm: a.callbacks },
        { name: 'ring timers', queue: q.ringTimerDeadLetters, alarm: a.ringTimers },
      ],
      metricsByTenant: config.metricsByTenant,
    };
  }
}

/** Secret names are plain strings in the functions' environment: the prefix cannot be a token. */
function secretNamePrefix(scope: Construct, prefix: string | undefined): string {
  const resolved = prefix ?? Stack.of(scope).stackName;
  if (Token.isUnresolved(resolved) || !SECRET_NAME.test(`${resolved}/x`)) {
    throw new Error(`secretNamePrefix must be a plain secret-name prefix, got "${resolved}"`);
  }
  return resolved;
}

/**
 * The single table; its key names, TTL attribute and stream view type are the stores' and the
 * events function's (see table-layout.ts).
 */
function callTable(scope: Construct, removalPolicy: RemovalPolicy): Table {
  return new Table(scope, 'Table', {
    partitionKey: { name: PARTITION_KEY, type: AttributeType.STRING },
    sortKey: { name: SORT_KEY, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: TTL_ATTRIBUTE,
    stream: StreamViewType[STREAM_VIEW_TYPE],
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    // The AWS managed key `aws/dynamodb`: encrypted with KMS, every use in CloudTrail, no key
    // to administer or pay for, and no kms:* grants needed on the function roles.
    encryption: TableEncryption.AWS_MANAGED,
    removalPolicy,
    deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
  });
}

interface ServiceSecrets {
  readonly tenantSecrets: NamedSecret;
  readonly apnsKeys: NamedSecret;
  readonly tokenKeys: NamedSecret;
}

/**
 * The three secrets, each imported by the name the operator gave or else created. They share the
 * table's removal policy: both hold state a redeploy cannot recreate.
 */
function serviceSecrets(
  scope: Construct,
  props: CallwakeProps,
  prefix: string,
  removalPolicy: RemovalPolicy,
): ServiceSecrets {
  return {
    tenantSecrets: namedSecret(scope, 'TenantSecrets', props.tenantSecretName, {
      name: `${prefix}/tenant-secrets`,
      description: 'callwake: PBX signing secrets per tenant, {"<tenantId>": ["<secret>", ...]} (two during rotation)',
      value: SecretValue.unsafePlainText('{}'), // no tenant yet: valid, empty
      removalPolicy,
      rotationReason:
        "Tenant secrets are shared with each tenant's PBX, which signs with them; AWS cannot " +
        'change them on its own. Rotation is the two-active-secrets procedure of the contract ' +
        '(add the new secret, switch the PBX, remove the old one), documented in docs/deploy.md.',
    }),
    apnsKeys: namedSecret(scope, 'ApnsKeys', props.apnsKeySecretName, {
      name: `${prefix}/apns-keys`,
      description: 'callwake: APNs token-auth keys per team, {"<teamId>": {"keyId": "...", "privateKey": "<PEM .p8>"}}',
      value: SecretValue.unsafePlainText('{}'), // no team yet: valid, empty
      removalPolicy,
      rotationReason:
        'APNs .p8 keys are created and revoked in the Apple Developer portal; AWS cannot issue ' +
        'a new one. Replacing a key is a put-secret-value documented in docs/deploy.md.',
    }),
    tokenKeys: namedSecret(scope, 'TokenKeys', props.tokenKeySecretName, {
      name: `${prefix}/token-keys`,
      description:
        'callwake: call-token signing keys, {"current": "<kid>", "keys": {"<kid>": "<random>"}} or {"kid", "key"}',
      generate: {
        secretStringTemplate: JSON.stringify({ kid: INITIAL_TOKEN_KEY_ID }),
        generateStringKey: 'key',
        passwordLength: 64,
        excludePunctuation: true,
        includeSpace: false,
      },
      removalPolicy,
      rotationReason:
        'A new signing key must be added next to the old one, which stays until every token it ' +
        'signed has expired (ring timeout + 1 h), and only then removed; a stock rotation ' +
        'function replaces the value at once and would invalidate ringing calls. The manual ' +
        'rotation procedure is documented in docs/deploy.md.',
    }),
  };
}

interface SecretToCreate {
  readonly name: string;
  readonly description: string;
  readonly value?: SecretValue;
  readonly generate?: SecretStringGenerator;
  readonly removalPolicy: RemovalPolicy;
  /** Why the secret has no automatic rotation, for cdk-nag. */
  readonly rotationReason: string;
}

/** Imports the secret `existingName`, or creates one. */
function namedSecret(
  scope: Construct,
  id: string,
  existingName: string | undefined,
  create: SecretToCreate,
): NamedSecret {
  if (existingName !== undefined) {
    return {
      secret: Secret.fromSecretNameV2(scope, id, existingName),
      name: existingName,
      created: false,
    };
  }
  const secret = new Secret(scope, id, {
    secretName: create.name,
    description: create.description,
    removalPolicy: create.removalPolicy,
    ...(create.value === undefined ? {} : { secretStringValue: create.value }),
    ...(create.generate === undefined ? {} : { generateSecretString: create.generate }),
  });
  Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: create.rotationReason });
  return { secret, name: create.name, created: true };
}

/**
 * What both functions are told. Each is told the names of the secrets it may read, and no others
 * (the code treats an absent TENANT_SECRETS_NAME / APNS_KEYS_SECRET_NAME as "not needed here").
 */
function sharedEnvironment(table: Table, secrets: ServiceSecrets, config: ResolvedProps): Record<string, string> {
  return {
    TABLE_NAME: table.tableName,
    TOKEN_KEYS_SECRET_NAME: secrets.tokenKeys.name,
    APNS_DEFAULT_ENVIRONMENT: config.defaultApnsEnvironment,
    SECRETS_MAX_AGE_SECONDS: String(config.secretsMaxAgeSeconds),
    ...(config.publicBaseUrl === undefined ? {} : { PUBLIC_BASE_URL: config.publicBaseUrl }),
  };
}

/**
 * What every function's logging and metrics read (functions/adapters/observability.ts): the log
 * level, the service name (the `service` dimension of its metrics, which the alarms and the
 * dashboard name), and whether metrics carry the tenant.
 */
function observabilityEnvironment(fn: ServiceFunction, config: ResolvedProps): Record<string, string> {
  return {
    LOG_LEVEL: config.logLevel,
    POWERTOOLS_SERVICE_NAME: serviceNameOf(fn),
    METRICS_BY_TENANT: String(config.metricsByTenant),
  };
}

/** A function's {@link HouseFunction} settings that come from the props alike for every function. */
function operatorSettings(fn: ServiceFunction, config: ResolvedProps) {
  const reserved = config.reservedConcurrency[fn];
  return {
    logRetention: config.logRetention,
    tracing: config.tracing,
    ...(reserved === false ? {} : { reservedConcurrency: reserved }),
  };
}

function pbxApiFunction(scope: Construct, table: Table, secrets: ServiceSecrets, config: ResolvedProps): HouseFunction {
  return new HouseFunction(scope, 'PbxApi', {
    entry: entry('pbx-api'),
    description: 'callwake pbx-api: signed PBX webhooks, device registry, APNs pushes',
    // APNs over HTTP/2 + TLS and ES256 signing on the caller-is-waiting path: Lambda gives
    // CPU in proportion to memory, and 512 MB cuts TLS handshake and cold-start time.
    memorySize: PBX_API_MEMORY_MB,
    timeout: PBX_API_TIMEOUT,
    environment: {
      ...sharedEnvironment(table, secrets, config),
      TENANT_SECRETS_NAME: secrets.tenantSecrets.name,
      APNS_KEYS_SECRET_NAME: secrets.apnsKeys.name,
      PUSH_DEADLINE_MS: String(config.pushDeadlineMs),
      // The default limits of a tenant whose own configuration sets none.
      TENANT_REQUESTS_PER_SECOND: String(config.tenantRequestsPerSecond),
      TENANT_RINGING_CALLS: String(config.tenantRingingCalls),
      ...observabilityEnvironment('pbx-api', config),
    },
    ...operatorSettings('pbx-api', config),
  });
}

function appApiFunction(scope: Construct, table: Table, secrets: ServiceSecrets, config: ResolvedProps): HouseFunction {
  return new HouseFunction(scope, 'AppApi', {
    entry: entry('app-api'),
    description: 'callwake app-api: call state for apps woken by a push (confirm, answer, decline)',
    // One or two DynamoDB round trips and an HMAC check per request, no TLS to third parties:
    // I/O-bound, so 256 MB is enough CPU; more would mostly be paid-for idle time.
    memorySize: APP_API_MEMORY_MB,
    timeout: APP_API_TIMEOUT,
    environment: {
      ...sharedEnvironment(table, secrets, config),
      ...observabilityEnvironment('app-api', config),
    },
    ...operatorSettings('app-api', config),
  });
}

/**
 * pbx-api rings, cancels and keeps the device registry: the item actions its stores send, each on
 * the items it sends them to, and all three secrets. Nothing else of the table: no Scan, Query,
 * BatchGetItem, BatchWriteItem or ConditionCheckItem.
 * - calls (dynamo-call-store.ts): create and putTombstone PutItem; get GetItem; recordDeliveries
 *   and cancel UpdateItem;
 * - users and push-token owners (dynamo-device-store.ts): GetItem of both; transactions whose Puts
 *   rewrite users' items (devices, settings) and a token's owner, and whose Deletes release an owner;
 * - the shared APNs provider token (dynamo-token-share.ts): GetItem, PutItem;
 * - webhooks (dynamo-webhook-store.ts): GetItem, PutItem (a DELETE writes a marker);
 * - the tenant limits (dynamo-limit-store.ts): UpdateItem of the tenant's request windows
 *   (`RATE#…`) and of its ringing counter (`TENANT#…`, sk `RINGING`).
 */
function grantPbxApiItemsAndSecrets(pbxApi: HouseFunction, table: Table, secrets: ServiceSecrets): void {
  const { call, user, pushToken, providerToken, tenant, rate } = PREFIX;
  grantItems(pbxApi, table, 'PbxGetItems', {
    actions: ['GetItem'],
    prefixes: [call, user, pushToken, providerToken, tenant],
  });
  grantItems(pbxApi, table, 'PbxPutItems', {
    actions: ['PutItem'],
    prefixes: [call, user, pushToken, providerToken, tenant],
  });
  grantItems(pbxApi, table, 'PbxUpdateItems', { actions: ['UpdateItem'], prefixes: [call, tenant, rate] });
  grantItems(pbxApi, table, 'PbxDeleteItems', { actions: ['DeleteItem'], prefixes: [pushToken] });
  secrets.tenantSecrets.secret.grantRead(pbxApi.role);
  secrets.apnsKeys.secret.grantRead(pbxApi.role);
  secrets.tokenKeys.secret.grantRead(pbxApi.role);
}

/**
 * What app-api's UpdateItems name besides the key (dynamo-call-store.ts confirm, answer and
 * decline): the attributes they write, and those their conditions only test. IAM cannot tell the
 * two apart: `dynamodb:Attributes` lists every attribute a request names.
 */
export const APP_API_CALL_ATTRIBUTES = {
  written: ['devices', 'status', 'answeredBy', 'answeredAt', 'declinedBy', 'declinedAt'],
  tested: ['lifetimeEnd', 'expiresAt'],
} as const;

/**
 * What ring-timer's requests name besides the key (dynamo-call-store.ts): its GetItem reads the
 * status alone (isRinging), its one UpdateItem (markExpired) writes and tests the rest.
 */
export const RING_TIMER_CALL_ATTRIBUTES = {
  read: ['status'],
  written: ['expiredAt'],
  tested: ['lifetimeEnd', 'status', 'expiresAt'],
} as const;

/**
 * app-api only serves the woken app: GetItem of call items (the view, and the held request's
 * reads) and UpdateItem of call items (confirm, answer, decline) limited to the attributes those
 * name; the token keys. No PutItem or DeleteItem: each replaces a whole item, so any attribute.
 * `ReturnValues` is not limited: the updates ask for the whole call (ALL_NEW, and ALL_OLD when
 * their condition fails), which GetItem may read anyway.
 */
function grantAppApiCallDecisionsAndTokenKeys(appApi: HouseFunction, table: Table, secrets: ServiceSecrets): void {
  grantItems(appApi, table, 'AppGetCalls', { actions: ['GetItem'], prefixes: [PREFIX.call] });
  grantItems(appApi, table, 'AppDecideCalls', {
    actions: ['UpdateItem'],
    prefixes: [PREFIX.call],
    attributes: [...APP_API_CALL_ATTRIBUTES.written, ...APP_API_CALL_ATTRIBUTES.tested],
  });
  secrets.tokenKeys.secret.grantRead(appApi.role);
}

/** The HTTP API with its routes; the stage is {@link throttledStage}. */
function routedHttpApi(scope: Construct, pbxApi: HouseFunction, appApi: HouseFunction, config: ResolvedProps): HttpApi {
  const pbxIntegration = new HttpLambdaIntegration('PbxApiIntegration', pbxApi.function, {
    payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
    timeout: API_INTEGRATION_TIMEOUT,
  });
  const appIntegration = new HttpLambdaIntegration('AppApiIntegration', appApi.function, {
    payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
    timeout: API_INTEGRATION_TIMEOUT,
  });

  const httpApi = new HttpApi(scope, 'HttpApi', {
    description: "callwake: PBX webhooks (/v1/pbx) and the woken app's API (/v1/app)",
    // A stage of our own, with throttling and access logs.
    createDefaultStage: false,
    // `$default`: any other path reaches app-api, which answers the service's own
    // problem+json 404 instead of API Gateway's {"message":"Not Found"}.
    defaultIntegration: appIntegration,
    // Behind the edge, only through it: the WAF cannot be gone around.
    ...(config.edge === undefined || config.edge.keepExecuteApiEndpoint ? {} : { disableExecuteApiEndpoint: true }),
  });
  httpApi.addRoutes({ path: PBX_ROUTE_PATH, methods: [HttpMethod.ANY], integration: pbxIntegration });
  httpApi.addRoutes({ path: APP_ROUTE_PATH, methods: [HttpMethod.ANY], integration: appIntegration });

  // cdk-nag (AwsSolutions) acknowledgment, scoped to the API's routes.
  Validations.of(httpApi).acknowledge({
    id: 'AwsSolutions-APIG4',
    reason:
      'Authentication is done in the functions, as the HTTP contract defines it: /v1/pbx/* ' +
      'requests carry an HMAC-SHA256 signature over timestamp, method, path and raw body, ' +
      'checked against per-tenant secrets (an HTTP API authorizer never sees the body), and ' +
      '/v1/app/* requests carry a call-scoped token signed with the token keys. $default ' +
      'only answers 404 problems. An authorizer would add a hop to the ringing path.',
  });
  return httpApi;
}

const PBX_ROUTE_PATH = '/v1/pbx/{proxy+}';
const APP_ROUTE_PATH = '/v1/app/{proxy+}';

/** The API's route keys, as the stage's per-route settings name them. */
export const ROUTE_KEYS = {
  pbx: HttpRouteKey.with(PBX_ROUTE_PATH, HttpMethod.ANY).key,
  app: HttpRouteKey.with(APP_ROUTE_PATH, HttpMethod.ANY).key,
  unmatched: HttpRouteKey.DEFAULT.key,
} as const;

/**
 * The `$default` stage: each route throttled on its own (PBX webhooks, the woken apps, and paths
 * no route matches), so junk on one cannot use up another's limit; the stage's default limit is
 * the unmatched paths' one, for any route added later without limits of its own. JSON access logs.
 */
function throttledStage(scope: Construct, httpApi: HttpApi, accessLogs: LogGroup, config: ResolvedProps): HttpStage {
  const stage = new HttpStage(scope, 'DefaultStage', {
    httpApi,
    stageName: '$default',
    autoDeploy: true,
    throttle: { rateLimit: config.unmatched.rateLimit, burstLimit: config.unmatched.burstLimit },
    accessLogSettings: {
      destination: new LogGroupLogDestination(accessLogs),
      format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
    },
  });
  const routeSettings = (limits: RouteLimits) => ({
    ThrottlingRateLimit: limits.rateLimit,
    ThrottlingBurstLimit: limits.burstLimit,
  });
  // The L2 stage has no per-route settings.
  (stage.node.defaultChild as CfnStage).routeSettings = {
    [ROUTE_KEYS.pbx]: routeSettings(config.pbx),
    [ROUTE_KEYS.app]: routeSettings(config.app),
    [ROUTE_KEYS.unmatched]: routeSettings(config.unmatched),
  };
  // A route's settings are refused while the route does not exist yet: the routes come first.
  stage.node.addDependency(httpApi);
  return stage;
}

// ---- The events path ------------------------------------------------------------------------

/** The AWS managed key of SNS, by the alias CloudFormation accepts in any account and region. */
export const SNS_MANAGED_KEY_ALIAS = 'alias/aws/sns';

/**
 * The topic every event is published to, publishing over TLS only. Encrypted with the AWS managed
 * key `aws/sns`: no key to administer, and a principal of the account that may publish needs no
 * kms:* grant (the key's policy lets SNS use it for the account). Subscribers need no key access
 * either: SNS decrypts before it delivers. (AWS services such as CloudWatch cannot publish to a
 * topic under this key; nothing but the events function publishes here.)
 */
function encryptedEventsTopic(scope: Construct): Topic {
  const topic = new Topic(scope, 'EventsTopic', { displayName: 'callwake call events', enforceSSL: true });
  // Set on the resource, not as `masterKey`: the L2 wants a key ARN, which would tie the template
  // to one region and account, and would make `grantPublish` add kms:* grants this key never needs.
  (topic.node.defaultChild as CfnTopic).kmsMasterKeyId = SNS_MANAGED_KEY_ALIAS;
  return topic;
}

/** The events path's queues. Each dead-letter queue has an alarm ({@link deadLetterAlarms}). */
export interface EventQueues {
  /** Callback deliveries, one message each; retries come back here, delayed. */
  readonly callbacks: Queue;
  /** Deliveries given up on after a day of retries (sent by the code), and poison messages. */
  readonly callbackDeadLetters: Queue;
  /** One message per ringing call, delayed by its sender until about a second before the ring end. */
  readonly ringTimers: Queue;
  readonly ringTimerDeadLetters: Queue;
  /**
   * Stream batches that still failed after the event source's retries (Lambda's on-failure
   * record: shard and sequence numbers, to read the records from the stream within its 24 h),
   * and stream records the events function cannot read (sent by the code).
   */
  readonly eventsDeadLetters: Queue;
}

/** Dead letters wait for a person: kept for SQS's maximum, 14 days. */
const DEAD_LETTER_RETENTION = Duration.days(14);

function eventQueues(scope: Construct): EventQueues {
  const callbackDeadLetters = encryptedQueue(scope, 'CallbackDeadLetterQueue', {
    retentionPeriod: DEAD_LETTER_RETENTION,
  });
  const ringTimerDeadLetters = encryptedQueue(scope, 'RingTimerDeadLetterQueue', {
    retentionPeriod: DEAD_LETTER_RETENTION,
  });
  const eventsDeadLetters = encryptedQueue(scope, 'EventsDeadLetterQueue', { retentionPeriod: DEAD_LETTER_RETENTION });
  // Nothing redrives into it (it is a Lambda event source's on-failure destination and the code's
  // own dead letter): cdk-nag cannot see that it is a dead-letter queue.
  Validations.of(eventsDeadLetters).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is itself a dead-letter queue: the on-failure destination of the table-stream ' +
      'event source and where the events function puts stream records it cannot read. Nothing ' +
      'consumes it; its alarm calls a person, who reads it.',
  });
  return {
    callbacks: encryptedQueue(scope, 'CallbackQueue', {
      visibilityTimeout: visibilityTimeoutFor(CALLBACKS_TIMEOUT),
      deadLetterQueue: { queue: callbackDeadLetters, maxReceiveCount: MAX_RECEIVE_COUNT },
    }),
    callbackDeadLetters,
    ringTimers: encryptedQueue(scope, 'RingTimerQueue', {
      visibilityTimeout: visibilityTimeoutFor(RING_TIMER_TIMEOUT),
      deadLetterQueue: { queue: ringTimerDeadLetters, maxReceiveCount: MAX_RECEIVE_COUNT },
    }),
    ringTimerDeadLetters,
    eventsDeadLetters,
  };
}

const visibilityTimeoutFor = (functionTimeout: Duration): Duration =>
  Duration.seconds(functionTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);

/** An SQS queue encrypted with SQS-managed keys (SSE-SQS: no KMS grants needed), reachable over TLS only. */
function encryptedQueue(
  scope: Construct,
  id: string,
  props: Pick<QueueProps, 'visibilityTimeout' | 'retentionPeriod' | 'deadLetterQueue'>,
): Queue {
  return new Queue(scope, id, { ...props, encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true });
}

function eventsFunction(
  scope: Construct,
  table: Table,
  secrets: ServiceSecrets,
  topic: Topic,
  queues: EventQueues,
  config: ResolvedProps,
): HouseFunction {
  return new HouseFunction(scope, 'Events', {
    entry: entry('events'),
    description:
      "callwake events: the table's changes as events, to the topic, tenants' callbacks and ring timers; end-of-call alerts",
    memorySize: EVENTS_MEMORY_MB,
    timeout: EVENTS_TIMEOUT,
    environment: {
      TABLE_NAME: table.tableName,
      EVENTS_TOPIC_ARN: topic.topicArn,
      CALLBACK_QUEUE_URL: queues.callbacks.queueUrl,
      RING_TIMER_QUEUE_URL: queues.ringTimers.queueUrl,
      EVENTS_DLQ_URL: queues.eventsDeadLetters.queueUrl,
      // Missed-call and alert-replacement pushes, with the rings' keys and deadline.
      APNS_KEYS_SECRET_NAME: secrets.apnsKeys.name,
      PUSH_DEADLINE_MS: String(config.pushDeadlineMs),
      ...observabilityEnvironment('events', config),
    },
    ...operatorSettings('events', config),
    wildcardResourceReason:
      "Reading the table's stream through a Lambda event source needs dynamodb:ListStreams, " +
      'which does not support resource-level permissions (IAM requires Resource "*"); the ' +
      "stream's records themselves are readable on this table's stream ARN only.",
  });
}

function callbacksFunction(
  scope: Construct,
  secrets: ServiceSecrets,
  queues: EventQueues,
  config: ResolvedProps,
): HouseFunction {
  return new HouseFunction(scope, 'Callbacks', {
    entry: entry('callbacks'),
    description: "callwake callbacks: signed POSTs of events to tenants' webhooks, retried through the queue",
    memorySize: CALLBACKS_MEMORY_MB,
    timeout: CALLBACKS_TIMEOUT,
    environment: {
      TENANT_SECRETS_NAME: secrets.tenantSecrets.name,
      CALLBACK_QUEUE_URL: queues.callbacks.queueUrl,
      CALLBACK_DLQ_URL: queues.callbackDeadLetters.queueUrl,
      SECRETS_MAX_AGE_SECONDS: String(config.secretsMaxAgeSeconds),
      ...observabilityEnvironment('callbacks', config),
    },
    ...operatorSettings('callbacks', config),
  });
}

function ringTimerFunction(scope: Construct, table: Table, config: ResolvedProps): HouseFunction {
  return new HouseFunction(scope, 'RingTimer', {
    entry: entry('ring-timer'),
    description: 'callwake ring-timer: marks calls still ringing at their ring end as expired',
    memorySize: RING_TIMER_MEMORY_MB,
    timeout: RING_TIMER_TIMEOUT,
    environment: {
      TABLE_NAME: table.tableName,
      ...observabilityEnvironment('ring-timer', config),
    },
    ...operatorSettings('ring-timer', config),
  });
}

/** Stream retries: a batch that keeps failing is split, retried this often, then dead-lettered. */
export const STREAM_RETRY_ATTEMPTS = 10;
/** A record older than this is dead-lettered instead of holding up its shard any longer. */
export const STREAM_MAX_RECORD_AGE = Duration.hours(1);

/**
 * The table's stream into the events function: new changes only (LATEST), call and user items
 * only, inserts and updates only (TTL deletions and the other items say nothing). The handler
 * throws on failure: the batch is retried, bisected, a bounded number of times, and then its
 * on-failure record goes to the events dead-letter queue.
 */
function feedEventsFromTableStream(events: HouseFunction, table: Table, deadLetters: Queue): void {
  events.function.addEventSource(
    new DynamoEventSource(table, {
      startingPosition: StartingPosition.LATEST,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(0),
      bisectBatchOnError: true,
      retryAttempts: STREAM_RETRY_ATTEMPTS,
      maxRecordAge: STREAM_MAX_RECORD_AGE,
      onFailure: sendOnlyDestination(deadLetters),
      filters: [
        FilterCriteria.filter({
          eventName: FilterRule.or('INSERT', 'MODIFY'),
          dynamodb: {
            Keys: { [PARTITION_KEY]: { S: [PREFIX.call, PREFIX.user].map((prefix) => ({ prefix })) } },
          },
        }),
      ],
    }),
  );
}

/**
 * An on-failure destination that grants nothing itself (the stock `SqsDlq` adds GetQueueUrl and
 * GetQueueAttributes): sqs:SendMessage on it is granted with the events function's other sends.
 */
const sendOnlyDestination = (queue: Queue): IEventSourceDlq => ({ bind: () => ({ destination: queue.queueArn }) });

/**
 * The ring-timer queue's event source polls with at most the function's reserved concurrency, so
 * timers beyond it wait in the queue instead of being throttled (and counted as receives).
 */
function ringTimerSourceConcurrency(config: ResolvedProps): { maxConcurrency?: number } {
  const reserved = config.reservedConcurrency['ring-timer'];
  return reserved === false ? {} : { maxConcurrency: Math.min(reserved, SQS_MAX_CONCURRENCY_MAX) };
}

/**
 * A queue into a function that reports partial batch failures: up to 10 messages a batch, as soon
 * as they are visible (no batching window).
 */
function feedFromQueue(fn: HouseFunction, queue: Queue, options: { maxConcurrency?: number }): void {
  fn.function.addEventSource(
    new SqsEventSource(queue, {
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(0),
      reportBatchItemFailures: true,
      ...options,
    }),
  );
}

/**
 * The item actions the functions send. A transaction (TransactWriteItems) has no action of its
 * own in IAM: each of its Put, Update and Delete is authorized as PutItem, UpdateItem and
 * DeleteItem on its own item, with that item's leading key.
 */
type ItemAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem';
type ItemPrefix = (typeof PREFIX)[keyof typeof PREFIX];

interface ItemGrant {
  readonly actions: readonly ItemAction[];
  /** Only items whose partition key starts with one of these (table-layout.ts). */
  readonly prefixes: readonly ItemPrefix[];
  /**
   * Only these top-level attributes, besides the key, may be named in a request (updated, or
   * tested in its condition): `dynamodb:Attributes`. The key attributes are added, as IAM requires.
   */
  readonly attributes?: readonly string[];
  /** Only these `ReturnValues` when the request sets any (`dynamodb:ReturnValues`). */
  readonly returnValues?: readonly string[];
  /** Only these `Select` values (`dynamodb:Select`): a read must name what it reads. */
  readonly select?: readonly string[];
}

/**
 * One statement: `grant.actions` on the table's items under `grant.prefixes`, and on nothing else.
 * Only keyed item actions go through here: with `ForAllValues`, a request that names no leading
 * key (a Scan) would pass the condition.
 */
function grantItems(fn: HouseFunction, table: Table, sid: string, grant: ItemGrant): void {
  const conditions: Record<string, Record<string, string[]>> = {
    'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': grant.prefixes.map((prefix) => `${prefix}*`) },
  };
  if (grant.attributes !== undefined) {
    conditions['ForAllValues:StringEquals'] = { 'dynamodb:Attributes': [PARTITION_KEY, SORT_KEY, ...grant.attributes] };
  }
  if (grant.returnValues !== undefined || grant.select !== undefined) {
    conditions['StringEqualsIfExists'] = {
      ...(grant.returnValues === undefined ? {} : { 'dynamodb:ReturnValues': [...grant.returnValues] }),
      ...(grant.select === undefined ? {} : { 'dynamodb:Select': [...grant.select] }),
    };
  }
  fn.role.addToPolicy(
    new iam.PolicyStatement({
      sid,
      actions: grant.actions.map((action) => `dynamodb:${action}`),
      resources: [table.tableArn],
      conditions,
    }),
  );
}

/** Send-only on each queue: no receive, no purge, no attribute reads. */
function grantSendMessage(fn: HouseFunction, sid: string, queues: readonly Queue[]): void {
  fn.role.addToPolicy(
    new iam.PolicyStatement({ sid, actions: ['sqs:SendMessage'], resources: queues.map((q) => q.queueArn) }),
  );
}

/**
 * What the events function's one kind of update names besides the key: a call's first end gives
 * its tenant's ringing slot back (dynamo-limit-store.ts endRinging: one transaction removing the
 * call's `countsRinging` mark and decrementing the tenant's `ringing` counter).
 */
export const EVENTS_UPDATE_ATTRIBUTES = { written: ['countsRinging', 'ringing'], tested: [] } as const;

/**
 * events: read tenants' webhook items, publish to the events topic, queue callbacks and ring
 * timers, dead-letter what it cannot read (the stream read comes with its event source); send the
 * end-of-call alerts with the rings' pusher: the APNs keys, the shared provider token
 * (dynamo-token-share.ts: GetItem, PutItem), and a dead alert token cleared from its device
 * (dynamo-device-store.ts clearAlertToken: GetItem of the user's item, then a transaction whose one
 * Put rewrites it); and give a call's ringing slot back (its call and tenant counter updated, naming
 * only the two attributes, returning nothing: it may not change a call's state).
 */
function grantEventsWebhooksAlertsTopicAndQueues(
  events: HouseFunction,
  table: Table,
  secrets: ServiceSecrets,
  topic: Topic,
  queues: EventQueues,
) {
  const { call, user, providerToken, tenant } = PREFIX;
  grantItems(events, table, 'EventsGetItems', { actions: ['GetItem'], prefixes: [tenant, user, providerToken] });
  grantItems(events, table, 'EventsPutItems', { actions: ['PutItem'], prefixes: [user, providerToken] });
  grantItems(events, table, 'EventsGiveRingingSlotsBack', {
    actions: ['UpdateItem'],
    prefixes: [call, tenant],
    attributes: [...EVENTS_UPDATE_ATTRIBUTES.written, ...EVENTS_UPDATE_ATTRIBUTES.tested],
    returnValues: ['NONE'],
  });
  secrets.apnsKeys.secret.grantRead(events.role);
  events.role.addToPolicy(
    new iam.PolicyStatement({ sid: 'PublishEvents', actions: ['sns:Publish'], resources: [topic.topicArn] }),
  );
  grantSendMessage(events, 'QueueCallbacksTimersAndDeadLetters', [
    queues.callbacks,
    queues.ringTimers,
    queues.eventsDeadLetters,
  ]);
}

/** callbacks: the tenants' secrets (to sign), its own queue (retries) and its dead-letter queue. */
function grantCallbacksTenantSecretsAndRetries(callbacks: HouseFunction, secrets: ServiceSecrets, queues: EventQueues) {
  secrets.tenantSecrets.secret.grantRead(callbacks.role);
  grantSendMessage(callbacks, 'RetryAndDeadLetterCallbacks', [queues.callbacks, queues.callbackDeadLetters]);
}

/**
 * ring-timer: a read of a call's status alone (isRinging: a call that already ended needs no
 * wait), and one conditional UpdateItem on call items, naming only what markExpired names and
 * returning nothing (`ReturnValues` NONE); it may read no caller, and nothing else of the table.
 */
function grantRingTimerCallExpiry(ringTimer: HouseFunction, table: Table): void {
  grantItems(ringTimer, table, 'ReadCallStatusOnly', {
    actions: ['GetItem'],
    prefixes: [PREFIX.call],
    attributes: [...RING_TIMER_CALL_ATTRIBUTES.read],
    select: ['SPECIFIC_ATTRIBUTES'],
  });
  grantItems(ringTimer, table, 'ExpireCallItemsOnly', {
    actions: ['UpdateItem'],
    prefixes: [PREFIX.call],
    attributes: [...RING_TIMER_CALL_ATTRIBUTES.written, ...RING_TIMER_CALL_ATTRIBUTES.tested],
    returnValues: ['NONE'],
  });
}

export interface DeadLetterAlarms {
  readonly callbacks: Alarm;
  readonly events: Alarm;
  readonly ringTimers: Alarm;
}

/** An alarm per dead-letter queue, in alarm while any message is in it. Actions are the operator's to add. */
function deadLetterAlarms(scope: Construct, queues: EventQueues): DeadLetterAlarms {
  const alarmOn = (id: string, queue: Queue, what: string): Alarm =>
    new Alarm(scope, id, {
      alarmDescription: `callwake: ${what} in ${queue.node.id}; see docs/deploy.md (the events path)`,
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // An empty, idle queue reports nothing: that is the healthy state.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  return {
    callbacks: alarmOn('CallbackDeadLetterAlarm', queues.callbackDeadLetters, 'callbacks given up on'),
    events: alarmOn('EventsDeadLetterAlarm', queues.eventsDeadLetters, 'table changes not turned into events'),
    ringTimers: alarmOn('RingTimerDeadLetterAlarm', queues.ringTimerDeadLetters, 'ring timers that kept failing'),
  };
}

/**
 * One JSON object per request, naming no user, device, call or tenant: the route it matched
 * (`ANY /v1/pbx/{proxy+}`), never the path, whose segments are those ids. The two request ids
 * join a line to the function's own log (`integrationRequestId` is the Lambda invocation's id),
 * where ids appear as the functions chose to log them (fingerprints of device ids). The caller's
 * IP stays: it is what finds the source of junk that uses up a route's limit (behind the optional
 * CloudFront it is CloudFront's address, and the WAF sees the caller's). Deliberately absent:
 * the path, the user agent (a PBX or app may put anything in it), query strings, request and
 * response bodies, and every header (the Authorization bearer token and the signature headers
 * among them).
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  integrationRequestId: '$context.integration.requestId',
  requestTime: '$context.requestTimeEpoch',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  protocol: '$context.protocol',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integration.latency',
  integrationError: '$context.integration.error',
  errorMessage: '$context.error.message',
  sourceIp: '$context.identity.sourceIp',
};

function entry(name: ServiceFunction): string {
  return fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url));
}

interface RouteLimits {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

interface ResolvedProps {
  readonly defaultApnsEnvironment: ApnsEnvironment;
  readonly pushDeadlineMs: number;
  readonly publicBaseUrl: string | undefined;
  readonly pbx: RouteLimits;
  readonly app: RouteLimits;
  readonly unmatched: RouteLimits;
  readonly tenantRequestsPerSecond: number;
  readonly tenantRingingCalls: number;
  readonly edge: ResolvedEdge | undefined;
  readonly logRetention: RetentionDays;
  readonly tableRemovalPolicy: RemovalPolicy;
  readonly logLevel: LogLevelName;
  readonly tracing: boolean;
  readonly reservedConcurrency: Readonly<Record<ServiceFunction, ReservedConcurrency>>;
  readonly metricsByTenant: boolean;
  readonly secretsMaxAgeSeconds: number;
  /** Undefined: no monitoring. */
  readonly monitoring: MonitoringThresholds | undefined;
}

/**
 * Applies the defaults and rejects what cannot work, with a message that names the prop. `region`
 * is the stack's (a token when environment-agnostic): a certificate ARN must be in it.
 */
export function resolveProps(props: CallwakeProps, region: string): ResolvedProps {
  const d = CALLWAKE_DEFAULTS;
  const env = props.defaultApnsEnvironment ?? d.defaultApnsEnvironment;
  if (!APNS_ENVIRONMENTS.includes(env)) {
    throw new Error(`defaultApnsEnvironment must be one of ${APNS_ENVIRONMENTS.join(', ')}, got "${env}"`);
  }
  for (const [prop, name] of [
    ['tenantSecretName', props.tenantSecretName],
    ['apnsKeySecretName', props.apnsKeySecretName],
    ['tokenKeySecretName', props.tokenKeySecretName],
  ] as const) {
    if (name !== undefined && (Token.isUnresolved(name) || !SECRET_NAME.test(name))) {
      throw new Error(`${prop} must be a secret name ([A-Za-z0-9/_+=.@-], 1-512 characters), got "${name}"`);
    }
  }
  const deadline = props.pushDeadlineMs ?? d.pushDeadlineMs;
  if (!Number.isInteger(deadline) || deadline < PUSH_DEADLINE_MS_MIN || deadline > PUSH_DEADLINE_MS_MAX) {
    throw new Error(
      `pushDeadlineMs must be an integer from ${PUSH_DEADLINE_MS_MIN} to ${PUSH_DEADLINE_MS_MAX} ` +
        `(the webhook answers within it + 1 s, under pbx-api's ${PBX_API_TIMEOUT.toSeconds()} s timeout), ` +
        `got ${deadline}`,
    );
  }
  const routeLimits = (
    rateProp: keyof CallwakeProps & keyof typeof d,
    burstProp: keyof CallwakeProps & keyof typeof d,
  ) => {
    const rateLimit = (props[rateProp] ?? d[rateProp]) as number;
    if (!Number.isFinite(rateLimit) || rateLimit <= 0) {
      throw new Error(`${rateProp} must be a positive number of requests per second, got ${rateLimit}`);
    }
    const burstLimit = (props[burstProp] ?? d[burstProp]) as number;
    if (!Number.isInteger(burstLimit) || burstLimit <= 0) {
      throw new Error(`${burstProp} must be a positive integer, got ${burstLimit}`);
    }
    return { rateLimit, burstLimit };
  };
  const positiveInteger = (prop: 'tenantRequestsPerSecond' | 'tenantRingingCalls'): number => {
    const value = props[prop] ?? d[prop];
    if (!Number.isInteger(value) || value < 1) throw new Error(`${prop} must be a positive integer, got ${value}`);
    return value;
  };
  const retention = props.logRetention ?? d.logRetention;
  if (retention === RetentionDays.INFINITE) {
    throw new Error('logRetention must be finite: these logs hold caller numbers and user ids');
  }
  const removal = props.tableRemovalPolicy ?? d.tableRemovalPolicy;
  if (removal !== RemovalPolicy.RETAIN && removal !== RemovalPolicy.DESTROY) {
    throw new Error(`tableRemovalPolicy must be RETAIN or DESTROY, got ${removal}`);
  }
  const logLevel = props.logLevel ?? d.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const tenantRequestsPerSecond = positiveInteger('tenantRequestsPerSecond');
  if (props.edge !== undefined && props.publicBaseUrl !== undefined) {
    throw new Error(
      'publicBaseUrl and edge exclude each other: with edge, pushes carry the distribution URL (the only way in)',
    );
  }
  if (props.customDomain !== undefined) {
    checkCustomDomain('customDomain', props.customDomain, region);
    if (props.publicBaseUrl !== undefined) {
      throw new Error(
        'publicBaseUrl and customDomain exclude each other: pushes carry the custom domain (https://<domainName>)',
      );
    }
    if (props.edge !== undefined && props.edge.keepExecuteApiEndpoint !== true) {
      throw new Error(
        'customDomain and edge exclude each other but during the edge switch-over (edge.keepExecuteApiEndpoint): ' +
          "a custom domain of API Gateway is a way in around the edge's WAF; with the edge, clients call the distribution",
      );
    }
  }
  const reservedConcurrency = Object.fromEntries(
    SERVICE_FUNCTIONS.map((fn) => [fn, reservedConcurrencyOf(RESERVED_CONCURRENCY_PROPS[fn], props)]),
  ) as Record<ServiceFunction, ReservedConcurrency>;
  const secretsMaxAgeSeconds = props.secretsMaxAgeSeconds ?? d.secretsMaxAgeSeconds;
  if (
    !Number.isInteger(secretsMaxAgeSeconds) ||
    secretsMaxAgeSeconds < 1 ||
    secretsMaxAgeSeconds > SECRETS_MAX_AGE_SECONDS_MAX
  ) {
    throw new Error(
      `secretsMaxAgeSeconds must be an integer from 1 to ${SECRETS_MAX_AGE_SECONDS_MAX}, got ${secretsMaxAgeSeconds}`,
    );
  }
  return {
    defaultApnsEnvironment: env,
    pushDeadlineMs: deadline,
    publicBaseUrl:
      props.customDomain !== undefined
        ? `https://${props.customDomain.domainName}`
        : props.publicBaseUrl === undefined
          ? undefined
          : normalizeBaseUrl(props.publicBaseUrl),
    pbx: routeLimits('pbxRateLimit', 'pbxBurstLimit'),
    app: routeLimits('appRateLimit', 'appBurstLimit'),
    unmatched: routeLimits('unmatchedRateLimit', 'unmatchedBurstLimit'),
    tenantRequestsPerSecond,
    tenantRingingCalls: positiveInteger('tenantRingingCalls'),
    edge: props.edge === undefined ? undefined : resolveEdge(props.edge, tenantRequestsPerSecond),
    logRetention: retention,
    tableRemovalPolicy: removal,
    logLevel,
    tracing: props.tracing ?? d.tracing,
    reservedConcurrency,
    metricsByTenant: props.metricsByTenant ?? d.metricsByTenant,
    secretsMaxAgeSeconds,
    monitoring: resolveMonitoring(props.monitoring),
  };
}

type ReservedConcurrencyProp = (typeof RESERVED_CONCURRENCY_PROPS)[ServiceFunction];

/**
 * A function's reserved concurrency: a positive integer or `false` (0 would stop the function).
 * The queue-fed functions need at least what their event source polls with, or messages are
 * throttled back to the queue and counted as receives on their way to the dead-letter queue.
 */
function reservedConcurrencyOf(prop: ReservedConcurrencyProp, props: CallwakeProps): ReservedConcurrency {
  const value = props[prop] ?? CALLWAKE_DEFAULTS[prop];
  if (value === false) return false;
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${prop} must be a positive integer or false (none), got ${value}`);
  }
  if (prop === 'callbacksReservedConcurrency' && value < CALLBACKS_MAX_CONCURRENCY) {
    throw new Error(
      `callbacksReservedConcurrency must be at least the callback queue's maximum concurrency (${CALLBACKS_MAX_CONCURRENCY}), got ${value}`,
    );
  }
  if (prop === 'ringTimerReservedConcurrency' && value < SQS_MAX_CONCURRENCY_MIN) {
    throw new Error(
      `ringTimerReservedConcurrency must be at least ${SQS_MAX_CONCURRENCY_MIN} (its queue's event source polls with at least 2), got ${value}`,
    );
  }
  return value;
}

/** `https://calls.example.com/` -> `https://calls.example.com`; rejects anything but https. */
export function normalizeBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`publicBaseUrl must be an absolute https URL, got "${value}"`);
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error(`publicBaseUrl must be an https URL without query, fragment or credentials, got "${value}"`);
  }
  const base = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  if (/\/v1(\/app)?$/.test(base)) {
    throw new Error(`publicBaseUrl is the base the API is served under, without /v1, got "${value}"`);
  }
  return base;
}
