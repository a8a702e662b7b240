import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Deps } from '../core/ports.js';
import { awaitChange, type Snapshot } from '../core/watch.js';
import type { HttpRequest } from './request.js';

/** The longest a request is held (`Prefer: wait`), whatever it asks for. */
export const MAX_WAIT_SECONDS = 20;
/** Kept free before the function's own timeout, so a held request always answers itself. */
const FUNCTION_TIME_RESERVE_MS = 3000;

/** An entity tag as sent: `"<tag>"`. Views carry strong tags. */
export const etagOf = (tag: string): string => `"${tag}"`;

/**
 * `If-None-Match` (RFC 9110 13.1.2): `*` or a list of entity tags, compared weakly (a `W/` prefix
 * is ignored). A malformed header is treated as absent: a wait never turns into an error.
 */
export function parseIfNoneMatch(value: string | undefined): ReadonlySet<string> | 'any' | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '*') return 'any';
  const tags = new Set<string>();
  const item = /\s*(?:W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/y;
  let at = 0;
  while (at < trimmed.length) {
    item.lastIndex = at;
    const m = item.exec(trimmed);
    if (!m) return undefined;
    tags.add(m[1]!);
    at = item.lastIndex;
  }
  return tags.size > 0 ? tags : undefined;
}

/**
 * `Prefer: wait=<delta-seconds>` (RFC 7240), among other preferences, case-insensitive, quoted or
 * not. A malformed value is treated as absent.
 */
export function parsePreferWait(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  for (const preference of value.split(',')) {
    const [token = '', ...params] = preference.split(';');
    const eq = token.indexOf('=');
    if (eq === -1 || token.slice(0, eq).trim().toLowerCase() !== 'wait' || params.some((p) => p.trim() !== '')) {
      continue;
    }
    const raw = token
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    // delta-seconds of any length: a huge one is simply more than the cap.
    return /^\d+$/.test(raw) ? Math.min(Number(raw), MAX_WAIT_SECONDS) : undefined;
  }
  return undefined;
}

/** The answer for a view: its JSON with a strong ETag. */
export function taggedJson(status: number, snapshot: Snapshot<unknown>): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', etag: etagOf(snapshot.tag) },
    body: JSON.stringify(snapshot.view),
  };
}

/**
 * A view GET with its conditional headers: 200 with the view and its ETag; 304 when the client
 * already has it; held first when it asked to wait. Without `If-None-Match`, `Prefer` is ignored.
 */
export async function answerViewRequest<V>(
  deps: Pick<Deps, 'clock' | 'timer' | 'log' | 'waitPollMs' | 'metrics'>,
  req: HttpRequest,
  remainingMs: number,
  read: () => Promise<Snapshot<V>>,
): Promise<APIGatewayProxyStructuredResultV2> {
  const known = parseIfNoneMatch(req.headers['if-none-match']);
  if (known === undefined) return taggedJson(200, await read());
  if (known === 'any') {
    // `*` matches whatever the call looks like, so no change could end a wait: answer now.
    const snapshot = await read();
    return notModified(snapshot);
  }
  const asked = parsePreferWait(req.headers.prefer);
  const seconds = Math.min(asked ?? 0, MAX_WAIT_SECONDS);
  const waitMs = Math.min(seconds * 1000, Math.max(0, remainingMs - FUNCTION_TIME_RESERVE_MS));
  const { snapshot, waited } = await awaitChange(deps, read, known, waitMs);
  const applied: Record<string, string> = waited ? { 'preference-applied': `wait=${Math.floor(waitMs / 1000)}` } : {};
  if (known.has(snapshot.tag)) return notModified(snapshot, applied);
  const answer = taggedJson(200, snapshot);
  return { ...answer, headers: { ...answer.headers, ...applied } };
}

function notModified(
  snapshot: Snapshot<unknown>,
  extra: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 304, headers: { 'cache-control': 'no-store', etag: etagOf(snapshot.tag), ...extra } };
}
