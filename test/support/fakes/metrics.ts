import type { MetricDimensions, MetricName, Metrics } from '../../../functions/core/ports.js';

/** The Metrics port, kept: what each metric was given, in order. */
export class RecordingMetrics implements Metrics {
  readonly points: { name: MetricName; value: number; dimensions: MetricDimensions; kind: 'count' | 'time' }[] = [];

  count(name: MetricName, value = 1, dimensions: MetricDimensions = {}): void {
    this.points.push({ name, value, dimensions, kind: 'count' });
  }

  time(name: MetricName, ms: number, dimensions: MetricDimensions = {}): void {
    this.points.push({ name, value: ms, dimensions, kind: 'time' });
  }

  /** The sum of a count, or how many times a time was recorded. */
  total(name: MetricName, where: (d: MetricDimensions) => boolean = () => true): number {
    return this.points
      .filter((p) => p.name === name && where(p.dimensions))
      .reduce((sum, p) => sum + (p.kind === 'count' ? p.value : 1), 0);
  }
}
