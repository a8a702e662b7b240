/**
 * The default deployment, synthesized once (functions bundled with esbuild), and the properties
 * that matter checked on its template.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from '../../functions/adapters/table-layout.js';
import {
  API_FUNCTION_TIMEOUT_SECONDS,
  callbacksConfig,
  eventsConfig,
  ringTimerConfig,
} from '../../functions/config.js';
import { HOUSE_BUNDLING, HOUSE_RUNTIME, MAX_BUNDLE_BYTES } from '../../lib/lambda-defaults.js';
import {
  actionsOf,
  type CfnResource,
  environmentOf,
  FUNCTION_NAMES,
  type FunctionName,
  iamActionMatches,
  type Json,
  lambdaFunction,
  onlyResource,
  permissionLines,
  readableNames,
  referencedId,
  resourceIdAt,
  resourcesOf,
  resourcesOfStatement,
  roleOfFunction,
  type Statement,
  type Synthesized,
  statementsOfRole,
  synthCallwake,
} from './support.js';

/** The contract's cap on `Prefer: wait` (v1.1, "Waiting for a change instead of polling"). */
const MAX_WAIT_SECONDS = 20;

let s: Synthesized;
beforeAll(() => {
  s = synthCallwake();
});

const secretIdByName = (name: string): string => {
  const match = Object.entries(resourcesOf(s.template, 'AWS::SecretsManager::Secret')).find(
    ([, r]) => r.Properties?.['Name'] === name,
  );
  if (match === undefined) throw new Error(`no secret named ${name}`);
  return match[0];
};

describe('the table', () => {
  let table: CfnResource & { DeletionPolicy?: string; UpdateReplacePolicy?: string };
  beforeAll(() => {
    table = onlyResource(s.template, 'AWS::DynamoDB::Table')[1];
  });

  it("is keyed by the layout's partition and sort keys (both S), with no secondary index", () => {
    expect(table.Properties?.['KeySchema']).toEqual([
      { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE' },
    ]);
    expect(table.Properties?.['AttributeDefinitions']).toEqual([
      { AttributeName: PARTITION_KEY, AttributeType: 'S' },
      { AttributeName: SORT_KEY, AttributeType: 'S' },
    ]);
    expect(table.Properties?.['GlobalSecondaryIndexes']).toBeUndefined();
    expect(table.Properties?.['LocalSecondaryIndexes']).toBeUndefined();
  });

  it('is on-demand', () => {
    expect(table.Properties?.['BillingMode']).toBe('PAY_PER_REQUEST');
    expect(table.Properties?.['ProvisionedThroughput']).toBeUndefined();
  });

  it("expires items by the layout's epoch-seconds TTL attribute", () => {
    expect(table.Properties?.['TimeToLiveSpecification']).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
  });

  it('has point-in-time recovery and KMS encryption at rest (AWS managed key)', () => {
    expect(table.Properties?.['PointInTimeRecoverySpecification']).toEqual(
      expect.objectContaining({ PointInTimeRecoveryEnabled: true }),
    );
    // SSEEnabled true without a key id: the AWS managed key aws/dynamodb.
    expect(table.Properties?.['SSESpecification']).toEqual({ SSEEnabled: true });
  });

  it('is retained, and protected from deletion, by default', () => {
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties?.['DeletionProtectionEnabled']).toBe(true);
  });
});

