/**
 * House defaults for callwake's Lambda functions.
 *
 * Every function is a `HouseFunction`: an esbuild-bundled, minified ESM `NodejsFunction` on arm64,
 * with its own IAM role (no AWS managed policy), its own log group with a fixed retention, and
 * source maps enabled at run time. Sizing (memory, timeout) and permissions stay with the caller.
 */
import { type Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  LogLevel,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The Lambda runtime. Node 22 on purpose: it is the Node version the handlers are developed and
 * tested on (the `node` devDependency, `engines.node`), and the esbuild target below. Move both
 * (and the `node` devDependency) together when moving to a newer runtime.
 */
export const HOUSE_RUNTIME = Runtime.NODEJS_22_X;

/** esbuild's syntax target; must match {@link HOUSE_RUNTIME}. */
export const HOUSE_ESBUILD_TARGET = 'node22';

/** Graviton: cheaper per GB-second than x86_64 and at least as fast for this I/O-bound code. */
export const HOUSE_ARCHITECTURE = Architecture.ARM_64;

/** How long function and access logs are kept unless the operator says otherwise. */
export const HOUSE_LOG_RETENTION = RetentionDays.ONE_MONTH;

/**
 * Prepended to every ESM bundle. esbuild turns a CommonJS dependency's `require('x')` into a call
 * that throws "Dynamic require of x is not supported" in an ES module unless a `require` function
 * is in scope; this defines one for the bundle. The import is aliased so it cannot collide with a
 * bundled module's own `createRequire` binding.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __callwakeCreateRequire } from 'node:module';" +
  'const require = __callwakeCreateRequire(import.meta.url);';

/**
 * What the Lambda Node.js runtime ships and the bundles leave out: the whole AWS SDK for
 * JavaScript v3 (every `@aws-sdk/*` package, `lib-dynamodb` and `util-dynamodb` included), which
 * Node.js 18+ runtimes resolve for ES modules too (through NODE_PATH). Bundled, the SDK alone was
 * ~400 KB of each ~400-490 KB bundle; without it every bundle is under
 * {@link MAX_BUNDLE_BYTES} (docs/decisions.md, "The AWS SDK from the runtime").
 */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*'] as const;

/** The most a function's minified bundle (`index.mjs`) may weigh; test/infra checks each. */
export const MAX_BUNDLE_BYTES = 250_000;

/**
 * esbuild options shared by every function.
 *
 * The AWS SDK v3 is taken from the runtime, not bundled ({@link RUNTIME_PROVIDED_MODULES}): the
 * code uses long-stable APIs of the SDK (GetItem, PutItem, UpdateItem, TransactWriteItems,
 * GetSecretValue, PublishBatch, SendMessage(Batch)), so the runtime's version, whatever Lambda
 * ships that month, runs it as the tests' version does. The exact list is explicit rather than
 * CDK's default for `bundleAwsSDK: false`, which also leaves out `@smithy/*` behind a feature flag.
 */
export const HOUSE_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: HOUSE_ESBUILD_TARGET,
  // Prefer packages' ES module builds: they tree-shake, their CommonJS builds mostly do not.
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_BANNER,
  minify: true,
  sourceMap: true,
  // An external `.map` file next to the bundle, referenced from it: stack traces are mapped at
  // run time (NODE_OPTIONS=--enable-source-maps) without inlining the map into the code.
  sourceMapMode: SourceMapMode.DEFAULT,
  // Stack traces need names and line mappings, not the original sources: keeps the map (which
  // Node reads and parses at start-up when source maps are enabled) small.
  sourcesContent: false,
  // The AWS SDK v3 the runtime ships (every @aws-sdk/* package), not a copy in each bundle.
  bundleAwsSDK: false,
  externalModules: [...RUNTIME_PROVIDED_MODULES],
  // Bundle with the esbuild from devDependencies; never needs Docker.
  forceDockerBundling: false,
  logLevel: LogLevel.WARNING,
};

/** The environment every function gets, whatever it does. */
export const HOUSE_ENVIRONMENT: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--enable-source-maps',
};

export interface HouseFunctionProps {
  /** Absolute path of the handler's TypeScript entry file (it exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Added to {@link HOUSE_ENVIRONMENT}. */
  readonly environment: Record<string, string>;
  /** @default HOUSE_LOG_RETENTION */
  readonly logRetention?: RetentionDays;
  /** X-Ray active tracing. @default false */
  readonly tracing?: boolean;
  /**
   * Concurrent executions reserved for the function, which are also the most it may run at once.
   * @default - none: the function draws on the account's unreserved concurrency
   */
  readonly reservedConcurrency?: number;
  /**
   * Why a statement the caller adds to the role needs `Resource: "*"` (an action without
   * resource-level permissions), acknowledged for cdk-nag with X-Ray's reason when tracing.
   * @default - the caller adds no such statement
   */
  readonly wildcardResourceReason?: string;
}

/** Why X-Ray tracing needs `Resource: "*"`. */
const XRAY_WILDCARD_REASON =
  'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not ' +
  'support resource-level permissions, so IAM requires Resource "*" for them.';

/**
 * A `NodejsFunction` with the house defaults, its own role and its own log group.
 *
 * The role starts with nothing but "write to my own log group" (instead of the AWS managed
 * `AWSLambdaBasicExecutionRole`, which may write to every log group of the account); the caller
 * grants the rest.
 */
export class HouseFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention ?? HOUSE_LOG_RETENTION });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of: ${props.description}`,
    });
    // logs:CreateLogStream and logs:PutLogEvents on this log group only.
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: HOUSE_RUNTIME,
      architecture: HOUSE_ARCHITECTURE,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing === true ? Tracing.ACTIVE : Tracing.DISABLED,
      ...(props.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrency }),
      environment: { ...HOUSE_ENVIRONMENT, ...props.environment },
      bundling: HOUSE_BUNDLING,
    });

    // cdk-nag (AwsSolutions) acknowledgments, scoped to this function.
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x on purpose: the handlers are developed and tested on Node 22 (the `node` ' +
        'devDependency, engines.node) and bundled for esbuild target node22. A newer runtime ' +
        'is adopted by moving HOUSE_RUNTIME, HOUSE_ESBUILD_TARGET and the test Node together.',
    });

    // One acknowledgment per role: the finding is one per policy, whatever put "*" in it.
    const wildcardReasons = [
      ...(props.tracing === true ? [XRAY_WILDCARD_REASON] : []),
      ...(props.wildcardResourceReason === undefined ? [] : [props.wildcardResourceReason]),
    ];
    if (wildcardReasons.length > 0) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: wildcardReasons.join(' '),
      });
    }
  }
}
