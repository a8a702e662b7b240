import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { MiddlewareObj } from '@middy/core';
import type { Log, Metrics } from '../core/ports.js';
import { houseLogger, logPort } from './log.js';
import { metricsPort, powertoolsMetrics } from './metrics.js';

/** A deployed function's logger and metrics, and the middlewares that tie them to each invocation. */
export interface Observability {
  log: Log;
  metrics: Metrics;
  /** Outermost first: Lambda context and API Gateway request id in every log line; metrics flushed. */
  middlewares: MiddlewareObj[];
}

/**
 * Every log line of an invocation carries the Lambda request id and cold start (Powertools'
 * context), and for an API request API Gateway's request id too, which the access log carries
 * as well (`$context.requestId`): one request is found in both. Metrics are written once per
 * invocation. `METRICS_BY_TENANT=true` adds the tenant as a dimension (more metrics, more cost).
 */
export function lambdaObservability(serviceName: string, env: NodeJS.ProcessEnv = process.env): Observability {
  const logger = houseLogger(serviceName);
  const metrics: PowertoolsMetrics = powertoolsMetrics(serviceName);
  const apiRequestId: MiddlewareObj = {
    before: (request) => {
      const id = (request.event as { requestContext?: { requestId?: string } })?.requestContext?.requestId;
      if (id) logger.appendKeys({ apiRequestId: id });
    },
  };
  return {
    log: logPort(logger),
    metrics: metricsPort(metrics, env.METRICS_BY_TENANT === 'true'),
    middlewares: [
      metricsWhenAny(metrics),
      injectLambdaContext(logger, { resetKeys: true }) as MiddlewareObj,
      apiRequestId,
    ],
  };
}

/**
 * Powertools' `logMetrics` (the cold-start metric, the invocation's metrics written at its end),
 * but an invocation that measured nothing writes nothing: `logMetrics` would log a warning of
 * ~170 bytes each time (most reads, every ring timer, most stream batches; docs/cost.md).
 */
function metricsWhenAny(metrics: PowertoolsMetrics): MiddlewareObj {
  const flush = logMetrics(metrics, { captureColdStartMetric: true }) as MiddlewareObj;
  const atEnd: NonNullable<MiddlewareObj['after']> = (request) => {
    if (metrics.hasStoredMetrics()) return flush.after!(request);
    // What the flush would clear: nothing of this invocation's may reach the next.
    metrics.clearDimensions();
    metrics.clearMetadata();
  };
  return { before: flush.before!, after: atEnd, onError: atEnd };
}
