/**
 * The callwake service as one reusable construct: one DynamoDB table, two Lambda functions
 * (pbx-api, app-api), three Secrets Manager secrets and one HTTP API in front.
 *
 * ```
 * PBX  --signed webhook-->  HTTP API  ANY /v1/pbx/{proxy+} --> pbx-api --> table, APNs
 * app  --bearer token--->   HTTP API  ANY /v1/app/{proxy+} --> app-api --> table (CALL# items)
 *                                      $default            --> app-api (problem+json 404)
 * ```
 */
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, SecretValue, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret, type SecretStringGenerator } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PARTITION_KEY, PREFIX, SORT_KEY, TTL_ATTRIBUTE } from '../functions/adapters/table-layout.js';
import { API_FUNCTION_TIMEOUT_SECONDS } from '../functions/config.js';
import { APNS_ENVIRONMENTS, type ApnsEnvironment } from '../functions/core/call.js';
import { HOUSE_LOG_RETENTION, HouseFunction } from './lambda-defaults.js';

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

/** Bounds of `pushDeadlineMs`: the webhook must answer within it + 1 s, well under pbx-api's timeout. */
export const PUSH_DEADLINE_MS_MIN = 1000;
export const PUSH_DEADLINE_MS_MAX = 8000;

export const CALLWAKE_DEFAULTS = {
  defaultApnsEnvironment: 'production',
  pushDeadlineMs: 5000,
  throttlingRateLimit: 100,
  throttlingBurstLimit: 200,
  logRetention: HOUSE_LOG_RETENTION,
  tableRemovalPolicy: RemovalPolicy.RETAIN,
  logLevel: 'INFO',
  tracing: false,
} as const;

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
   * Public base URL of the API when it is served on a custom domain, e.g.
   * `https://calls.example.com` (without `/v1`). Pushes then point apps at it.
   * @default - the functions derive it from each request
   */
  readonly publicBaseUrl?: string;
  /** Steady-state request rate limit of the API stage, requests per second. @default 100 */
  readonly throttlingRateLimit?: number;
  /** Burst limit of the API stage, requests. @default 200 */
  readonly throttlingBurstLimit?: number;
  /** Retention of function and access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the table (and the secrets this construct creates) when the stack is deleted
   * or they are removed from it. `RETAIN` also turns on the table's deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /** `LOG_LEVEL` of both functions. @default 'INFO' */
  readonly logLevel?: LogLevelName;
  /** X-Ray active tracing on both functions. @default false */
  readonly tracing?: boolean;
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
  /** The API's default endpoint, e.g. `https://<id>.execute-api.<region>.amazonaws.com/`. */
  readonly apiUrl: string;

  // The builders below take this construct as their scope and keep the construct ids they have
  // always had: the logical ids of a deployed stack's resources depend on them.
  constructor(scope: Construct, id: string, props: CallwakeProps = {}) {
    super(scope, id);
    const config = resolveProps(props);
    const secretPrefix = secretNamePrefix(this, props.secretNamePrefix);

    this.table = callTable(this, config.tableRemovalPolicy);

    const secrets = serviceSecrets(this, props, secretPrefix, config.tableRemovalPolicy);
    this.tenantSecrets = secrets.tenantSecrets;
    this.apnsKeys = secrets.apnsKeys;
    this.tokenKeys = secrets.tokenKeys;

    this.pbxApi = pbxApiFunction(this, this.table, secrets, config);
    this.appApi = appApiFunction(this, this.table, secrets, config);
    grantPbxApiTableAndSecrets(this.pbxApi, this.table, secrets);
    grantAppApiCallItemsAndTokenKeys(this.appApi, this.table, secrets);

    this.httpApi = routedHttpApi(this, this.pbxApi, this.appApi);
    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: config.logRetention });
    this.stage = throttledDefaultStage(this, this.httpApi, this.accessLogs, config);
    this.apiUrl = this.stage.url;
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

/** The single table; its key names and TTL attribute are the stores' (see table-layout.ts). */
function callTable(scope: Construct, removalPolicy: RemovalPolicy): Table {
  return new Table(scope, 'Table', {
    partitionKey: { name: PARTITION_KEY, type: AttributeType.STRING },
    sortKey: { name: SORT_KEY, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: TTL_ATTRIBUTE,
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
    LOG_LEVEL: config.logLevel,
    ...(config.publicBaseUrl === undefined ? {} : { PUBLIC_BASE_URL: config.publicBaseUrl }),
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
      POWERTOOLS_SERVICE_NAME: 'callwake-pbx-api',
    },
    logRetention: config.logRetention,
    tracing: config.tracing,
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
      POWERTOOLS_SERVICE_NAME: 'callwake-app-api',
    },
    logRetention: config.logRetention,
    tracing: config.tracing,
  });
}

