/** Percentile of a sample (nearest rank). */
export const pct = (xs: readonly number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Runs paths alternately, request by request, so drift (JIT, GC, a busy core) hits them alike. */
export async function interleaved<const F extends readonly ((i: number) => Promise<unknown>)[]>(
  n: number,
  warmup: number,
  fns: F,
): Promise<{ [K in keyof F]: number[] }> {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn(-1 - i);
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < n; i++) for (const [k, fn] of fns.entries()) out[k]!.push(await time(() => fn(i)));
  return out as { [K in keyof F]: number[] };
}

export interface Target {
  /** The ratio (or ms) it must stay within, and at which percentile. */
  max: number;
  at: 50 | 95 | 99;
}

/** One line: the path's p50/p99, its floor's, the p50 ratio, and each target met or missed (by how much). */
export function row(name: string, xs: readonly number[], floor: readonly number[], targets: Target[] = []): string {
  // Like with like: a path's tail against its floor's tail (the I/O's own jitter is not ours).
  const ratio = (p: number) => pct(xs, p) / pct(floor, p);
  const verdicts = targets.map((t) => {
    const r = ratio(t.at);
    return r <= t.max
      ? `p${t.at} ${r.toFixed(2)}x <= ${t.max}x ok`
      : `p${t.at} ${r.toFixed(2)}x > ${t.max}x MISSED by ${((r / t.max - 1) * 100).toFixed(0)}%`;
  });
  return [
    name.padEnd(30),
    `p50 ${pct(xs, 50).toFixed(2).padStart(7)} ms`,
    `p99 ${pct(xs, 99).toFixed(2).padStart(7)} ms`,
    `floor p50 ${pct(floor, 50).toFixed(2).padStart(6)} ms p99 ${pct(floor, 99).toFixed(2).padStart(6)} ms`,
    `ratio p50 ${ratio(50).toFixed(2)}x`,
    ...(verdicts.length ? [`  ${verdicts.join('; ')}`] : []),
  ].join('  ');
}

/** A delay against an absolute target (ms), for the loop's latencies. */
export function delayRow(name: string, xs: readonly number[], floor: readonly number[], targetMs: number): string {
  const p95 = pct(xs, 95);
  return `${row(name, xs, floor)}  p95 ${p95.toFixed(1)} ms ${p95 <= targetMs ? `<= ${targetMs} ms ok` : `> ${targetMs} ms MISSED`}`;
}
