import type { SchemaError } from './schemas.js';

export interface FieldError {
  path: string;
  message: string;
}

/** "null is the same as absent": drop null members of objects before validating. */
export function withoutNulls(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => withoutNulls(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // defineProperty, not assignment: a member named "__proto__" must stay a plain (unknown) member.
    if (v !== null)
      Object.defineProperty(out, k, {
        value: withoutNulls(v, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return out;
}

/** zod issues as the contract's `errors`: dotted paths (`from.number`, `devices.0.pnPrid`). */
export function fieldErrors(error: SchemaError, prefix?: string): FieldError[] {
  return error.issues.map((issue) => ({
    path: [...(prefix ? [prefix] : []), ...issue.path.map(String)].join('.') || '(body)',
    message: issue.message,
  }));
}
