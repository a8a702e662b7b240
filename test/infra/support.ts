/**
 * Shared helpers of the CDK tests: synthesize the stack once per test file (bundling included
 * when asked), and read the template the way the assertions need it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import cdkNag from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { CallwakeStack, type CallwakeStackProps } from '../../lib/callwake-stack.js';

const { AwsSolutionsChecks } = cdkNag;

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The `context` of cdk.json (the feature flags `cdk synth` runs with). */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface SynthOptions {
  /** Extra context, as `-c key=value` would give it. */
  readonly context?: Record<string, unknown>;
  readonly props?: CallwakeStackProps;
  /** Bundle the functions with esbuild (slow-ish); false leaves the assets unbundled. */
  readonly bundle?: boolean;
  /** Register cdk-nag's AwsSolutionsChecks as a policy-validation plugin, as bin/ does. */
  readonly nag?: boolean;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: CallwakeStack;
  readonly template: Template;
  /** The cloud assembly's directory (assets, validation-report.json). */
  readonly outdir: string;
}

/** Builds and synthesizes one `Callwake` stack in its own app. Call it once per file (beforeAll). */
export function synthCallwake(options: SynthOptions = {}): Synthesized {
  const app = new App({
    context: {
      // What the CDK CLI turns on: construct paths and asset paths in the template's metadata.
      'aws:cdk:enable-path-metadata': true,
      'aws:cdk:enable-asset-metadata': true,
      ...cdkJsonContext(),
      ...options.context,
      // An empty list of bundling stacks skips esbuild (CDK's own `--exclusively` mechanism).
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
  });
  const stack = new CallwakeStack(app, 'Callwake', {
    env: { account: '123456789012', region: 'eu-west-1' },
    ...options.props,
  });
  if (options.nag === true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  const assembly = app.synth();
  return { app, stack, template: Template.fromStack(stack), outdir: assembly.directory };
}

// ---- Template reading ------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, Json>;
  readonly Metadata?: Record<string, Json>;
}

export function resourcesOf(template: Template, type: string): Record<string, CfnResource> {
  return template.findResources(type) as Record<string, CfnResource>;
}

export function onlyResource(template: Template, type: string): [string, CfnResource] {
  const entries = Object.entries(resourcesOf(template, type));
  if (entries.length !== 1) throw new Error(`expected exactly one ${type}, found ${entries.length}`);
  return entries[0] as [string, CfnResource];
}

/** The functions, by the folder of their handler (`functions/<name>/handler.ts`). */
export const FUNCTION_NAMES = ['pbx-api', 'app-api', 'events', 'callbacks', 'ring-timer'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** The id of each function's construct under `Callwake`. */
const FUNCTION_CONSTRUCTS: Record<FunctionName, string> = {
  'pbx-api': 'PbxApi',
  'app-api': 'AppApi',
  events: 'Events',
  callbacks: 'Callbacks',
  'ring-timer': 'RingTimer',
};

/** Logical id and resource of the function built from `functions/<name>/handler.ts`. */
export function lambdaFunction(template: Template, name: FunctionName): [string, CfnResource] {
  const construct = FUNCTION_CONSTRUCTS[name];
  // By construct path when the template carries it (as the CLI makes it), else by logical id,
  // which the CDK derives from the same path.
  const matches = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id, r]) => {
    const path = r.Metadata?.['aws:cdk:path'] as string | undefined;
    return path === undefined
      ? new RegExp(`^Callwake${construct}Function[0-9A-F]{8}$`).test(id)
      : path.endsWith(`/Callwake/${construct}/Function/Resource`);
  });
  if (matches.length !== 1) throw new Error(`expected one ${name} function, found ${matches.length}`);
  return matches[0] as [string, CfnResource];
}

/**
 * Logical id of the resource of type `type` whose construct path ends with `/Callwake/<path>`
 * (e.g. `CallbackQueue/Resource`), as the CLI's path metadata gives it.
 */