describe('the functions', () => {
  it('are exactly pbx-api, app-api, events, callbacks and ring-timer', () => {
    expect(Object.keys(resourcesOf(s.template, 'AWS::Lambda::Function'))).toHaveLength(FUNCTION_NAMES.length);
    for (const name of FUNCTION_NAMES) expect(() => lambdaFunction(s.template, name)).not.toThrow();
  });

  it.each(FUNCTION_NAMES)('%s runs on Node.js 22 or newer, on arm64, as ESM', (name) => {
    const fn = lambdaFunction(s.template, name)[1];
    const runtime = fn.Properties?.['Runtime'];
    expect(runtime).toMatch(/^nodejs\d+\.x$/);
    expect(Number(/^nodejs(\d+)\.x$/.exec(String(runtime))?.[1])).toBeGreaterThanOrEqual(22);
    expect(fn.Properties?.['Architectures']).toEqual(['arm64']);
    expect(fn.Properties?.['Handler']).toBe('index.handler');
    expect(environmentOf(fn)['NODE_OPTIONS']).toEqual(expect.stringContaining('--enable-source-maps'));
  });

  it("sizes pbx-api at 512 MB and app-api at 256 MB, both timing out after the functions' API timeout", () => {
    const pbx = lambdaFunction(s.template, 'pbx-api')[1];
    const app = lambdaFunction(s.template, 'app-api')[1];
    expect([pbx.Properties?.['MemorySize'], pbx.Properties?.['Timeout']]).toEqual([512, API_FUNCTION_TIMEOUT_SECONDS]);
    expect([app.Properties?.['MemorySize'], app.Properties?.['Timeout']]).toEqual([256, API_FUNCTION_TIMEOUT_SECONDS]);
  });

  it('sizes events as pbx-api: it signs provider tokens and opens TLS to APNs for the end-of-call alerts', () => {
    const pbx = lambdaFunction(s.template, 'pbx-api')[1];
    expect(lambdaFunction(s.template, 'events')[1].Properties?.['MemorySize']).toBe(pbx.Properties?.['MemorySize']);
  });

  it.each(['pbx-api', 'app-api'] as const)(
    '%s outlives the longest held request (20 s) with room for its reads',
    (name) => {
      const timeout = Number(lambdaFunction(s.template, name)[1].Properties?.['Timeout']);
      expect(timeout).toBeGreaterThanOrEqual(MAX_WAIT_SECONDS + 3);
    },
  );

  it.each(FUNCTION_NAMES)('%s logs to its own log group, kept for one month', (name) => {
    const logGroupOf = (fn: CfnResource) =>
      referencedId((fn.Properties?.['LoggingConfig'] as { [k: string]: Json } | undefined)?.['LogGroup']);
    const logGroupId = logGroupOf(lambdaFunction(s.template, name)[1]);
    const logGroup = resourcesOf(s.template, 'AWS::Logs::LogGroup')[String(logGroupId)];
    expect(logGroup?.Properties?.['RetentionInDays']).toBe(30);
    for (const other of FUNCTION_NAMES.filter((n) => n !== name)) {
      expect(logGroupOf(lambdaFunction(s.template, other)[1])).not.toBe(logGroupId);
    }
  });

  /** Strings only the SDK clients contain (protocol target prefixes, service ids): none may be bundled. */
  const SDK_CLIENT_MARKERS = ['DynamoDB_20120810', 'AmazonSQS', 'secretsmanager.', '2010-03-31'];

  it.each(FUNCTION_NAMES)(
    "%s is bundled: minified ESM with the require banner, a source map, the AWS SDK left to the runtime's",
    (name) => {
      const fn = lambdaFunction(s.template, name)[1];
      const assetDir = join(s.outdir, String(fn.Metadata?.['aws:asset:path']));
      const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      // (Booleans and short lists only: a failing matcher would print the whole bundle.)
      expect(bundle.slice(0, 120)).toContain("import { createRequire as __callwakeCreateRequire } from 'node:module';");
      expect(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/.test(bundle)).toBe(true);
      expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
      // Nothing imported from outside the bundle but Node's own modules and the AWS SDK v3 the
      // runtime ships (a require() left in the bundle would name a module in a string)...
      const imported = [...bundle.matchAll(/\bfrom\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g)].map(
        (m) => m[1] ?? m[2],
      );
      const outside = [...new Set(imported.filter((m) => !m?.startsWith('node:')))];
      expect(outside.filter((m) => !/^@aws-sdk\/[a-z0-9-]+$/.test(String(m)))).toEqual([]);
      expect(outside.length).toBeGreaterThan(0);
      // ...and none of the SDK's clients inside it.
      expect(SDK_CLIENT_MARKERS.filter((marker) => bundle.includes(marker))).toEqual([]);
      // Minified: few, long lines.
      expect(bundle.split('\n').length).toBeLessThan(bundle.length / 500);
    },
  );

  it.each(FUNCTION_NAMES)('%s: its minified bundle is at most 250 KB', (name) => {
    const fn = lambdaFunction(s.template, name)[1];
    const size = statSync(join(s.outdir, String(fn.Metadata?.['aws:asset:path']), 'index.mjs')).size;
    expect(size).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
  });

  /** The runtime's SDK clients each function loads at its cold start: those it uses, no others. */
  const SDK_CLIENTS: Record<(typeof FUNCTION_NAMES)[number], string[]> = {
    'pbx-api': ['client-dynamodb', 'client-secrets-manager', 'lib-dynamodb', 'util-dynamodb'],
    'app-api': ['client-dynamodb', 'client-secrets-manager', 'lib-dynamodb', 'util-dynamodb'],
    events: ['client-dynamodb', 'client-secrets-manager', 'client-sns', 'client-sqs', 'lib-dynamodb', 'util-dynamodb'],
    callbacks: ['client-secrets-manager', 'client-sqs'],
    'ring-timer': ['client-dynamodb', 'lib-dynamodb', 'util-dynamodb'],
  };
  it.each(FUNCTION_NAMES)('%s: imports only the SDK clients it uses', (name) => {
    const fn = lambdaFunction(s.template, name)[1];
    const bundle = readFileSync(join(s.outdir, String(fn.Metadata?.['aws:asset:path']), 'index.mjs'), 'utf8');
    const imported = [...new Set([...bundle.matchAll(/from\s*"@aws-sdk\/([a-z0-9-]+)"/g)].map((m) => m[1]!))].sort();
    expect(imported).toEqual(SDK_CLIENTS[name]);
  });

  it('bundles with the house options: ESM for node22, minified, source maps without sources, the SDK external', () => {
    expect(HOUSE_BUNDLING).toEqual(
      expect.objectContaining({
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: false,
        externalModules: ['@aws-sdk/*'],
        forceDockerBundling: false,
      }),
    );
    expect(HOUSE_RUNTIME.name).toBe('nodejs22.x');
  });
});

