/**
 * The optional edge: CloudFront with an AWS WAF rate limit per client IP in front of the API, the
 * `execute-api` endpoint off, API Gateway reached on the operator's origin name, and pushes
 * pointing apps at the distribution. Set through CDK context, as an operator sets it.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CallwakeStack } from '../../lib/callwake-stack.js';
import { EDGE_ORIGIN_READ_TIMEOUT, WAF_RATE_LIMITED_BODY } from '../../lib/edge.js';
import {
  type CfnResource,
  cdkJsonContext,
  environmentOf,
  FUNCTION_NAMES,
  type Json,
  lambdaFunction,
  onlyResource,
  referencedId,
  resourcesOf,
  type Synthesized,
  synthCallwake,
} from './support.js';

const ORIGIN = 'origin-7f3k.calls.example.com';
const CERTIFICATE_US_EAST_1 = 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const CERTIFICATE_EU_WEST_1 = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const OWN_WEB_ACL =
  'arn:aws:wafv2:us-east-1:123456789012:global/webacl/callwake-edge/a1b2c3d4-5678-90ab-cdef-1234567890ab';
/** CloudFront's managed policies, by their fixed ids. */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

const US_EAST_1 = { env: { account: '123456789012', region: 'us-east-1' } };
const edgeContext = { edgeOriginDomainName: ORIGIN, edgeOriginCertificateArn: CERTIFICATE_US_EAST_1 };

type DistributionConfig = {
  DefaultCacheBehavior: Record<string, Json>;
  Origins: { DomainName: Json; Id: string; CustomOriginConfig: Record<string, Json> }[];
  WebACLId: Json;
  CacheBehaviors?: Json[];
  DefaultRootObject?: string;
};
const distributionOf = (s: Synthesized): DistributionConfig =>
  onlyResource(s.template, 'AWS::CloudFront::Distribution')[1].Properties?.[
    'DistributionConfig'
  ] as unknown as DistributionConfig;