export function resourceIdAt(template: Template, type: string, path: string): string {
  const matches = Object.entries(resourcesOf(template, type)).filter(([, r]) =>
    String(r.Metadata?.['aws:cdk:path']).endsWith(`/Callwake/${path}`),
  );
  if (matches.length !== 1) throw new Error(`expected one ${type} at Callwake/${path}, found ${matches.length}`);
  return (matches[0] as [string, CfnResource])[0];
}

export function environmentOf(fn: CfnResource): Record<string, Json> {
  const env = fn.Properties?.['Environment'] as { Variables?: Record<string, Json> } | undefined;
  return env?.Variables ?? {};
}

/** The logical id a `{"Fn::GetAtt": [id, attr]}` or `{"Ref": id}` points at. */
export function referencedId(value: Json | undefined): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const ref = value['Ref'];
  if (typeof ref === 'string') return ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}

export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: Json;
  readonly Condition?: Record<string, Record<string, Json>>;
  readonly Sid?: string;
}

/** Every statement of every inline or attached policy of the role `roleId`. */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  const statements: Statement[] = [];
  const role = resourcesOf(template, 'AWS::IAM::Role')[roleId];
  if (role === undefined) throw new Error(`no role ${roleId}`);
  for (const policy of (role.Properties?.['Policies'] ?? []) as unknown as {
    PolicyDocument: { Statement: Statement[] };
  }[]) {
    statements.push(...policy.PolicyDocument.Statement);
  }
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const policy of Object.values(resourcesOf(template, type))) {
      const roles = (policy.Properties?.['Roles'] ?? []) as Json[];
      if (roles.some((r) => referencedId(r) === roleId)) {
        const doc = policy.Properties?.['PolicyDocument'] as unknown as { Statement: Statement[] };
        statements.push(...doc.Statement);
      }
    }
  }
  return statements;
}

export function roleOfFunction(fn: CfnResource): string {
  const id = referencedId(fn.Properties?.['Role']);
  if (id === undefined) throw new Error('function role is not a resource of this template');
  return id;
}

/**
 * A role's permissions as one line per action, resource and condition, sorted: independent of
 * how the CDK merged statements. Resources read `<logical id>` (Ref), `<logical id>.<attribute>`
 * (GetAtt) or the literal; `names` renames logical ids to something readable.
 */
export function permissionLines(template: Template, roleId: string, names: Record<string, string> = {}): string[] {
  const resourceName = (r: Json): string => {
    if (typeof r === 'string') return r;
    const id = referencedId(r);
    if (id === undefined) return JSON.stringify(r);
    const getAtt = r !== null && typeof r === 'object' && !Array.isArray(r) ? r['Fn::GetAtt'] : undefined;
    const attribute = Array.isArray(getAtt) ? `.${String(getAtt[1])}` : '';
    return `${names[id] ?? id}${attribute}`;
  };
  const lines = statementsOfRole(template, roleId).flatMap((st) => {
    const condition = st.Condition === undefined ? '' : ` if ${JSON.stringify(st.Condition)}`;
    return actionsOf(st).flatMap((a) =>
      resourcesOfStatement(st).map((r) => `${st.Effect} ${a} on ${resourceName(r)}${condition}`),
    );
  });
  return [...new Set(lines)].sort();
}

/**
 * Readable names for {@link permissionLines}: `table`, `topic`, each queue by its construct id
 * (`CallbackQueue`), each secret by its name, each function's log group as `<function>Logs`.
 */