describe('the environment of the functions', () => {
  it('pbx-api gets exactly the settings it reads', () => {
    const env = environmentOf(lambdaFunction(s.template, 'pbx-api')[1]);
    expect(Object.keys(env).sort()).toEqual(
      [
        'APNS_DEFAULT_ENVIRONMENT',
        'APNS_KEYS_SECRET_NAME',
        'LOG_LEVEL',
        'METRICS_BY_TENANT',
        'NODE_OPTIONS',
        'POWERTOOLS_SERVICE_NAME',
        'PUSH_DEADLINE_MS',
        'SECRETS_MAX_AGE_SECONDS',
        'TABLE_NAME',
        'TENANT_REQUESTS_PER_SECOND',
        'TENANT_RINGING_CALLS',
        'TENANT_SECRETS_NAME',
        'TOKEN_KEYS_SECRET_NAME',
      ].sort(),
    );
    expect(env['TENANT_REQUESTS_PER_SECOND']).toBe('50');
    expect(env['TENANT_RINGING_CALLS']).toBe('200');
    expect(env['APNS_DEFAULT_ENVIRONMENT']).toBe('production');
    expect(env['PUSH_DEADLINE_MS']).toBe('5000');
    expect(env['LOG_LEVEL']).toBe('INFO');
    expect(env['POWERTOOLS_SERVICE_NAME']).toBe('callwake-pbx-api');
    expect(env['METRICS_BY_TENANT']).toBe('false');
    expect(env['SECRETS_MAX_AGE_SECONDS']).toBe('60');
  });

  it('app-api is not even told the names of the tenant and APNs secrets', () => {
    const env = environmentOf(lambdaFunction(s.template, 'app-api')[1]);
    expect(Object.keys(env).sort()).toEqual(
      [
        'APNS_DEFAULT_ENVIRONMENT',
        'LOG_LEVEL',
        'METRICS_BY_TENANT',
        'NODE_OPTIONS',
        'POWERTOOLS_SERVICE_NAME',
        'SECRETS_MAX_AGE_SECONDS',
        'TABLE_NAME',
        'TOKEN_KEYS_SECRET_NAME',
      ].sort(),
    );
    expect(env['POWERTOOLS_SERVICE_NAME']).toBe('callwake-app-api');
    expect(env['SECRETS_MAX_AGE_SECONDS']).toBe('60');
  });

  /**
   * The house variables every function gets (its logging and metrics read them:
   * functions/adapters/observability.ts); the rest is what its config reads.
   */
  const HOUSE_VARIABLES = ['LOG_LEVEL', 'METRICS_BY_TENANT', 'NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME'];
  /** A function's environment as Lambda would hand it over: references become (placeholder) strings. */
  const asProcessEnv = (env: Record<string, Json>): Record<string, string> =>
    Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : `<${referencedId(v)}>`]));
  const configReaders = [
    ['events', eventsConfig],
    ['callbacks', callbacksConfig],
    ['ring-timer', ringTimerConfig],
  ] as const;

  it.each(configReaders)('%s gets only variables its config reads, and the house ones', (name, read) => {
    const env = asProcessEnv(environmentOf(lambdaFunction(s.template, name)[1]));
    const config = read(env);
    for (const key of Object.keys(env).filter((k) => !HOUSE_VARIABLES.includes(k))) {
      // Read: another value either changes the config or is refused, naming the variable.
      let probed: unknown;
      try {
        probed = read({ ...env, [key]: 'not-this-value' });
      } catch (e) {
        expect(String(e)).toContain(key);
        continue;
      }
      expect([key, probed]).not.toEqual([key, config]);
    }
    expect(env['POWERTOOLS_SERVICE_NAME']).toBe(`callwake-${name}`);
    expect(env['LOG_LEVEL']).toBe('INFO');
    expect(env['METRICS_BY_TENANT']).toBe('false');
  });

  it('tells the functions that re-read secrets how old a secret may get, and only them', () => {
    for (const name of FUNCTION_NAMES) {
      const env = environmentOf(lambdaFunction(s.template, name)[1]);
      const reads = name === 'pbx-api' || name === 'app-api' || name === 'callbacks';
      expect([name, env['SECRETS_MAX_AGE_SECONDS']]).toEqual([name, reads ? '60' : undefined]);
    }
    const callbacksEnv = asProcessEnv(environmentOf(lambdaFunction(s.template, 'callbacks')[1]));
    expect(callbacksConfig(callbacksEnv).secretsMaxAgeMs).toBe(60_000);
  });

  it('tells events the APNs keys and the push deadline, as it tells pbx-api', () => {
    const pbx = environmentOf(lambdaFunction(s.template, 'pbx-api')[1]);
    const events = environmentOf(lambdaFunction(s.template, 'events')[1]);
    expect(events['APNS_KEYS_SECRET_NAME']).toBe('Callwake/apns-keys');
    expect(events['PUSH_DEADLINE_MS']).toBe(pbx['PUSH_DEADLINE_MS']);
    expect(eventsConfig(asProcessEnv(events))).toEqual(
      expect.objectContaining({ apnsKeysSecretName: 'Callwake/apns-keys', pushDeadlineMs: 5000 }),
    );
  });

  it('tells the events path functions where their topic and queues are', () => {
    const at = (type: string, path: string) => resourceIdAt(s.template, type, path);
    const queue = (id: string) => at('AWS::SQS::Queue', `${id}/Resource`);
    const refs = (name: FunctionName) =>
      Object.fromEntries(
        Object.entries(environmentOf(lambdaFunction(s.template, name)[1]))
          .filter(([, v]) => typeof v !== 'string')
          .map(([k, v]) => [k, referencedId(v)]),
      );
    const table = onlyResource(s.template, 'AWS::DynamoDB::Table')[0];
    expect(refs('events')).toEqual({
      TABLE_NAME: table,
      EVENTS_TOPIC_ARN: at('AWS::SNS::Topic', 'EventsTopic/Resource'),
      CALLBACK_QUEUE_URL: queue('CallbackQueue'),
      RING_TIMER_QUEUE_URL: queue('RingTimerQueue'),
      EVENTS_DLQ_URL: queue('EventsDeadLetterQueue'),
    });
    expect(refs('callbacks')).toEqual({
      CALLBACK_QUEUE_URL: queue('CallbackQueue'),
      CALLBACK_DLQ_URL: queue('CallbackDeadLetterQueue'),
    });
    expect(refs('ring-timer')).toEqual({ TABLE_NAME: table });
  });

  it.each(['pbx-api', 'app-api', 'events', 'ring-timer'] as const)('%s: TABLE_NAME is the table', (name) => {
    const env = environmentOf(lambdaFunction(s.template, name)[1]);
    expect(referencedId(env['TABLE_NAME'])).toBe(onlyResource(s.template, 'AWS::DynamoDB::Table')[0]);
  });

  it('has no PUBLIC_BASE_URL unless the operator sets one', () => {
    for (const name of ['pbx-api', 'app-api'] as const) {
      expect(environmentOf(lambdaFunction(s.template, name)[1])).not.toHaveProperty('PUBLIC_BASE_URL');
    }
  });

  it('names each secret by the name it has in the template', () => {
    const pbx = environmentOf(lambdaFunction(s.template, 'pbx-api')[1]);
    const app = environmentOf(lambdaFunction(s.template, 'app-api')[1]);
    expect(pbx['TENANT_SECRETS_NAME']).toBe('Callwake/tenant-secrets');
    expect(pbx['APNS_KEYS_SECRET_NAME']).toBe('Callwake/apns-keys');
    expect(pbx['TOKEN_KEYS_SECRET_NAME']).toBe('Callwake/token-keys');
    expect(app['TOKEN_KEYS_SECRET_NAME']).toBe('Callwake/token-keys');
    expect(environmentOf(lambdaFunction(s.template, 'events')[1])['APNS_KEYS_SECRET_NAME']).toBe('Callwake/apns-keys');
    expect(environmentOf(lambdaFunction(s.template, 'callbacks')[1])['TENANT_SECRETS_NAME']).toBe(
      'Callwake/tenant-secrets',
    );
    for (const name of ['Callwake/tenant-secrets', 'Callwake/apns-keys', 'Callwake/token-keys']) {
      expect(() => secretIdByName(name)).not.toThrow();
    }
  });

  it('holds only names where a key looks secret: plain strings, each the name of a secret', () => {
    const secretNames = Object.values(resourcesOf(s.template, 'AWS::SecretsManager::Secret')).map(
      (r) => r.Properties?.['Name'],
    );
    for (const name of FUNCTION_NAMES) {
      for (const [key, value] of Object.entries(environmentOf(lambdaFunction(s.template, name)[1]))) {
        if (!/SECRET|KEY|TOKEN|PASSWORD|PRIVATE|CREDENTIAL/i.test(key)) continue;
        if (key === 'SECRETS_MAX_AGE_SECONDS') {
          // How long a secret is cached, in seconds: a number, not a secret.
          expect(value).toMatch(/^\d{1,4}$/);
          continue;
        }
        expect(key).toMatch(/_NAME$/);
        expect(typeof value).toBe('string');
        expect(value).toMatch(/^[A-Za-z0-9/_+=.@-]{1,512}$/);
        expect(secretNames).toContain(value);
      }
    }
  });

  it('contains no secret value: no value equals or contains what any secret is made of', () => {
    const secretMaterial: string[] = [];
    for (const secret of Object.values(resourcesOf(s.template, 'AWS::SecretsManager::Secret'))) {
      const p = secret.Properties ?? {};
      if (typeof p['SecretString'] === 'string') secretMaterial.push(p['SecretString']);
      const gen = p['GenerateSecretString'] as { SecretStringTemplate?: string } | undefined;
      if (gen?.SecretStringTemplate !== undefined) {
        secretMaterial.push(gen.SecretStringTemplate);
        // and each member of the template, e.g. the initial key id's JSON pair
        for (const [k, v] of Object.entries(JSON.parse(gen.SecretStringTemplate) as Record<string, string>)) {
          secretMaterial.push(JSON.stringify({ [k]: v }).slice(1, -1));
        }
      }
    }
    expect(secretMaterial.length).toBeGreaterThanOrEqual(3);
    for (const name of FUNCTION_NAMES) {
      for (const value of Object.values(environmentOf(lambdaFunction(s.template, name)[1]))) {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        for (const material of secretMaterial) {
          expect(text).not.toBe(material);
          expect(text).not.toContain(material);
        }
        // Neither key material nor a JSON document in any variable.
        expect(text).not.toMatch(/-----BEGIN|PRIVATE KEY/);
        expect(text.trim().startsWith('{"') || text.trim().startsWith('[')).toBe(typeof value !== 'string');
        // A non-string value may only be a reference (to the table, the topic, a queue), never a secret.
        if (typeof value !== 'string') {
          const id = String(referencedId(value));
          expect(resourcesOf(s.template, 'AWS::SecretsManager::Secret')[id]).toBeUndefined();
          expect(['AWS::DynamoDB::Table', 'AWS::SNS::Topic', 'AWS::SQS::Queue']).toContain(
            (s.template.toJSON() as { Resources: Record<string, CfnResource> }).Resources[id]?.Type,
          );
        }
      }
    }
  });
});