describe('with the edge (web ACL created here, stack in us-east-1)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({ context: edgeContext, props: US_EAST_1, bundle: false });
  });

  it("turns API Gateway's execute-api endpoint off: nothing reaches the API around the WAF", () => {
    expect(onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[1].Properties?.['DisableExecuteApiEndpoint']).toBe(true);
  });

  it('serves the API on the origin name (regional, TLS 1.2), mapped to the stage once the stage exists', () => {
    const [domainId, domain] = onlyResource(s.template, 'AWS::ApiGatewayV2::DomainName');
    expect(domain.Properties).toEqual({
      DomainName: ORIGIN,
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE_US_EAST_1, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ],
    });
    const [, mapping] = onlyResource(s.template, 'AWS::ApiGatewayV2::ApiMapping') as [
      string,
      CfnResource & { DependsOn?: string[] },
    ];
    const [stageId] = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage');
    expect(referencedId(mapping.Properties?.['ApiId'])).toBe(onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[0]);
    expect(referencedId(mapping.Properties?.['DomainName'])).toBe(domainId);
    expect(mapping.Properties?.['Stage']).toBe('$default');
    expect(mapping.Properties?.['ApiMappingKey']).toBeUndefined();
    expect(mapping.DependsOn).toContain(stageId);
  });

  it('puts one CloudFront distribution in front, its one origin the API on the origin name, HTTPS and TLS 1.2 only', () => {
    const config = distributionOf(s);
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0]?.DomainName).toBe(ORIGIN);
    expect(config.Origins[0]?.CustomOriginConfig).toEqual({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
      OriginReadTimeout: EDGE_ORIGIN_READ_TIMEOUT.toSeconds(),
    });
    expect(config.CacheBehaviors).toBeUndefined();
    expect(config.DefaultRootObject).toBeUndefined();
  });

  it('waits for the origin longer than API Gateway waits for a held request', () => {
    const origin = distributionOf(s).Origins[0]?.CustomOriginConfig;
    for (const integration of Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Integration'))) {
      expect(Number(origin?.['OriginReadTimeout']) * 1000).toBeGreaterThan(
        Number(integration.Properties?.['TimeoutInMillis']),
      );
    }
  });

  it('passes every method, every header but Host, the query and the body, HTTPS only, and caches nothing', () => {
    const behavior = distributionOf(s).DefaultCacheBehavior;
    expect(behavior['ViewerProtocolPolicy']).toBe('https-only');
    expect([...(behavior['AllowedMethods'] as string[])].sort()).toEqual(
      ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'].sort(),
    );
    // CachingDisabled: no cache key, nothing kept. With it, AllViewerExceptHostHeader forwards all
    // viewer headers (Authorization, X-Callwake-Signature, If-None-Match, Prefer), cookies and the
    // query string; the Host is the origin's, which API Gateway's custom domain needs.
    expect(behavior['CachePolicyId']).toBe(CACHING_DISABLED);
    expect(behavior['OriginRequestPolicyId']).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER);
    expect(behavior['ForwardedValues']).toBeUndefined();
    expect(behavior['Compress']).toBe(false);
  });

  it('attaches a web ACL: CloudFront scope, allow by default, one rate-based rule per client IP', () => {
    const [aclId, acl] = onlyResource(s.template, 'AWS::WAFv2::WebACL');
    expect(distributionOf(s).WebACLId).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(acl.Properties?.['Scope']).toBe('CLOUDFRONT');
    expect(acl.Properties?.['DefaultAction']).toEqual({ Allow: {} });
    const rules = acl.Properties?.['Rules'] as Record<string, Json>[];
    expect(rules).toHaveLength(1);
    expect(rules[0]?.['Statement']).toEqual({
      // The default: the default tenant limit (50/s) over the five-minute window.
      RateBasedStatement: { AggregateKeyType: 'IP', EvaluationWindowSec: 300, Limit: 50 * 300 },
    });
    expect(rules[0]?.['VisibilityConfig']).toEqual(
      expect.objectContaining({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true }),
    );
  });

  it("answers a blocked client 429 rate_limited, as a problem like the functions' own", () => {
    const acl = onlyResource(s.template, 'AWS::WAFv2::WebACL')[1];
    const rule = (acl.Properties?.['Rules'] as Record<string, Json>[] | undefined)?.[0];
    expect(rule?.['Action']).toEqual({
      Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'rate_limited' } },
    });
    const bodies = acl.Properties?.['CustomResponseBodies'] as Record<string, { Content: string; ContentType: string }>;
    expect(bodies['rate_limited']?.ContentType).toBe('APPLICATION_JSON');
    expect(JSON.parse(bodies['rate_limited']?.Content ?? '')).toEqual({
      type: 'urn:callwake:problem:rate_limited',
      title: 'Too many requests',
      status: 429,
      detail: expect.any(String),
      code: 'rate_limited',
    });
    expect(bodies['rate_limited']?.Content).toBe(WAF_RATE_LIMITED_BODY);
  });

  it('points pushes at the distribution: PUBLIC_BASE_URL of pbx-api and app-api is its https URL', () => {
    const distributionId = onlyResource(s.template, 'AWS::CloudFront::Distribution')[0];
    const expected = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] };
    for (const name of FUNCTION_NAMES) {
      const env = environmentOf(lambdaFunction(s.template, name)[1]);
      if (name === 'pbx-api' || name === 'app-api') expect([name, env['PUBLIC_BASE_URL']]).toEqual([name, expected]);
      else expect(env).not.toHaveProperty('PUBLIC_BASE_URL');
    }
  });

  it("outputs the distribution's URL as ApiUrl, and where to point the origin name", () => {
    const distributionId = onlyResource(s.template, 'AWS::CloudFront::Distribution')[0];
    const domainId = onlyResource(s.template, 'AWS::ApiGatewayV2::DomainName')[0];
    expect(s.template.findOutputs('ApiUrl')['ApiUrl']?.['Value']).toEqual({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/']],
    });
    const target = s.template.findOutputs('EdgeOriginTarget')['EdgeOriginTarget'];
    expect(target?.['Value']).toEqual({ 'Fn::GetAtt': [domainId, 'RegionalDomainName'] });
    // An output's description must be a literal.
    expect(typeof target?.['Description']).toBe('string');
    expect(target?.['Description']).toContain(ORIGIN);
    expect(s.template.findOutputs('EdgeOriginHostedZoneId')['EdgeOriginHostedZoneId']?.['Value']).toEqual({
      'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'],
    });
  });

  it('logs nothing at the edge: no CloudFront access logs (paths hold ids), no WAF logging configuration', () => {
    expect(distributionOf(s)).not.toHaveProperty('Logging');
    expect(resourcesOf(s.template, 'AWS::WAFv2::LoggingConfiguration')).toEqual({});
  });
});

describe('with the edge and a web ACL of your own (the stack in any region)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({
      context: {
        edgeOriginDomainName: ORIGIN,
        edgeOriginCertificateArn: CERTIFICATE_EU_WEST_1,
        edgeWebAclArn: OWN_WEB_ACL,
      },
      bundle: false,
    });
  });

  it('creates no web ACL and attaches the one given', () => {
    expect(resourcesOf(s.template, 'AWS::WAFv2::WebACL')).toEqual({});
    expect(distributionOf(s).WebACLId).toBe(OWN_WEB_ACL);
    expect(onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[1].Properties?.['DisableExecuteApiEndpoint']).toBe(true);
  });
});

describe('with the edge during a switch-over (execute-api endpoint kept)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({
      context: { ...edgeContext, edgeKeepExecuteApiEndpoint: 'true' },
      props: US_EAST_1,
      bundle: false,
    });
  });

  it('builds the distribution and the WAF, and keeps the old way in and the pushes pointing at it', () => {
    expect(Object.keys(resourcesOf(s.template, 'AWS::CloudFront::Distribution'))).toHaveLength(1);
    expect(Object.keys(resourcesOf(s.template, 'AWS::WAFv2::WebACL'))).toHaveLength(1);
    expect(
      onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[1].Properties?.['DisableExecuteApiEndpoint'],
    ).toBeUndefined();
    for (const name of FUNCTION_NAMES) {
      expect(environmentOf(lambdaFunction(s.template, name)[1])).not.toHaveProperty('PUBLIC_BASE_URL');
    }
    // The PBXs' new URL.
    expect(JSON.stringify(s.template.findOutputs('ApiUrl'))).toContain(
      onlyResource(s.template, 'AWS::CloudFront::Distribution')[0],
    );
  });
});