/** pbx-api rings, cancels and keeps the device registry: the whole table and all three secrets. */
function grantPbxApiTableAndSecrets(pbxApi: HouseFunction, table: Table, secrets: ServiceSecrets): void {
  table.grantReadWriteData(pbxApi.role);
  secrets.tenantSecrets.secret.grantRead(pbxApi.role);
  secrets.apnsKeys.secret.grantRead(pbxApi.role);
  secrets.tokenKeys.secret.grantRead(pbxApi.role);
}

/**
 * app-api only serves the woken app: call items (partition key prefix from table-layout.ts, the
 * prefix the call store writes) and the token keys. No Scan and no DescribeTable: with
 * `ForAllValues`, a request without leading keys would pass the condition.
 */
function grantAppApiCallItemsAndTokenKeys(appApi: HouseFunction, table: Table, secrets: ServiceSecrets): void {
  appApi.role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'CallItemsOnly',
      actions: [
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:ConditionCheckItem',
      ],
      resources: [table.tableArn],
      conditions: {
        'ForAllValues:StringLike': {
          'dynamodb:LeadingKeys': [`${PREFIX.call}*`],
        },
      },
    }),
  );
  secrets.tokenKeys.secret.grantRead(appApi.role);
}

/** The HTTP API with its routes; the stage is {@link throttledDefaultStage}. */
function routedHttpApi(scope: Construct, pbxApi: HouseFunction, appApi: HouseFunction): HttpApi {
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
  });
  httpApi.addRoutes({
    path: '/v1/pbx/{proxy+}',
    methods: [HttpMethod.ANY],
    integration: pbxIntegration,
  });
  httpApi.addRoutes({
    path: '/v1/app/{proxy+}',
    methods: [HttpMethod.ANY],
    integration: appIntegration,
  });

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

function throttledDefaultStage(
  scope: Construct,
  httpApi: HttpApi,
  accessLogs: LogGroup,
  config: ResolvedProps,
): HttpStage {
  return new HttpStage(scope, 'DefaultStage', {
    httpApi,
    stageName: '$default',
    autoDeploy: true,
    throttle: {
      rateLimit: config.throttlingRateLimit,
      burstLimit: config.throttlingBurstLimit,
    },
    accessLogSettings: {
      destination: new LogGroupLogDestination(accessLogs),
      format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
    },
  });
}

/**
 * One JSON object per request. Deliberately absent: request and response bodies, headers (the
 * Authorization bearer token and the PBX signature headers among them) and query strings.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  protocol: '$context.protocol',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integration.latency',
  integrationError: '$context.integration.error',
  errorMessage: '$context.error.message',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
};

function entry(name: 'pbx-api' | 'app-api'): string {
  return fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url));
}

interface ResolvedProps {
  readonly defaultApnsEnvironment: ApnsEnvironment;
  readonly pushDeadlineMs: number;
  readonly publicBaseUrl: string | undefined;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  readonly logRetention: RetentionDays;
  readonly tableRemovalPolicy: RemovalPolicy;
  readonly logLevel: LogLevelName;
  readonly tracing: boolean;
}

/** Applies the defaults and rejects what cannot work, with a message that names the prop. */
export function resolveProps(props: CallwakeProps): ResolvedProps {
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
  const rate = props.throttlingRateLimit ?? d.throttlingRateLimit;
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new Error(`throttlingRateLimit must be a positive number of requests per second, got ${rate}`);
  }
  const burst = props.throttlingBurstLimit ?? d.throttlingBurstLimit;
  if (!Number.isInteger(burst) || burst <= 0) {
    throw new Error(`throttlingBurstLimit must be a positive integer, got ${burst}`);
  }
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
  return {
    defaultApnsEnvironment: env,
    pushDeadlineMs: deadline,
    publicBaseUrl: props.publicBaseUrl === undefined ? undefined : normalizeBaseUrl(props.publicBaseUrl),
    throttlingRateLimit: rate,
    throttlingBurstLimit: burst,
    logRetention: retention,
    tableRemovalPolicy: removal,
    logLevel,
    tracing: props.tracing ?? d.tracing,
  };
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