describe('the secrets', () => {
  it('are three, created empty-but-valid for the operator, and retained', () => {
    const secrets = resourcesOf(s.template, 'AWS::SecretsManager::Secret');
    expect(Object.keys(secrets)).toHaveLength(3);
    for (const name of ['Callwake/tenant-secrets', 'Callwake/apns-keys']) {
      const secret = secrets[secretIdByName(name)] as CfnResource & { DeletionPolicy?: string };
      expect(JSON.parse(String(secret.Properties?.['SecretString']))).toEqual({});
      expect(secret.DeletionPolicy).toBe('Retain');
    }
  });

  it('generates the call-token key as {"kid", "key"} with a long random key', () => {
    const secret = resourcesOf(s.template, 'AWS::SecretsManager::Secret')[secretIdByName('Callwake/token-keys')];
    expect(secret?.Properties?.['SecretString']).toBeUndefined();
    const gen = secret?.Properties?.['GenerateSecretString'] as Record<string, Json>;
    expect(JSON.parse(String(gen['SecretStringTemplate']))).toEqual({ kid: expect.any(String) });
    expect(gen['GenerateStringKey']).toBe('key');
    expect(Number(gen['PasswordLength'])).toBeGreaterThanOrEqual(43); // >= 256 bits of [A-Za-z0-9]
  });
});

