import { existsSync, readFileSync } from 'node:fs';
import type { Reply } from '../clients.js';
import { SESSION_FILE } from '../session.js';

/** The exit codes scripts switch on (also in `--help` and docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** The server answered an error: its problem's code and detail are printed. */
  server: 1,
  /** Unknown command or option, a missing or malformed argument, missing configuration. */
  usage: 2,
  /** The server could not be reached, or did not answer in time. */
  unreachable: 3,
  /** `watch --timeout` or `events listen --timeout` passed first. */
  timeout: 4,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  done (watch: the call ended; events listen: stopped, or --count events verified)
  1  the server answered an error (its problem's status, code and detail are printed)
  2  usage error: unknown command or option, bad or missing argument or configuration
  3  cannot reach the server: refused, unknown host, TLS failure, or no answer in time
  4  watch --timeout or events listen --timeout passed before the call ended / the events came`;

export const CONFIG_HELP = `
Configuration (a flag wins over the environment):
  --url          CALLWAKE_URL      callwake's base URL, e.g. http://127.0.0.1:3000
  --tenant       CALLWAKE_TENANT   the tenant to sign as
  --secret-file  CALLWAKE_SECRET   the tenant's secret: from a file (its first line), else from the
                                   environment. Never a flag value (ps and shell history show
                                   those), and never printed.
With none of the three set anywhere, the URL and demo tenant that \`npm start\` left in
${SESSION_FILE} are used.`;

export class UsageError extends Error {}
export class ServerError extends Error {}
export class UnreachableError extends Error {}

export type GlobalOptions = {
  url?: string;
  tenant?: string;
  secretFile?: string;
  json?: boolean;
  requestTimeout: number;
};

export interface Connection {
  url: string;
  tenantId: string;
  secret: string;
}

/** Which of the URL, the tenant and its secret a command needs. */
export function connection(o: GlobalOptions, need: { url: boolean }, env = process.env): Connection {
  const fromFile = o.secretFile === undefined ? undefined : readSecretFile(o.secretFile);
  let url = o.url ?? env.CALLWAKE_URL;
  let tenantId = o.tenant ?? env.CALLWAKE_TENANT;
  let secret = fromFile ?? env.CALLWAKE_SECRET;
  if (url === undefined && tenantId === undefined && secret === undefined && existsSync(SESSION_FILE)) {
    const session = JSON.parse(readFileSync(SESSION_FILE, 'utf8')) as Partial<Connection>;
    ({ url, tenantId, secret } = session);
  }
  const missing = [
    ...(need.url && !url ? ['the URL (--url or CALLWAKE_URL)'] : []),
    ...(!tenantId ? ['the tenant (--tenant or CALLWAKE_TENANT)'] : []),
    ...(!secret ? ['the secret (--secret-file or CALLWAKE_SECRET)'] : []),
  ];
  if (missing.length > 0) throw new UsageError(`missing ${missing.join(', ')}`);
  if (need.url) {
    let parsed: URL;
    try {
      parsed = new URL(url!);
    } catch {
      throw new UsageError(`the URL is not a URL: ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`the URL must be http: or https:, not ${parsed.protocol}`);
    }
  }
  return { url: (url ?? '').replace(/\/+$/, ''), tenantId: tenantId!, secret: secret! };
}

function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const secret = text.split(/\r?\n/)[0] ?? '';
  if (!secret) throw new UsageError(`the secret file ${path} is empty`);
  return secret;
}

/**
 * One request, bounded in time: a refused connection, a failed lookup or no answer within
 * `timeoutMs` is an UnreachableError (exit 3). The error names the URL, never a header.
 */
export async function request(url: string, send: () => Promise<Reply>, timeoutMs: number): Promise<Reply> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UnreachableError(`no answer from ${url} within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([send(), late]);
  } catch (e) {
    if (e instanceof UnreachableError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new UnreachableError(
      `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e))}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** The answer when its status is one of `ok`, else a ServerError that shows the problem. */
export function expectStatus(reply: Reply, ...ok: number[]): Reply {
  if (ok.includes(reply.status)) return reply;
  const body = reply.body as
    | { code?: string; detail?: string; title?: string; errors?: { path?: string; message?: string }[] }
    | string
    | undefined;
  if (body && typeof body === 'object' && typeof body.code === 'string') {
    const lines = [`${reply.status} ${body.code}: ${body.detail ?? body.title ?? ''}`.trimEnd()];
    for (const e of body.errors ?? []) lines.push(`  ${e.path ?? ''}: ${e.message ?? ''}`);
    throw new ServerError(lines.join('\n'));
  }
  throw new ServerError(`HTTP ${reply.status}${typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : ''}`);
}

const shown = (v: unknown): string =>
  v === null || v === undefined || v === '' ? '-' : Array.isArray(v) ? v.join(',') || '-' : String(v);

/** `key=value` pairs on one line (values never hold spaces: ids, states, times, ETags). */
export const line = (pairs: Record<string, unknown>): string =>
  Object.entries(pairs)
    .map(([k, v]) => `${k}=${shown(v).replace(/\s/g, '_')}`)
    .join(' ');

/** A PBX view (or a create's answer) as one line. */
export function viewLine(view: Record<string, unknown>, etag: string | null): string {
  return line({
    status: view.status,
    endReason: view.endReason,
    callId: view.callId,
    ...(view.answeredBy === undefined ? {} : { answeredBy: view.answeredBy }),
    ...(view.declinedBy === undefined ? {} : { declinedBy: view.declinedBy }),
    ...(view.rejectReason === undefined ? {} : { rejectReason: view.rejectReason }),
    ...(etag === null ? {} : { etag }),
  });
}

/** A status a call never leaves: `watch` stops there (an answered call may still be cancelled). */
export const ENDED = new Set(['declined', 'cancelled', 'unreachable', 'expired', 'rejected']);
