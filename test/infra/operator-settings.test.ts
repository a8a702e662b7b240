/**
 * What an operator sets through CDK context (`-c key=value` gives strings; cdk.json may give
 * numbers and booleans) reaches the template, and what cannot work is refused at synth time.
 */
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CallwakeStack } from '../../lib/callwake-stack.js';
import {
  actionsOf,
  cdkJsonContext,
  environmentOf,
  FUNCTION_NAMES,
  type FunctionName,
  type Json,
  lambdaFunction,
  onlyResource,
  resourcesOf,
  resourcesOfStatement,
  roleOfFunction,
  type Synthesized,
  statementsOfRole,
  synthCallwake,
} from './support.js';

const operatorContext = {
  defaultApnsEnvironment: 'sandbox',
  tenantSecretName: 'ops/callwake/tenants',
  apnsKeySecretName: 'ops/callwake/apns',
  tokenKeySecretName: 'ops/callwake/tokens',
  pushDeadlineMs: '3000',
  publicBaseUrl: 'https://calls.example.com/',
  pbxRateLimit: '50',
  pbxBurstLimit: '75',
  appRateLimit: '60.5',
  appBurstLimit: '90',
  unmatchedRateLimit: '2',
  unmatchedBurstLimit: '4',
  tenantRequestsPerSecond: '20',
  tenantRingingCalls: '30',
  logRetentionDays: '7',
  tableRemovalPolicy: 'destroy',
  logLevel: 'debug',
  tracing: 'true',
  metricsByTenant: 'true',
  secretsMaxAgeSeconds: '300',
};