describe('the HTTP API', () => {
  const routeTargets = (): Record<string, string> => {
    const integrations = resourcesOf(s.template, 'AWS::ApiGatewayV2::Integration');
    const functionIds = {
      [lambdaFunction(s.template, 'pbx-api')[0]]: 'pbx-api',
      [lambdaFunction(s.template, 'app-api')[0]]: 'app-api',
    };
    const out: Record<string, string> = {};
    for (const route of Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Route'))) {
      const target = route.Properties?.['Target'] as { 'Fn::Join': [string, Json[]] };
      const integrationId = referencedId(target['Fn::Join'][1][1]);
      expect(target['Fn::Join'][1][0]).toBe('integrations/');
      const integration = integrations[String(integrationId)];
      expect(integration?.Properties?.['IntegrationType']).toBe('AWS_PROXY');
      expect(integration?.Properties?.['PayloadFormatVersion']).toBe('2.0');
      out[String(route.Properties?.['RouteKey'])] =
        functionIds[String(referencedId(integration?.Properties?.['IntegrationUri']))] ?? '?';
    }
    return out;
  };

  it('routes /v1/pbx/* to pbx-api and /v1/app/* and everything else to app-api', () => {
    expect(routeTargets()).toEqual({
      'ANY /v1/pbx/{proxy+}': 'pbx-api',
      'ANY /v1/app/{proxy+}': 'app-api',
      $default: 'app-api',
    });
  });

  it("waits 29 s for either function: longer than the function's timeout, within API Gateway's 30 s", () => {
    const integrations = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Integration'));
    expect(integrations).toHaveLength(2);
    for (const integration of integrations) {
      expect(integration.Properties?.['TimeoutInMillis']).toBe(29_000);
      const fnId = referencedId(integration.Properties?.['IntegrationUri']);
      const fn = resourcesOf(s.template, 'AWS::Lambda::Function')[String(fnId)];
      // API Gateway must never answer a held request itself: the function times out first.
      expect(Number(fn?.Properties?.['Timeout']) * 1000).toBeLessThan(29_000);
    }
  });

  it('lets API Gateway invoke each function, and only this API', () => {
    const apiId = onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[0];
    for (const name of ['pbx-api', 'app-api'] as const) {
      const fnId = lambdaFunction(s.template, name)[0];
      const permissions = Object.values(resourcesOf(s.template, 'AWS::Lambda::Permission')).filter(
        (p) => referencedId(p.Properties?.['FunctionName']) === fnId,
      );
      expect(permissions.length).toBeGreaterThan(0);
      for (const p of permissions) {
        expect(p.Properties?.['Principal']).toBe('apigateway.amazonaws.com');
        expect(JSON.stringify(p.Properties?.['SourceArn'])).toContain(`{"Ref":"${apiId}"}`);
      }
    }
  });

  it('has one auto-deployed $default stage', () => {
    const stage = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage')[1];
    expect(stage.Properties?.['StageName']).toBe('$default');
    expect(stage.Properties?.['AutoDeploy']).toBe(true);
  });

  it('throttles each route on its own: PBX 100 rps (burst 200), app 200 (400), unmatched paths 10 (20)', () => {
    const stage = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage')[1];
    const routeKeys = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties?.['RouteKey'],
    );
    const settings = stage.Properties?.['RouteSettings'] as Record<string, Json>;
    // Every route has limits of its own, and no setting names a route that does not exist.
    expect(Object.keys(settings).sort()).toEqual([...routeKeys].sort());
    expect(settings).toEqual({
      'ANY /v1/pbx/{proxy+}': { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      'ANY /v1/app/{proxy+}': { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      $default: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
    });
    // A route added later without limits of its own gets the smallest.
    expect(stage.Properties?.['DefaultRouteSettings']).toEqual(
      expect.objectContaining({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 }),
    );
  });

  it("creates the routes before the stage (a route's settings are refused before the route exists)", () => {
    const [, stage] = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage') as [
      string,
      CfnResource & { DependsOn?: string[] },
    ];
    for (const routeId of Object.keys(resourcesOf(s.template, 'AWS::ApiGatewayV2::Route'))) {
      expect(stage.DependsOn).toContain(routeId);
    }
  });

  it('writes JSON access logs to a log group kept one month', () => {
    const stage = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage')[1];
    const settings = stage.Properties?.['AccessLogSettings'] as { DestinationArn: Json; Format: string };
    const logGroup = resourcesOf(s.template, 'AWS::Logs::LogGroup')[String(referencedId(settings.DestinationArn))];
    expect(logGroup?.Properties?.['RetentionInDays']).toBe(30);
    expect(() => JSON.parse(settings.Format)).not.toThrow();
  });

  it('logs the route, status, latencies and both request ids, and no path: no user, device or call id', () => {
    const stage = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage')[1];
    const format = String((stage.Properties?.['AccessLogSettings'] as { Format?: string } | undefined)?.Format);
    expect(JSON.parse(format)).toEqual({
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
    });
    // Nothing that carries the path or what a client chose to send: ids, tokens, signatures.
    expect(format).not.toMatch(/\$context\.(path|resourcePath|domainName|domainPrefix)\b/);
    expect(format).not.toMatch(/body|header|authoriz|requestOverride|querystring|userAgent|customDomain/i);
  });

  it('outputs the API URL', () => {
    s.template.hasOutput('ApiUrl', {
      Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
    });
    expect(JSON.stringify(s.template.findOutputs('ApiUrl'))).toContain('execute-api');
  });
});

