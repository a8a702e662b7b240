/**
 * The optional edge in front of the HTTP API: a CloudFront distribution, with an AWS WAF web ACL
 * that blocks any client IP sending more than its limit in five minutes, and API Gateway's default
 * `execute-api` endpoint turned off so nothing reaches the API around them.
 *
 * ```
 * PBX, app --HTTPS--> CloudFront (<id>.cloudfront.net) + WAF rate rule per IP
 *                        --HTTPS, Host: <originDomainName>--> API Gateway custom domain --> $default stage
 * https://<id>.execute-api.<region>.amazonaws.com: 403 (disabled)
 * ```
 *
 * A disabled default endpoint answers CloudFront too, so CloudFront reaches the API through a
 * custom domain of API Gateway: a name and a certificate of the operator's (`originDomainName`,
 * `originCertificateArn`), and a DNS record they point at API Gateway (the `EdgeOriginTarget`
 * output). Apps and PBXs use the distribution's own `*.cloudfront.net` name.
 */
import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type { DomainName, HttpApi, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { apiOnDomain, CERTIFICATE_ARN, checkCertificateRegion, HOSTNAME } from './custom-domain.js';

export interface EdgeProps {
  /**
   * A DNS name of yours that API Gateway serves the API on, for CloudFront only, e.g.
   * `origin-7f3k.calls.example.com`. Point it (CNAME, or a Route 53 alias) at the
   * `EdgeOriginTarget` output.
   */
  readonly originDomainName: string;
  /** ARN of an ACM certificate for `originDomainName`, in the stack's region. */
  readonly originCertificateArn: string;
  /**
   * Requests one client IP may send in any five minutes; beyond it, the WAF answers 429
   * `rate_limited` until its rate falls below the limit.
   * @default - `tenantRequestsPerSecond` × 300: a PBX within its tenant limit is never blocked
   */
  readonly wafRateLimitPer5Min?: number;
  /**
   * ARN of an existing web ACL (scope CLOUDFRONT, created in us-east-1) to use instead of the
   * one the construct creates, which needs the stack itself in us-east-1.
   * @default - a web ACL with one rate-based rule, created here (the stack must be in us-east-1)
   */
  readonly webAclArn?: string;
  /**
   * For the switch-over of a running stack only: the distribution and the WAF are built, but the
   * `execute-api` endpoint stays on and pushes keep pointing at it, so nothing breaks while the
   * origin name's DNS record is made and the PBXs move to the distribution's URL. Until it is
   * turned off again, the WAF can be gone around.
   * @default false
   */
  readonly keepExecuteApiEndpoint?: boolean;
}

/** The edge's settings, checked and completed. */
export interface ResolvedEdge {
  readonly originDomainName: string;
  readonly originCertificateArn: string;
  /** Set when the construct creates the web ACL. */
  readonly wafRateLimitPer5Min: number | undefined;
  /** Set when an existing web ACL is used. */
  readonly webAclArn: string | undefined;
  readonly keepExecuteApiEndpoint: boolean;
}

/** AWS WAF's bounds of a rate-based rule's limit. */
export const WAF_RATE_LIMIT_MIN = 10;
export const WAF_RATE_LIMIT_MAX = 2_000_000_000;
/** The window the rate-based rule counts in. */
export const WAF_WINDOW_SECONDS = 300;
/** Where AWS accepts web ACLs for CloudFront. */
export const CLOUDFRONT_WAF_REGION = 'us-east-1';
/** How long CloudFront waits for API Gateway: its integrations give up after 29 s. */
export const EDGE_ORIGIN_READ_TIMEOUT = Duration.seconds(30);

const CLOUDFRONT_WEB_ACL_ARN = /^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[^/]+\/[A-Za-z0-9-]+$/;

/** Checks the edge's settings and applies the default limit; every message names the prop. */
export function resolveEdge(edge: EdgeProps, tenantRequestsPerSecond: number): ResolvedEdge {
  const name = edge.originDomainName;
  if (Token.isUnresolved(name) || !HOSTNAME.test(name)) {
    throw new Error(
      `edge.originDomainName must be a lower-case DNS name, e.g. origin.calls.example.com, got "${name}"`,
    );
  }
  const arn = edge.originCertificateArn;
  if (Token.isUnresolved(arn) || !CERTIFICATE_ARN.test(arn)) {
    throw new Error(`edge.originCertificateArn must be the ARN of an ACM certificate, got "${arn}"`);
  }
  if (edge.webAclArn !== undefined) {
    if (edge.wafRateLimitPer5Min !== undefined) {
      throw new Error(
        'edge.wafRateLimitPer5Min sets the rule of the web ACL the construct creates: not with edge.webAclArn',
      );
    }
    if (Token.isUnresolved(edge.webAclArn) || !CLOUDFRONT_WEB_ACL_ARN.test(edge.webAclArn)) {
      throw new Error(
        `edge.webAclArn must be the ARN of a CloudFront web ACL (wafv2, us-east-1, global/webacl/...), got "${edge.webAclArn}"`,
      );
    }
    return {
      originDomainName: name,
      originCertificateArn: arn,
      wafRateLimitPer5Min: undefined,
      webAclArn: edge.webAclArn,
      keepExecuteApiEndpoint: edge.keepExecuteApiEndpoint ?? false,
    };
  }
  const limit = edge.wafRateLimitPer5Min ?? tenantRequestsPerSecond * WAF_WINDOW_SECONDS;
  if (!Number.isInteger(limit) || limit < WAF_RATE_LIMIT_MIN || limit > WAF_RATE_LIMIT_MAX) {
    throw new Error(
      `edge.wafRateLimitPer5Min must be an integer from ${WAF_RATE_LIMIT_MIN} to ${WAF_RATE_LIMIT_MAX}, got ${limit}`,
    );
  }
  return {
    originDomainName: name,
    originCertificateArn: arn,
    wafRateLimitPer5Min: limit,
    webAclArn: undefined,
    keepExecuteApiEndpoint: edge.keepExecuteApiEndpoint ?? false,
  };
}

export interface CallwakeEdge {
  readonly distribution: Distribution;
  /** The web ACL the construct created, or undefined when an existing one is used. */
  readonly webAcl: CfnWebACL | undefined;
  /** API Gateway's custom domain CloudFront reaches the API on. */
  readonly originDomain: DomainName;
  /** Its name (`originDomainName`), as a plain string. */
  readonly originDomainName: string;
  /** `https://<id>.cloudfront.net`: where PBXs and apps reach the API, without a trailing slash. */
  readonly baseUrl: string;
}

/** The problem+json body of the WAF's 429, as the functions write theirs (`rate_limited`). */
export const WAF_RATE_LIMITED_BODY = JSON.stringify({
  type: 'urn:callwake:problem:rate_limited',
  title: 'Too many requests',
  status: 429,
  detail: 'Too many requests from this address. Retry later.',
  code: 'rate_limited',
});

/**
 * Builds the edge under `scope` (construct id `Edge`) and maps the API's stage to the origin
 * domain. The API must have been made with its `execute-api` endpoint off, but during a
 * switch-over (`keepExecuteApiEndpoint`).
 */
export function edgeInFront(scope: Construct, httpApi: HttpApi, stage: HttpStage, edge: ResolvedEdge): CallwakeEdge {
  const region = Stack.of(scope).region;
  if (!edge.keepExecuteApiEndpoint && httpApi.disableExecuteApiEndpoint !== true) {
    throw new Error('edge: the HTTP API must be made with disableExecuteApiEndpoint, or the WAF can be gone around');
  }
  if (edge.webAclArn === undefined && region !== CLOUDFRONT_WAF_REGION) {
    throw new Error(
      `edge creates a web ACL for CloudFront, which AWS WAF accepts in ${CLOUDFRONT_WAF_REGION} only, and this stack's region is ` +
        `${Token.isUnresolved(region) ? 'not known at synth (deploy with a region: CDK_DEFAULT_REGION or the stack env)' : region}. ` +
        `Deploy the stack to ${CLOUDFRONT_WAF_REGION}, or create the web ACL there yourself and give its ARN as edge.webAclArn.`,
    );
  }
  checkCertificateRegion('edge.originCertificateArn', CERTIFICATE_ARN.exec(edge.originCertificateArn)?.[1], region);
  const root = new Construct(scope, 'Edge');

  // The API on the operator's name, for CloudFront (the default endpoint answers 403).
  const originDomain = apiOnDomain(
    root,
    { domain: 'OriginDomain', certificate: 'OriginCertificate', mapping: 'OriginMapping' },
    httpApi,
    stage,
    edge.originDomainName,
    edge.originCertificateArn,
  );

  const webAcl = edge.webAclArn === undefined ? rateLimitingWebAcl(root, edge.wafRateLimitPer5Min ?? 0) : undefined;

  const distribution = new Distribution(root, 'Distribution', {
    comment: 'callwake: PBX webhooks and the app API, through AWS WAF',
    defaultBehavior: {
      origin: new HttpOrigin(edge.originDomainName, {
        protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
        originSslProtocols: [OriginSslPolicy.TLS_V1_2],
        readTimeout: EDGE_ORIGIN_READ_TIMEOUT,
      }),
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: AllowedMethods.ALLOW_ALL,
      // Every answer is the caller's own: nothing is cached. With caching off, CloudFront
      // forwards every viewer header (Authorization, X-Callwake-*, If-None-Match, Prefer), the
      // query string and the body; the Host header is the origin's, as API Gateway's custom
      // domain needs it.
      cachePolicy: CachePolicy.CACHING_DISABLED,
      originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      compress: false,
    },
    httpVersion: HttpVersion.HTTP2_AND_3,
    webAclId: webAcl?.attrArn ?? edge.webAclArn,
    enableLogging: false,
  });

  acknowledgeEdgeFindings(distribution);
  return {
    distribution,
    webAcl,
    originDomain,
    originDomainName: edge.originDomainName,
    baseUrl: `https://${distribution.distributionDomainName}`,
  };
}

/** One rule: a client IP over its limit in five minutes gets a 429 problem until it slows down. */
function rateLimitingWebAcl(scope: Construct, limitPer5Min: number): CfnWebACL {
  const metric = (name: string) => ({
    cloudWatchMetricsEnabled: true,
    sampledRequestsEnabled: true,
    metricName: name,
  });
  return new CfnWebACL(scope, 'WebAcl', {
    scope: 'CLOUDFRONT',
    description: 'callwake: a rate limit per client IP in front of the API',
    defaultAction: { allow: {} },
    visibilityConfig: metric('callwake-edge'),
    customResponseBodies: {
      rate_limited: { contentType: 'APPLICATION_JSON', content: WAF_RATE_LIMITED_BODY },
    },
    rules: [
      {
        name: 'RateLimitPerIp',
        priority: 0,
        statement: {
          rateBasedStatement: {
            limit: limitPer5Min,
            evaluationWindowSec: WAF_WINDOW_SECONDS,
            aggregateKeyType: 'IP',
          },
        },
        action: { block: { customResponse: { responseCode: 429, customResponseBodyKey: 'rate_limited' } } },
        visibilityConfig: metric('callwake-rate-per-ip'),
      },
    ],
  });
}

/** cdk-nag's findings on the edge that are choices, each with its reason, scoped to its resource. */
function acknowledgeEdgeFindings(distribution: Distribution): void {
  Validations.of(distribution).acknowledge({
    id: 'AwsSolutions-CFR3',
    reason:
      "CloudFront access logs would record every request's path, whose segments are user, device " +
      'and call ids, next to the caller IP: what the API access logs were changed to leave out. ' +
      'The API access log (route, status, latencies) records every request that passes, and the ' +
      "WAF's metrics and sampled requests show what it blocks.",
  });
  Validations.of(distribution).acknowledge({
    id: 'AwsSolutions-CFR4',
    reason:
      'The distribution is reached on its own *.cloudfront.net name, whose certificate is ' +
      "CloudFront's: its viewer security policy cannot be chosen without a custom domain and a " +
      'certificate of the operator in us-east-1. Clients are iPhones and PBXs, which negotiate ' +
      'TLS 1.2 or 1.3; the origin connection is TLS 1.2 only.',
  });
  Validations.of(distribution).acknowledge({
    id: 'AwsSolutions-CFR1',
    reason:
      'No geo restriction: PBXs and phones of any country call this API; who may call is decided ' +
      'by the PBX signature and the call tokens, and abuse is limited per IP by the WAF rule.',
  });
}
