/**
 * cdk-nag's AwsSolutions pack over the stack, as `cdk synth` runs it (bin/callwake.ts registers
 * it as a policy-validation plugin: cdk-nag v3 reports in the CDK's validation report instead of
 * annotations, and any unacknowledged finding, error or warning, fails synthesis). Every
 * acknowledgment must carry a real reason.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import cdkNag from 'cdk-nag';
import type { CallwakeStackProps } from '../../lib/callwake-stack.js';
import { acknowledgments, cdkJsonContext, nagFindings, type Synthesized, synthCallwake } from './support.js';

const { AwsSolutionsChecks } = cdkNag;

/** Rule ids as acknowledged (the CDK may qualify them with the plugin name). */
const ruleOf = (id: string): string => id.replace(/^[^:[]*::/, '');

const configurations: [string, Record<string, unknown>, Record<string, number>, CallwakeStackProps?][] = [
  [
    'the default deployment',
    {},
    {
      'AwsSolutions-L1': 5, // one per function
      'AwsSolutions-SMG4': 3, // one per secret created
      'AwsSolutions-APIG4': 1,
      'AwsSolutions-IAM5[Resource::*]': 1, // the events function's dynamodb:ListStreams
      'AwsSolutions-SQS3': 1, // the events dead-letter queue, a DLQ cdk-nag cannot recognise
    },
  ],
  [
    'imported secrets, X-Ray tracing, a custom domain and a destroyable table',
    {
      tenantSecretName: 'ops/callwake/tenants',
      apnsKeySecretName: 'ops/callwake/apns',
      tokenKeySecretName: 'ops/callwake/tokens',
      tracing: 'true',
      publicBaseUrl: 'https://calls.example.com',
      tableRemovalPolicy: 'destroy',
      logRetentionDays: '7',
    },
    {
      'AwsSolutions-L1': 5,
      // X-Ray's actions, one per role (the events function's also gives its ListStreams reason)
      'AwsSolutions-IAM5[Resource::*]': 5,
      'AwsSolutions-APIG4': 1,
      'AwsSolutions-SQS3': 1,
    },
  ],
  [
    'an API Gateway custom domain, tenant metrics, no monitoring and no reserved concurrency',
    {
      customDomainName: 'calls.example.com',
      customDomainCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      metricsByTenant: 'true',
      monitoring: 'false',
      pbxApiReservedConcurrency: 'none',
      appApiReservedConcurrency: 'none',
    },
    {
      'AwsSolutions-L1': 5,
      'AwsSolutions-SMG4': 3,
      'AwsSolutions-APIG4': 1,
      'AwsSolutions-IAM5[Resource::*]': 1,
      'AwsSolutions-SQS3': 1,
    },
  ],
  [
    'the edge: CloudFront and a web ACL of its own, in us-east-1',
    {
      edgeOriginDomainName: 'origin.calls.example.com',
      edgeOriginCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
    },
    {
      'AwsSolutions-L1': 5,
      'AwsSolutions-SMG4': 3,
      'AwsSolutions-APIG4': 1,
      'AwsSolutions-IAM5[Resource::*]': 1,
      'AwsSolutions-SQS3': 1,
      // the distribution: no access logs (paths hold ids), CloudFront's own certificate, no geo restriction
      'AwsSolutions-CFR1': 1,
      'AwsSolutions-CFR3': 1,
      'AwsSolutions-CFR4': 1,
    },
    { env: { account: '123456789012', region: 'us-east-1' } },
  ],
  [
    'the edge with an existing web ACL, in another region',
    {
      edgeOriginDomainName: 'origin.calls.example.com',
      edgeOriginCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      edgeWebAclArn:
        'arn:aws:wafv2:us-east-1:123456789012:global/webacl/callwake-edge/a1b2c3d4-5678-90ab-cdef-1234567890ab',
    },
    {
      'AwsSolutions-L1': 5,
      'AwsSolutions-SMG4': 3,
      'AwsSolutions-APIG4': 1,
      'AwsSolutions-IAM5[Resource::*]': 1,
      'AwsSolutions-SQS3': 1,
      'AwsSolutions-CFR1': 1,
      'AwsSolutions-CFR3': 1,
      'AwsSolutions-CFR4': 1,
    },
  ],
];

describe.each(configurations)('cdk-nag AwsSolutions on %s', (_name, context, expectedAcks, props) => {
  let s: Synthesized | undefined;
  let synthError: unknown;
  beforeAll(() => {
    try {
      // The rules look at the template, not the code: no bundling needed here.
      s = synthCallwake({ context, nag: true, bundle: false, ...(props === undefined ? {} : { props }) });
    } catch (e) {
      synthError = e;
    }
  });

  it('synthesizes: no unacknowledged error stops it', () => {
    expect(synthError === undefined ? '' : String(synthError)).toBe('');
  });

  it('leaves zero unacknowledged AwsSolutions errors and warnings', () => {
    expect(s).toBeDefined();
    const findings = nagFindings(s!.outdir);
    expect(findings.filter((f) => f.severity === 'error' || f.severity === 'fatal')).toEqual([]);
    expect(findings.filter((f) => f.severity === 'warning')).toEqual([]);
    expect(findings).toEqual([]);
  });

  it('acknowledges only the expected rules, each with a reason', () => {
    const acks = acknowledgments(s!.stack);
    const counts: Record<string, number> = {};
    for (const ack of acks) counts[ruleOf(ack.id)] = (counts[ruleOf(ack.id)] ?? 0) + 1;
    expect(counts).toEqual(expectedAcks);
    for (const ack of acks) {
      expect(ack.reason.length).toBeGreaterThan(80);
      // Acknowledged where the finding is, never stack-wide.
      expect(ack.path.split('/').length).toBeGreaterThan(2);
    }
  });
});

describe('the cdk-nag check itself', () => {
  const appWithNag = (): App => {
    const app = new App({ context: cdkJsonContext() });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    return app;
  };

  it('fails synthesis on an unacknowledged error', () => {
    const app = appWithNag();
    const stack = new Stack(app, 'Probe');
    new Secret(stack, 'NeverRotated');
    expect(() => app.synth()).toThrow(/AwsSolutions-SMG4/);
  });

  it('fails synthesis on an unacknowledged warning too, and the report lists it as one', () => {
    const app = appWithNag();
    const stack = new Stack(app, 'Probe');
    new Table(stack, 'NoPointInTimeRecovery', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    let message = '';
    try {
      app.synth();
    } catch (e) {
      message = String(e);
    }
    expect(message).toMatch(/WARNING[\s\S]*AwsSolutions-DDB3/);
    const reportPath = /A copy of this report can be found in: (\S+)validation-report\.json/.exec(message)?.[1];
    expect(reportPath).toBeDefined();
    expect(nagFindings(reportPath!)).toEqual([
      expect.objectContaining({ rule: 'AwsSolutions-DDB3', severity: 'warning' }),
    ]);
  });
});