describe('least privilege', () => {
  const roleOf = (name: FunctionName) => roleOfFunction(lambdaFunction(s.template, name)[1]);
  const allows = (statements: Statement[], action: string): Statement[] =>
    statements.filter((st) => st.Effect === 'Allow' && actionsOf(st).some((a) => iamActionMatches(a, action)));

  /** The secrets (by name) a role may GetSecretValue, "*" when any. */
  const readableSecrets = (name: FunctionName): string[] => {
    const ids = new Map(
      Object.entries(resourcesOf(s.template, 'AWS::SecretsManager::Secret')).map(([id, r]) => [
        id,
        String(r.Properties?.['Name']),
      ]),
    );
    const out = new Set<string>();
    for (const st of allows(statementsOfRole(s.template, roleOf(name)), 'secretsmanager:GetSecretValue')) {
      for (const resource of resourcesOfStatement(st)) {
        const id = referencedId(resource);
        out.add(id !== undefined && ids.has(id) ? String(ids.get(id)) : JSON.stringify(resource));
      }
    }
    return [...out].sort();
  };

  it('pbx-api may read the tenant, APNs and token-key secrets', () => {
    expect(readableSecrets('pbx-api')).toEqual([
      'Callwake/apns-keys',
      'Callwake/tenant-secrets',
      'Callwake/token-keys',
    ]);
  });

  it('callbacks may read the tenant secrets (to sign), events the APNs keys (to alert), ring-timer no secret', () => {
    expect(readableSecrets('callbacks')).toEqual(['Callwake/tenant-secrets']);
    expect(readableSecrets('events')).toEqual(['Callwake/apns-keys']);
    const secretStatements = statementsOfRole(s.template, roleOf('ring-timer')).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements).toEqual([]);
  });

  it('app-api may read the token-key secret and nothing else', () => {
    expect(readableSecrets('app-api')).toEqual(['Callwake/token-keys']);
    const app = statementsOfRole(s.template, roleOf('app-api'));
    for (const secret of ['Callwake/tenant-secrets', 'Callwake/apns-keys']) {
      const id = secretIdByName(secret);
      const touching = app.filter((st) => st.Effect === 'Allow' && JSON.stringify(st.Resource).includes(`"${id}"`));
      expect(touching).toEqual([]);
    }
    // No secretsmanager action at all on anything but the token keys.
    for (const st of app.filter((x) =>
      actionsOf(x).some((a) => a.toLowerCase().startsWith('secretsmanager:') || a === '*'),
    )) {
      expect(resourcesOfStatement(st).map(referencedId)).toEqual([secretIdByName('Callwake/token-keys')]);
    }
  });

  it('pbx-api and app-api: their whole roles (their items, in table-access.test.ts)', () => {
    const names = readableNames(s.template);
    const nonItem = (name: FunctionName) =>
      permissionLines(s.template, roleOf(name), names).filter((l) => !/ on table\.Arn\b/.test(l));
    expect(nonItem('pbx-api')).toEqual(
      [
        'Allow logs:CreateLogStream on pbx-apiLogs.Arn',
        'Allow logs:PutLogEvents on pbx-apiLogs.Arn',
        ...['Callwake/tenant-secrets', 'Callwake/apns-keys', 'Callwake/token-keys'].flatMap((secret) => [
          `Allow secretsmanager:DescribeSecret on ${secret}`,
          `Allow secretsmanager:GetSecretValue on ${secret}`,
        ]),
      ].sort(),
    );
    expect(nonItem('app-api')).toEqual(
      [
        'Allow logs:CreateLogStream on app-apiLogs.Arn',
        'Allow logs:PutLogEvents on app-apiLogs.Arn',
        'Allow secretsmanager:DescribeSecret on Callwake/token-keys',
        'Allow secretsmanager:GetSecretValue on Callwake/token-keys',
      ].sort(),
    );
  });

  it.each(FUNCTION_NAMES)(
    '%s has no managed policy, no wildcard action, and no wildcard resource but for ListStreams',
    (name) => {
      const role = resourcesOf(s.template, 'AWS::IAM::Role')[roleOf(name)];
      expect(role?.Properties?.['ManagedPolicyArns']).toBeUndefined();
      for (const st of statementsOfRole(s.template, roleOf(name))) {
        for (const a of actionsOf(st)) expect(a).not.toMatch(/\*/);
        // dynamodb:ListStreams (the events function's stream event source) has no resource-level
        // permissions: IAM takes it on "*" only.
        if (resourcesOfStatement(st).includes('*')) {
          expect([name, actionsOf(st)]).toEqual(['events', ['dynamodb:ListStreams']]);
        }
      }
    },
  );

  it.each(FUNCTION_NAMES)('%s may write its own log group only', (name) => {
    const fn = lambdaFunction(s.template, name)[1];
    const own = referencedId((fn.Properties?.['LoggingConfig'] as { [k: string]: Json } | undefined)?.['LogGroup']);
    const logs = statementsOfRole(s.template, roleOf(name)).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('logs:')),
    );
    expect(logs.length).toBeGreaterThan(0);
    for (const st of logs) expect(resourcesOfStatement(st).map(referencedId)).toEqual([own]);
  });
});

it('keeps every log group for one month', () => {
  const groups = Object.values(resourcesOf(s.template, 'AWS::Logs::LogGroup'));
  expect(groups).toHaveLength(FUNCTION_NAMES.length + 1); // one per function, one access log
  for (const g of groups) expect(g.Properties?.['RetentionInDays']).toBe(30);
});
