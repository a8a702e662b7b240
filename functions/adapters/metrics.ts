import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { MetricDimensions, MetricName, Metrics } from '../core/ports.js';

/** Every callwake metric is in this CloudWatch namespace (the dashboard and alarms read it). */
export const METRICS_NAMESPACE = 'Callwake';

export const powertoolsMetrics = (serviceName: string): PowertoolsMetrics =>
  new PowertoolsMetrics({ namespace: METRICS_NAMESPACE, serviceName });

/**
 * The Metrics port over Powertools (CloudWatch embedded metric format: metrics are log lines,
 * no API call). Every value is buffered once without dimensions (service alone: what the alarms
 * and the dashboard's totals read), written once per invocation. A value with dimensions (Apple's
 * reason, a wait's outcome, the tenant when the operator opted in with `METRICS_BY_TENANT`) is
 * also written on its own line, one dimension set per dimension, so the by-reason series survive
 * tenant metrics and no combination multiplies the metrics an operator pays for.
 */
export function metricsPort(metrics: PowertoolsMetrics, byTenant: boolean): Metrics {
  const emit = (
    name: MetricName,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
    dimensions: MetricDimensions = {},
  ) => {
    const dims = Object.entries({
      Reason: dimensions.reason,
      Outcome: dimensions.outcome,
      Tenant: byTenant ? dimensions.tenant : undefined,
    }).filter((e): e is [string, string] => e[1] !== undefined);
    metrics.addMetric(name, unit, value);
    if (dims.length === 0) return;
    const single = metrics.singleMetric();
    for (const [k, v] of dims) single.addDimensions({ [k]: v });
    single.addMetric(name, unit, value);
  };
  return {
    count: (name, value = 1, dimensions) => emit(name, MetricUnit.Count, value, dimensions),
    time: (name, ms, dimensions) => emit(name, MetricUnit.Milliseconds, ms, dimensions),
  };
}