describe('without the edge', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({ bundle: false });
  });

  it('keeps the execute-api endpoint, and creates no distribution, web ACL or custom domain', () => {
    expect(
      onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[1].Properties?.['DisableExecuteApiEndpoint'],
    ).toBeUndefined();
    for (const type of [
      'AWS::CloudFront::Distribution',
      'AWS::WAFv2::WebACL',
      'AWS::ApiGatewayV2::DomainName',
      'AWS::ApiGatewayV2::ApiMapping',
    ]) {
      expect([type, resourcesOf(s.template, type)]).toEqual([type, {}]);
    }
    expect(s.template.findOutputs('EdgeOriginTarget')).toEqual({});
  });
});

describe('edge settings', () => {
  /** `null`: an environment-agnostic stack, its region unknown at synth. */
  const build = (context: Record<string, unknown>, region: string | null = 'us-east-1') =>
    new CallwakeStack(
      new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context } }),
      'Callwake',
      region === null ? {} : { env: { account: '123456789012', region } },
    );
  /** The limit of the created web ACL's one rule, from the synthesized template. */
  const wafLimit = (stack: CallwakeStack): unknown => {
    const acl = onlyResource(Template.fromStack(stack), 'AWS::WAFv2::WebACL')[1];
    const rules = (acl.Properties?.['Rules'] ?? []) as { Statement?: { RateBasedStatement?: { Limit?: number } } }[];
    return rules[0]?.Statement?.RateBasedStatement?.Limit;
  };

  it('takes the per-IP limit as told, and defaults it to the tenant limit over five minutes', () => {
    expect(wafLimit(build({ ...edgeContext, edgeWafRateLimitPer5Min: '2000' }))).toBe(2000);
    expect(wafLimit(build({ ...edgeContext, tenantRequestsPerSecond: 10 }))).toBe(3000);
  });

  it.each([
    [{ ...edgeContext }, 'eu-west-1', /us-east-1 only.*eu-west-1.*edge\.webAclArn/s],
    [{ ...edgeContext }, null, /us-east-1 only.*not known at synth/s],
    [
      { ...edgeContext, edgeOriginCertificateArn: CERTIFICATE_EU_WEST_1 },
      'us-east-1',
      /certificate in the stack's region/,
    ],
    [{ ...edgeContext, edgeOriginDomainName: 'Origin.Example.com' }, 'us-east-1', /originDomainName/],
    [{ ...edgeContext, edgeOriginDomainName: 'https://origin.example.com' }, 'us-east-1', /originDomainName/],
    [
      { ...edgeContext, edgeOriginCertificateArn: 'arn:aws:iam::123456789012:server-certificate/x' },
      'us-east-1',
      /originCertificateArn/,
    ],
    [{ ...edgeContext, edgeWafRateLimitPer5Min: '9' }, 'us-east-1', /wafRateLimitPer5Min/],
    [{ ...edgeContext, edgeWafRateLimitPer5Min: '100.5' }, 'us-east-1', /wafRateLimitPer5Min/],
    [
      { ...edgeContext, edgeWebAclArn: OWN_WEB_ACL, edgeWafRateLimitPer5Min: '2000' },
      'us-east-1',
      /not with edge\.webAclArn/,
    ],
    [{ ...edgeContext, edgeWebAclArn: OWN_WEB_ACL.replace('us-east-1', 'eu-west-1') }, 'us-east-1', /webAclArn/],
    [{ ...edgeContext, edgeWebAclArn: OWN_WEB_ACL.replace('global', 'regional') }, 'us-east-1', /webAclArn/],
    [{ ...edgeContext, publicBaseUrl: 'https://calls.example.com' }, 'us-east-1', /publicBaseUrl and edge/],
    [{ edgeOriginDomainName: ORIGIN }, 'us-east-1', /edgeOriginDomainName and edgeOriginCertificateArn go together/],
    [{ edgeWafRateLimitPer5Min: '2000' }, 'us-east-1', /need the edge/],
    [{ edgeWebAclArn: OWN_WEB_ACL }, 'us-east-1', /need the edge/],
    [{ edgeKeepExecuteApiEndpoint: 'true' }, 'us-east-1', /need the edge/],
    [{ ...edgeContext, edgeKeepExecuteApiEndpoint: 'yes' }, 'us-east-1', /edgeKeepExecuteApiEndpoint/],
  ])('refuses %j in %s', (context, region, message) => {
    expect(() => build(context, region)).toThrow(message);
  });
});
