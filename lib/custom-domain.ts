/**
 * The HTTP API on a name of the operator's: an API Gateway custom domain (regional, TLS 1.2) mapped
 * to the `$default` stage. Used twice, never for the same purpose:
 * - `customDomain` (lib/callwake.ts): the name PBXs and apps call, and pushes carry
 *   (`PUBLIC_BASE_URL`); the `CustomDomainTarget` output is what its DNS record points at;
 * - the edge's origin (lib/edge.ts): the name CloudFront reaches the API on, which clients never see.
 */
import { Stack, Token } from 'aws-cdk-lib';
import { ApiMapping, DomainName, type HttpApi, type HttpStage, SecurityPolicy } from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate, type ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Construct } from 'constructs';

/** A lower-case DNS name of at least two labels. */
export const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** An ACM certificate's ARN; the first group is its region. */
export const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[A-Za-z0-9-]+$/;

export interface CustomDomainProps {
  /**
   * The DNS name clients call the API on, e.g. `calls.example.com`: pushes then point apps at
   * `https://calls.example.com/v1/app`. Point it (CNAME, or a Route 53 alias) at the
   * `CustomDomainTarget` output.
   */
  readonly domainName: string;
  /**
   * An ACM certificate for `domainName` in the stack's region (API Gateway's regional custom
   * domains take no other): its ARN, or a certificate of your CDK app.
   */
  readonly certificate: string | ICertificate;
}

/** Checks a {@link CustomDomainProps} (an ARN must be in `region` when both are known); errors name `prop`. */
export function checkCustomDomain(prop: string, props: CustomDomainProps, region: string): void {
  const name = props.domainName;
  if (Token.isUnresolved(name) || !HOSTNAME.test(name)) {
    throw new Error(`${prop}.domainName must be a lower-case DNS name, e.g. calls.example.com, got "${name}"`);
  }
  const certificate = props.certificate;
  if (typeof certificate !== 'string') return;
  const certificateRegion = Token.isUnresolved(certificate) ? undefined : CERTIFICATE_ARN.exec(certificate)?.[1];
  if (certificateRegion === undefined) {
    throw new Error(`${prop}.certificate must be an ACM certificate or its ARN, got "${certificate}"`);
  }
  checkCertificateRegion(`${prop}.certificate`, certificateRegion, region);
}

/** API Gateway's regional custom domains take a certificate of their own region only; `label` names the prop. */
export function checkCertificateRegion(label: string, certificateRegion: string | undefined, region: string): void {
  if (!Token.isUnresolved(region) && certificateRegion !== region) {
    throw new Error(
      `${label} must be a certificate in the stack's region (${region}): API Gateway's regional custom domain uses it, got one in ${certificateRegion}`,
    );
  }
}

/** The construct ids of the domain's parts: they make the logical ids of deployed resources. */
export interface DomainIds {
  readonly domain: string;
  readonly certificate: string;
  readonly mapping: string;
}

/**
 * The API on `name` under `scope`: a regional custom domain with a TLS 1.2 security policy and the
 * `$default` stage mapped at its root. The mapping names the stage by its name, not by a
 * reference, so it is made to wait for the stage.
 */
export function apiOnDomain(
  scope: Construct,
  ids: DomainIds,
  httpApi: HttpApi,
  stage: HttpStage,
  name: string,
  certificate: string | ICertificate,
): DomainName {
  const domain = new DomainName(scope, ids.domain, {
    domainName: name,
    certificate:
      typeof certificate === 'string'
        ? Certificate.fromCertificateArn(scope, ids.certificate, certificate)
        : certificate,
    securityPolicy: SecurityPolicy.TLS_1_2,
  });
  const mapping = new ApiMapping(scope, ids.mapping, { api: httpApi, domainName: domain, stage });
  mapping.node.addDependency(stage);
  return domain;
}

export interface CallwakeCustomDomain {
  /** API Gateway's custom domain: `regionalDomainName` and `regionalHostedZoneId` are the DNS target. */
  readonly domain: DomainName;
  readonly domainName: string;
  /** `https://<domainName>`, without a trailing slash: what pushes carry. */
  readonly baseUrl: string;
}

/** `customDomain`: the API on the operator's name, under the construct `CustomDomain`. */
export function customDomainOf(
  scope: Construct,
  httpApi: HttpApi,
  stage: HttpStage,
  props: CustomDomainProps,
): CallwakeCustomDomain {
  checkCustomDomain('customDomain', props, Stack.of(scope).region);
  const root = new Construct(scope, 'CustomDomain');
  const domain = apiOnDomain(
    root,
    { domain: 'Domain', certificate: 'Certificate', mapping: 'Mapping' },
    httpApi,
    stage,
    props.domainName,
    props.certificate,
  );
  return { domain, domainName: props.domainName, baseUrl: `https://${props.domainName}` };
}
