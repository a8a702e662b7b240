/** What the load run measured and every error it saw, and the table it prints. */

export type Phase = 'setup' | 'load' | 'check';

export type ErrorKind =
  /** Any 5xx, whatever was asked. */
  | '5xx'
  /** A status or body the generator's model does not allow (during the load). */
  | 'unexpected'
  /** An accepted call (201) that the final check could not find. */
  | 'lost'
  /** A call, device or registry found in another state than the model's (final check). */
  | 'wrong-state'
  /** A retried webhook answered differently from the first answer. */
  | 'retry-mismatch'
  /** A push accepted more than once for one device of one call, or missing. */
  | 'push'
  /** The ring webhook took longer than the push deadline plus one second. */
  | 'slow-ring'
  /** The generator itself failed (a thrown exception): the run cannot vouch for that scenario. */
  | 'generator';

export interface LoadError {
  kind: ErrorKind;
  where: string;
  detail: string;
}

interface Series {
  ms: number[];
  statuses: Map<number, number>;
}

export class Recorder {
  private readonly series = new Map<string, Series>();
  readonly errors: LoadError[] = [];
  /** Things worth telling that are not errors (the generator could not predict them exactly). */
  readonly notes: string[] = [];
  private phase: Phase = 'load';

  setPhase(p: Phase) {
    this.phase = p;
  }

  request(endpoint: string, status: number, ms: number, what: string) {
    const key = `${this.phase}\t${endpoint}`;
    let s = this.series.get(key);
    if (!s) {
      s = { ms: [], statuses: new Map() };
      this.series.set(key, s);
    }
    s.ms.push(ms);
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    if (status >= 500 || status === 0)
      this.error('5xx', what, `${endpoint} answered ${status === 0 ? 'no HTTP status (connection failed)' : status}`);
  }

  /** How often each scenario, fault and race happened: what the run actually exercised. */
  readonly ticks = new Map<string, number>();
  tick(what: string) {
    this.ticks.set(what, (this.ticks.get(what) ?? 0) + 1);
  }

  note(text: string) {
    this.notes.push(text);
  }

  error(kind: ErrorKind, where: string, detail: string) {
    this.errors.push({ kind, where, detail });
  }

  count(phase: Phase): number {
    let n = 0;
    for (const [k, s] of this.series) if (k.startsWith(`${phase}\t`)) n += s.ms.length;
    return n;
  }

  table(phase: Phase, seconds: number): string {
    const rows = [...this.series.entries()]
      .filter(([k]) => k.startsWith(`${phase}\t`))
      .map(([k, s]) => ({ endpoint: k.split('\t')[1]!, ...s }))
      .sort((a, b) => ORDER(a.endpoint) - ORDER(b.endpoint) || a.endpoint.localeCompare(b.endpoint));
    const all = rows.flatMap((r) => r.ms);
    const head = ['endpoint', 'count', 'req/s', 'p50 ms', 'p99 ms', 'max ms', '5xx', 'statuses'];
    const body = rows.map((r) => line(r.endpoint, r.ms, r.statuses, seconds));
    const total = line(
      'all',
      all,
      rows.reduce((m, r) => {
        for (const [st, n] of r.statuses) m.set(st, (m.get(st) ?? 0) + n);
        return m;
      }, new Map<number, number>()),
      seconds,
    );
    const widths = head.map((h, i) => Math.max(h.length, ...[...body, total].map((r) => r[i]!.length)));
    const fmt = (cells: string[]) =>
      cells
        .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd();
    const rule = widths.map((w) => '-'.repeat(w)).join('  ');
    return [fmt(head), rule, ...body.map(fmt), rule, fmt(total)].join('\n');
  }
}

const ENDPOINT_ORDER = [
  'PUT /v1/pbx/users/{userId}/devices/{deviceId}',
  'DELETE /v1/pbx/users/{userId}/devices/{deviceId}',
  'GET /v1/pbx/users/{userId}/devices',
  'POST /v1/pbx/calls',
  'POST /v1/pbx/calls/{callId}/cancel',
  'GET /v1/pbx/calls/{callId}',
  'POST /v1/app/calls/{callId}/confirm',
  'POST /v1/app/calls/{callId}/answer',
  'POST /v1/app/calls/{callId}/decline',
  'GET /v1/app/calls/{callId}',
];
const ORDER = (e: string) => {
  const i = ENDPOINT_ORDER.indexOf(e);
  return i < 0 ? 99 : i;
};

export const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

function line(endpoint: string, ms: number[], statuses: Map<number, number>, seconds: number): string[] {
  const fives = [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((n, [, c]) => n + c, 0);
  return [
    endpoint,
    String(ms.length),
    (ms.length / seconds).toFixed(1),
    pct(ms, 50).toFixed(1),
    pct(ms, 99).toFixed(1),
    Math.max(...ms).toFixed(1),
    String(fives),
    [...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}:${n}`)
      .join(' '),
  ];
}
