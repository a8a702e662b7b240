import { randomBytes } from 'node:crypto';

/** Small helpers for the load generator: randomness, the contract's UUID v5, deep equality. */

export const rand = (n: number): number => Math.floor(Math.random() * n);
export const chance = (p: number): boolean => Math.random() < p;
export const between = (lo: number, hi: number): number => lo + rand(hi - lo + 1);
export const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;
export const shuffle = <T>(xs: readonly T[]): T[] => {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};
/** Picks by weight: `[[w, value], …]`. */
export function weighted<T>(table: readonly (readonly [number, T])[]): T {
  const total = table.reduce((s, [w]) => s + w, 0);
  let r = Math.random() * total;
  for (const [w, v] of table) {
    r -= w;
    if (r < 0) return v;
  }
  return table[table.length - 1]![1];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A fresh APNs device token: 32 random bytes in hex (sometimes upper-case, as some PBXs send them). */
export const newPushToken = (upper = false): string => {
  const t = randomBytes(32).toString('hex');
  return upper ? t.toUpperCase() : t;
};

/** The contract's callUuid: the service's one UUID v5 (test/unit/ids.test.ts holds it to fixed vectors). */
export { callUuidOf } from '../functions/core/ids.js';

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** At most `n` Unicode code points: how the contract shortens a display name. */
export const codePoints = (s: string, n: number): string => [...s].slice(0, n).join('');

/** A short, one-line rendering of a reply body for error reports. */
export function brief(body: unknown, max = 400): string {
  const s = typeof body === 'string' ? body : JSON.stringify(body);
  if (s === undefined) return '(empty)';
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
