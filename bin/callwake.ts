#!/usr/bin/env node
/**
 * The callwake CDK app: `npx cdk synth`, `npx cdk deploy`.
 *
 * Context (cdk.json or `-c key=value`): `stackName` (default `Callwake`), `nag` (`false` skips the
 * cdk-nag AwsSolutions checks, which otherwise run as a policy-validation plugin on every synth and
 * fail it on any unacknowledged finding, error or warning), and the service settings listed in
 * docs/deploy.md.
 */
import { App, Validations } from 'aws-cdk-lib';
// cdk-nag is CommonJS whose re-exports Node cannot detect: import the exports object.
import cdkNag from 'cdk-nag';
import { CallwakeStack } from '../lib/callwake-stack.js';

const { AwsSolutionsChecks } = cdkNag;

const app = new App();

const stackName: unknown = app.node.tryGetContext('stackName') ?? 'Callwake';
if (typeof stackName !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
  throw new Error(`context stackName must be a CloudFormation stack name, got ${JSON.stringify(stackName)}`);
}

new CallwakeStack(app, stackName, {
  description: 'callwake: PBX webhook -> APNs VoIP push, and the API the woken app asks',
  // Environment-agnostic unless the CLI knows the target account and region (cdk deploy does).
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  },
});

const nag: unknown = app.node.tryGetContext('nag');
if (nag !== false && nag !== 'false') {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}

app.synth();
