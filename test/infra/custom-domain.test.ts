/**
 * `customDomain`: the API on the operator's name (an API Gateway custom domain, regional, TLS 1.2,
 * mapped to the stage), pushes carrying it (PUBLIC_BASE_URL), `ApiUrl` it, and an output with the
 * DNS target. With the edge only during its switch-over: the edge's own origin domain is the one
 * custom domain the API has behind CloudFront.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { CallwakeStack } from '../../lib/callwake-stack.js';
import {
  type CfnResource,
  cdkJsonContext,
  environmentOf,
  FUNCTION_NAMES,
  lambdaFunction,
  onlyResource,
  referencedId,
  resourceIdAt,
  resourcesOf,
  type Synthesized,
  synthCallwake,
} from './support.js';

const NAME = 'calls.example.com';
const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const CERTIFICATE_US_EAST_1 = CERTIFICATE.replace('eu-west-1', 'us-east-1');
const context = { customDomainName: NAME, customDomainCertificateArn: CERTIFICATE };

describe('with a custom domain (context, as an operator sets it)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthCallwake({ context, bundle: false });
  });

  it('serves the API on the name: a regional custom domain with TLS 1.2 and the certificate', () => {
    const [, domain] = onlyResource(s.template, 'AWS::ApiGatewayV2::DomainName');
    expect(domain.Properties).toEqual({
      DomainName: NAME,
      DomainNameConfigurations: [{ CertificateArn: CERTIFICATE, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' }],
    });
  });

  it('maps the $default stage at the root of the name, once the stage exists', () => {
    const [, mapping] = onlyResource(s.template, 'AWS::ApiGatewayV2::ApiMapping') as [
      string,
      CfnResource & { DependsOn?: string[] },
    ];
    expect(referencedId(mapping.Properties?.['ApiId'])).toBe(onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[0]);
    expect(referencedId(mapping.Properties?.['DomainName'])).toBe(
      onlyResource(s.template, 'AWS::ApiGatewayV2::DomainName')[0],
    );
    expect(mapping.Properties?.['Stage']).toBe('$default');
    expect(mapping.Properties?.['ApiMappingKey']).toBeUndefined();
    expect(mapping.DependsOn).toContain(onlyResource(s.template, 'AWS::ApiGatewayV2::Stage')[0]);
  });

  it('points pushes at it: PUBLIC_BASE_URL of pbx-api and app-api, and of no other function', () => {
    for (const name of FUNCTION_NAMES) {
      const env = environmentOf(lambdaFunction(s.template, name)[1]);
      const expected = name === 'pbx-api' || name === 'app-api' ? `https://${NAME}` : undefined;
      expect([name, env['PUBLIC_BASE_URL']]).toEqual([name, expected]);
    }
  });

  it('makes ApiUrl the name, and outputs the target of its DNS record', () => {
    const outputs = s.template.findOutputs('*');
    expect(outputs['ApiUrl']?.['Value']).toBe(`https://${NAME}/`);
    const domainId = onlyResource(s.template, 'AWS::ApiGatewayV2::DomainName')[0];
    expect(outputs['CustomDomainTarget']?.['Value']).toEqual({ 'Fn::GetAtt': [domainId, 'RegionalDomainName'] });
    expect(outputs['CustomDomainHostedZoneId']?.['Value']).toEqual({
      'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'],
    });
    expect(outputs['CustomDomainTarget']?.['Description']).toContain(NAME);
  });

  it('keeps the execute-api endpoint on (nothing to go around without the edge), and changes no logical id', () => {
    expect(
      onlyResource(s.template, 'AWS::ApiGatewayV2::Api')[1].Properties?.['DisableExecuteApiEndpoint'],
    ).toBeUndefined();
    const plain = synthCallwake({ bundle: false });
    const ids = (sy: Synthesized) => Object.keys(sy.template.toJSON()['Resources'] as object);
    const added = ids(s).filter((id) => !ids(plain).includes(id));
    expect(ids(plain).filter((id) => !ids(s).includes(id))).toEqual([]);
    expect(added.map((id) => (resourcesOf(s.template, 'AWS::ApiGatewayV2::DomainName')[id] ? 'domain' : id))).toEqual(
      expect.arrayContaining(['domain']),
    );
    expect(added).toHaveLength(2); // the domain and its mapping
  });
});

describe('given in code, with a certificate of the CDK app', () => {
  it('takes an ICertificate', () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const certificates = new Stack(app, 'Certificates', { env: { account: '123456789012', region: 'eu-west-1' } });
    const certificate = new Certificate(certificates, 'Calls', { domainName: NAME });
    const stack = new CallwakeStack(app, 'Callwake', {
      env: { account: '123456789012', region: 'eu-west-1' },
      callwake: { customDomain: { domainName: NAME, certificate } },
    });
    const template = Template.fromStack(stack);
    const [, domain] = onlyResource(template, 'AWS::ApiGatewayV2::DomainName');
    const config = ((domain.Properties?.['DomainNameConfigurations'] ?? []) as { CertificateArn: unknown }[])[0];
    expect(typeof config?.CertificateArn).toBe('object'); // a reference to the other stack's certificate
  });
});

describe('with the edge', () => {
  const EDGE = {
    edgeOriginDomainName: 'origin-7f3k.calls.example.com',
    edgeOriginCertificateArn: CERTIFICATE_US_EAST_1,
  };
  const US_EAST_1 = { env: { account: '123456789012', region: 'us-east-1' } };

  it('is refused once the switch-over is done: a custom domain would be a way around the WAF', () => {
    expect(() =>
      synthCallwake({
        bundle: false,
        props: US_EAST_1,
        context: { ...EDGE, customDomainName: NAME, customDomainCertificateArn: CERTIFICATE_US_EAST_1 },
      }),
    ).toThrow(/customDomain and edge exclude each other but during the edge switch-over/);
  });

  it('is kept during the switch-over: the old name keeps working, pushes keep carrying it, two domains', () => {
    const s = synthCallwake({
      bundle: false,
      props: US_EAST_1,
      context: {
        ...EDGE,
        edgeKeepExecuteApiEndpoint: 'true',
        customDomainName: NAME,
        customDomainCertificateArn: CERTIFICATE_US_EAST_1,
      },
    });
    const names = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::DomainName')).map(
      (d) => d.Properties?.['DomainName'],
    );
    expect(names.sort()).toEqual([NAME, EDGE.edgeOriginDomainName].sort());
    expect(resourceIdAt(s.template, 'AWS::ApiGatewayV2::DomainName', 'Edge/OriginDomain/Resource')).toMatch(
      /^CallwakeEdgeOriginDomain/,
    );
    expect(environmentOf(lambdaFunction(s.template, 'pbx-api')[1])['PUBLIC_BASE_URL']).toBe(`https://${NAME}`);
    expect(Object.keys(resourcesOf(s.template, 'AWS::ApiGatewayV2::ApiMapping'))).toHaveLength(2);
  });
});

describe('what cannot work', () => {
  it.each([
    [{ ...context, publicBaseUrl: 'https://other.example.com' }, /publicBaseUrl and customDomain exclude each other/],
    [{ customDomainName: NAME }, /customDomainName and customDomainCertificateArn go together/],
    [{ ...context, customDomainName: 'Calls.Example.com' }, /customDomain.domainName must be a lower-case DNS name/],
    [{ ...context, customDomainName: 'https://calls.example.com' }, /customDomain.domainName/],
    [
      { ...context, customDomainCertificateArn: 'arn:aws:iam::123456789012:server-certificate/x' },
      /customDomain.certificate/,
    ],
    [
      { ...context, customDomainCertificateArn: CERTIFICATE_US_EAST_1 },
      /certificate in the stack's region \(eu-west-1\)/,
    ],
  ])('refuses %j', (ctx, message) => {
    expect(() => synthCallwake({ bundle: false, context: ctx })).toThrow(message);
  });
});