describe('an operator-configured deployment', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({ context: operatorContext, bundle: false });
  });

  it('passes the settings to the functions', () => {
    const pbx = environmentOf(lambdaFunction(s.template, 'pbx-api')[1]);
    const app = environmentOf(lambdaFunction(s.template, 'app-api')[1]);
    expect(pbx).toEqual(
      expect.objectContaining({
        APNS_DEFAULT_ENVIRONMENT: 'sandbox',
        PUSH_DEADLINE_MS: '3000',
        PUBLIC_BASE_URL: 'https://calls.example.com',
        LOG_LEVEL: 'DEBUG',
        TENANT_SECRETS_NAME: 'ops/callwake/tenants',
        APNS_KEYS_SECRET_NAME: 'ops/callwake/apns',
        TOKEN_KEYS_SECRET_NAME: 'ops/callwake/tokens',
        TENANT_REQUESTS_PER_SECOND: '20',
        TENANT_RINGING_CALLS: '30',
      }),
    );
    expect(app).toEqual(
      expect.objectContaining({
        PUBLIC_BASE_URL: 'https://calls.example.com',
        LOG_LEVEL: 'DEBUG',
        TOKEN_KEYS_SECRET_NAME: 'ops/callwake/tokens',
      }),
    );
    expect(app).not.toHaveProperty('TENANT_SECRETS_NAME');
    expect(app).not.toHaveProperty('APNS_KEYS_SECRET_NAME');
    expect(environmentOf(lambdaFunction(s.template, 'callbacks')[1])['TENANT_SECRETS_NAME']).toBe(
      'ops/callwake/tenants',
    );
    expect(environmentOf(lambdaFunction(s.template, 'events')[1])).toEqual(
      expect.objectContaining({ APNS_KEYS_SECRET_NAME: 'ops/callwake/apns', PUSH_DEADLINE_MS: '3000' }),
    );
    for (const name of FUNCTION_NAMES) {
      const env = environmentOf(lambdaFunction(s.template, name)[1]);
      expect([name, env['LOG_LEVEL'], env['METRICS_BY_TENANT']]).toEqual([name, 'DEBUG', 'true']);
      const readsSecrets = name === 'pbx-api' || name === 'app-api' || name === 'callbacks';
      expect([name, env['SECRETS_MAX_AGE_SECONDS']]).toEqual([name, readsSecrets ? '300' : undefined]);
    }
  });

  it('imports the named secrets instead of creating any', () => {
    expect(resourcesOf(s.template, 'AWS::SecretsManager::Secret')).toEqual({});
  });

  it('grants GetSecretValue on exactly the imported secrets each function needs', () => {
    const readable = (name: FunctionName): string[] =>
      statementsOfRole(s.template, roleOfFunction(lambdaFunction(s.template, name)[1]))
        .filter((st) => actionsOf(st).includes('secretsmanager:GetSecretValue'))
        .flatMap((st) =>
          resourcesOfStatement(st).map((r) => /secret:([^"]+)-\?{6}/.exec(JSON.stringify(r))?.[1] ?? JSON.stringify(r)),
        )
        .sort();
    expect(readable('pbx-api')).toEqual(['ops/callwake/apns', 'ops/callwake/tenants', 'ops/callwake/tokens']);
    expect(readable('app-api')).toEqual(['ops/callwake/tokens']);
    expect(readable('callbacks')).toEqual(['ops/callwake/tenants']);
    expect(readable('events')).toEqual(['ops/callwake/apns']);
    expect(readable('ring-timer')).toEqual([]);
  });

  it('throttles each route as told', () => {
    const stage = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage')[1];
    expect(stage.Properties?.['RouteSettings']).toEqual({
      'ANY /v1/pbx/{proxy+}': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 75 },
      'ANY /v1/app/{proxy+}': { ThrottlingRateLimit: 60.5, ThrottlingBurstLimit: 90 },
      $default: { ThrottlingRateLimit: 2, ThrottlingBurstLimit: 4 },
    });
    expect(stage.Properties?.['DefaultRouteSettings']).toEqual(
      expect.objectContaining({ ThrottlingRateLimit: 2, ThrottlingBurstLimit: 4 }),
    );
  });

  it('keeps every log group for the retention asked', () => {
    const groups = Object.values(resourcesOf(s.template, 'AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(FUNCTION_NAMES.length + 1);
    for (const g of groups) expect(g.Properties?.['RetentionInDays']).toBe(7);
  });

  it('lets the table be deleted with the stack', () => {
    const [, table] = onlyResource(s.template, 'AWS::DynamoDB::Table') as [
      string,
      { DeletionPolicy?: string; Properties?: Record<string, Json> },
    ];
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.Properties?.['DeletionProtectionEnabled']).toBe(false);
  });

  it('traces every function with X-Ray; Resource "*" only for X-Ray\'s actions and ListStreams', () => {
    for (const name of FUNCTION_NAMES) {
      const fn = lambdaFunction(s.template, name)[1];
      expect(fn.Properties?.['TracingConfig']).toEqual({ Mode: 'Active' });
      const onStar = statementsOfRole(s.template, roleOfFunction(fn))
        .filter((st) => resourcesOfStatement(st).includes('*'))
        .flatMap(actionsOf)
        .sort();
      const expected = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
      expect([name, onStar]).toEqual([name, name === 'events' ? ['dynamodb:ListStreams', ...expected] : expected]);
    }
  });
});

describe('settings', () => {
  const build = (context: Record<string, unknown>, props?: ConstructorParameters<typeof CallwakeStack>[2]) =>
    new CallwakeStack(
      // No bundling: these tests look at the construct tree and the template only.
      new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context } }),
      'Callwake',
      props,
    );

  it('accepts numbers and booleans from cdk.json', () => {
    const c = build({
      pushDeadlineMs: 2500,
      pbxRateLimit: 10,
      pbxBurstLimit: 20,
      tenantRingingCalls: 5,
      logRetentionDays: 14,
      tracing: false,
    });
    expect(c.callwake.pbxApi.function).toBeDefined();
  });

  it('lets props given in code win over context', () => {
    const stack = build(
      { logLevel: 'ERROR', tableRemovalPolicy: 'retain' },
      { callwake: { logLevel: 'WARN', tableRemovalPolicy: RemovalPolicy.DESTROY } },
    );
    const template = Template.fromStack(stack);
    expect(environmentOf(lambdaFunction(template, 'app-api')[1])['LOG_LEVEL']).toBe('WARN');
    expect((onlyResource(template, 'AWS::DynamoDB::Table')[1] as { DeletionPolicy?: string }).DeletionPolicy).toBe(
      'Delete',
    );
  });

  it.each([
    [{ defaultApnsEnvironment: 'staging' }, /defaultApnsEnvironment/],
    [{ pushDeadlineMs: '9000' }, /pushDeadlineMs/],
    [{ pushDeadlineMs: 'soon' }, /pushDeadlineMs/],
    [{ pushDeadlineMs: '2500.5' }, /pushDeadlineMs/],
    [{ publicBaseUrl: 'http://calls.example.com' }, /publicBaseUrl/],
    [{ publicBaseUrl: 'https://calls.example.com/v1' }, /publicBaseUrl/],
    [{ publicBaseUrl: 'calls.example.com' }, /publicBaseUrl/],
    [{ pbxRateLimit: '0' }, /pbxRateLimit/],
    [{ appRateLimit: 'fast' }, /appRateLimit/],
    [{ pbxBurstLimit: '-5' }, /pbxBurstLimit/],
    [{ unmatchedBurstLimit: '2.5' }, /unmatchedBurstLimit/],
    [{ tenantRequestsPerSecond: '0' }, /tenantRequestsPerSecond/],
    [{ tenantRingingCalls: '1.5' }, /tenantRingingCalls/],
    // The stage-wide limits of earlier versions: refused, naming what replaced them.
    [{ throttlingRateLimit: '100' }, /throttlingRateLimit is no longer read: .*pbxRateLimit/],
    [{ throttlingBurstLimit: 200 }, /throttlingBurstLimit is no longer read: .*pbxBurstLimit/],
    [{ logRetentionDays: '4' }, /logRetentionDays/],
    [{ logRetentionDays: '9999' }, /logRetentionDays/],
    [{ tableRemovalPolicy: 'snapshot' }, /tableRemovalPolicy/],
    [{ tenantSecretName: 'no spaces allowed' }, /tenantSecretName/],
    [{ apnsKeySecretName: '{"ABCDE12345":{}}' }, /apnsKeySecretName/],
    [{ tokenKeySecretName: 42 }, /tokenKeySecretName/],
    [{ tracing: 'yes' }, /tracing/],
    [{ logLevel: 'verbose' }, /logLevel/],
    [{ metricsByTenant: 'yes' }, /metricsByTenant/],
    [{ secretsMaxAgeSeconds: '0' }, /secretsMaxAgeSeconds must be an integer from 1 to 3600/],
    [{ secretsMaxAgeSeconds: '3601' }, /secretsMaxAgeSeconds/],
    [{ secretsMaxAgeSeconds: '1.5' }, /secretsMaxAgeSeconds/],
    [{ monitoring: 'off' }, /monitoring must be true or false/],
    [{ alarmWebhookLatencyP99Ms: 'slow' }, /alarmWebhookLatencyP99Ms must be a number/],
    [{ alarmPushFailureRatePercent: '150' }, /pushFailureRatePercent/],
  ])('refuses %j', (context, message) => {
    expect(() => build(context)).toThrow(message);
  });
});