export function readableNames(template: Template): Record<string, string> {
  const byPath = (type: string, pathSuffix: RegExp): Record<string, string> =>
    Object.fromEntries(
      Object.entries(resourcesOf(template, type)).flatMap(([id, r]) => {
        const m = pathSuffix.exec(String(r.Metadata?.['aws:cdk:path']));
        return m?.[1] === undefined ? [] : [[id, m[1]]];
      }),
    );
  return {
    [onlyResource(template, 'AWS::DynamoDB::Table')[0]]: 'table',
    [resourceIdAt(template, 'AWS::SNS::Topic', 'EventsTopic/Resource')]: 'topic',
    ...byPath('AWS::SQS::Queue', /\/Callwake\/([A-Za-z]+)\/Resource$/),
    ...Object.fromEntries(
      Object.entries(resourcesOf(template, 'AWS::SecretsManager::Secret')).map(([id, r]) => [
        id,
        String(r.Properties?.['Name']),
      ]),
    ),
    ...Object.fromEntries(
      FUNCTION_NAMES.map((name) => {
        const fn = lambdaFunction(template, name)[1];
        const logGroup = (fn.Properties?.['LoggingConfig'] as Record<string, Json> | undefined)?.['LogGroup'];
        return [String(referencedId(logGroup)), `${name}Logs`];
      }),
    ),
  };
}

/** The `ForAllValues:StringLike` condition on leading keys that admits items under `prefixes`, as permissionLines prints it. */
export const onlyItemsUnder = (...prefixes: string[]): Record<string, Record<string, string[]>> => ({
  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes.map((p) => `${p}*`) },
});

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOfStatement = (s: Statement): Json[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** True when `action` matches `pattern` as IAM matches actions (`*` wildcards, case-insensitive). */
export function iamActionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 'i');
  return re.test(action);
}

/** True when `value` matches `pattern` as IAM's `StringLike` does (`*` and `?` wildcards, case-sensitive). */
export function iamStringLikeMatches(pattern: string, value: string): boolean {
  const wildcards = pattern.split('*').map((part) => part.split('?').map(escapeRegExp).join('.'));
  return new RegExp(`^${wildcards.join('.*')}$`, 's').test(value);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- cdk-nag findings ------------------------------------------------------------------------

export interface NagFinding {
  readonly rule: string;
  readonly severity: string;
  readonly paths: string[];
}

interface ValidationReportJson {
  readonly pluginReports: {
    readonly pluginName: string;
    readonly violations: {
      readonly ruleName: string;
      readonly severity: string;
      readonly violatingConstructs: { readonly constructPath: string }[];
    }[];
  }[];
}

/**
 * The unacknowledged AwsSolutions violations of a synthesized assembly, from the policy
 * validation report the CDK writes (cdk-nag v3 reports there, not as annotations). Acknowledged
 * violations are listed separately by the CDK (`suppressedViolations`) and are not returned.
 */
export function nagFindings(outdir: string): NagFinding[] {
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReportJson;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations
      .map((v) => ({
        rule: v.ruleName.startsWith('AwsSolutions') ? v.ruleName : `${plugin.pluginName}-${v.ruleName}`,
        severity: v.severity,
        paths: v.violatingConstructs.map((c) => c.constructPath),
      }))
      .filter((f) => f.rule.startsWith('AwsSolutions')),
  );
}

/** Every acknowledgment (rule id -> reason) recorded with `Validations.of(x).acknowledge`. */
export function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
        .flatMap((m) =>
          Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id, reason })),
        ),
    );
}

// ---- CloudWatch dashboards -------------------------------------------------------------------

/**
 * The dashboard's body as JSON: its `Fn::Join` rendered with every reference replaced by
 * `<logical id>` (`{"Ref": id}`, `{"Fn::GetAtt": [id, …]}`) or `<pseudo parameter>`.
 */
export function dashboardBody(dashboard: CfnResource): {
  widgets: { type: string; properties: Record<string, Json> }[];
} {
  const body = dashboard.Properties?.['DashboardBody'] as Json;
  const join = (body as { 'Fn::Join'?: [string, Json[]] })?.['Fn::Join'];
  const parts = typeof body === 'string' ? [body] : (join?.[1] ?? []);
  const text = parts.map((p) => (typeof p === 'string' ? p : `<${referencedId(p) ?? 'token'}>`)).join('');
  return JSON.parse(text) as { widgets: { type: string; properties: Record<string, Json> }[] };
}
