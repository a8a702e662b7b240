import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CallbackReceiver } from './callback-receiver.js';
import { PbxClient, type Reply } from './clients.js';

/**
 * `npm run smoke -- --url https://… --tenant … --secret-file …`: checks a deployed callwake (or
 * `npm start`) end to end, as a PBX would, and cleans up after itself:
 * registers a device, rings it (a bogus token: `unreachable` with Apple's reason; a real one
 * given with `--push-token` really rings the phone), reads the view, cancels, sees the events
 * when a callback address is given, and removes what it made. Each step prints its time; the
 * first failure ends the run with exit code 1 (2: bad arguments).
 */
const HELP = `usage: npm run smoke -- --url <base url> --tenant <id> (--secret-file <file> | CALLWAKE_SECRET | --secret <s>)
  [--push-token <hex>] [--bundle-id com.example.phone] [--team-id <TeamID>] [--environment production|sandbox]
  [--callback-url <public url that reaches --listen-port>] [--listen-port <port>]`;

interface Options {
  url: string;
  tenant: string;
  secret: string;
  pushToken: string | undefined;
  bundleId: string;
  teamId: string | undefined;
  environment: 'production' | 'sandbox';
  callbackUrl: string | undefined;
  listenPort: number | undefined;
}

class SmokeFailure extends Error {}

/** Well-formed, never issued by Apple. */
export const BOGUS_TOKEN = '00'.repeat(32);

const OPTIONS = {
  url: { type: 'string' },
  tenant: { type: 'string' },
  'secret-file': { type: 'string' },
  secret: { type: 'string' },
  'push-token': { type: 'string' },
  'bundle-id': { type: 'string', default: 'com.example.phone' },
  'team-id': { type: 'string' },
  environment: { type: 'string', default: 'production' },
  'callback-url': { type: 'string' },
  'listen-port': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/**
 * `--name value` as `--name=value` for every option that takes one: a base64url secret may start
 * with `-`, which parseArgs would otherwise refuse as "ambiguous".
 */
function joinValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.startsWith('--') ? argv[i]!.slice(2) : '';
    const spec = OPTIONS[name as keyof typeof OPTIONS];
    if (spec?.type === 'string' && i + 1 < argv.length) out.push(`--${name}=${argv[++i]}`);
    else out.push(argv[i]!);
  }
  return out;
}

function options(argv: string[]): Options {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args: joinValues(argv), options: OPTIONS }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (values.secret !== undefined) {
    // Accepted for a quick check, but a secret on a command line is in the shell's history and
    // in every process list on the machine.
    console.error(
      'warning: --secret is visible to other users of this machine; prefer --secret-file or CALLWAKE_SECRET',
    );
  }
  const secret =
    values.secret ?? (values['secret-file'] ? readSecret(values['secret-file']) : process.env.CALLWAKE_SECRET);
  const url = values.url ?? process.env.CALLWAKE_URL;
  const tenant = values.tenant ?? process.env.CALLWAKE_TENANT;
  if (!url || !tenant || !secret) throw new UsageError('--url, --tenant and a secret are required');
  if (values.environment !== 'production' && values.environment !== 'sandbox') {
    throw new UsageError('--environment is production or sandbox');
  }
  if ((values['callback-url'] === undefined) !== (values['listen-port'] === undefined)) {
    throw new UsageError('--callback-url and --listen-port go together');
  }
  return {
    url: url.replace(/\/+$/, ''),
    tenant,
    secret,
    pushToken: values['push-token'],
    bundleId: values['bundle-id'] ?? 'com.example.phone',
    teamId: values['team-id'],
    environment: values.environment,
    callbackUrl: values['callback-url'],
    listenPort: values['listen-port'] === undefined ? undefined : Number(values['listen-port']),
  };
}

class UsageError extends Error {}

/** From a file, never the command line (where `ps` shows it); the secret is never printed. */
function readSecret(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}

async function main(o: Options): Promise<void> {
  const pbx = new PbxClient(o.url, o.tenant, o.secret);
  const started = performance.now();
  let n = 0;
  const step = async (
    what: string,
    run: () => Promise<Reply>,
    ok: number[],
    check?: (r: Reply) => string | undefined,
  ) => {
    n += 1;
    const t0 = performance.now();
    const r = await run().catch((e: unknown) => {
      throw new SmokeFailure(`${what}: cannot reach ${o.url} (${(e as Error).message})`);
    });
    const ms = (performance.now() - t0).toFixed(0);
    const problem = !ok.includes(r.status)
      ? `answered ${r.status} ${r.body?.code ?? ''} ${r.body?.detail ?? ''}`.trim()
      : check?.(r);
    console.log(
      `${String(n).padStart(2)}. ${what.padEnd(40)} ${String(r.status).padEnd(4)} ${ms.padStart(6)} ms ${problem ? `FAILED: ${problem}` : 'ok'}`,
    );
    if (problem) throw new SmokeFailure(`${what}: ${problem}`);
    return r;
  };

  const user = `smoke-${randomUUID()}`;
  const deviceId = 'smoke-device';
  const callId = `smoke-${randomUUID()}@callwake`;
  // A token no phone has: Apple answers BadDeviceToken (in both environments) and the device is pruned.
  const token = o.pushToken ?? BOGUS_TOKEN;
  const receiver =
    o.listenPort !== undefined
      ? await CallbackReceiver.start({ secrets: () => [o.secret], port: o.listenPort, host: '0.0.0.0' })
      : undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    if (receiver) {
      await step('webhook to this run’s receiver', () => pbx.putWebhook({ url: o.callbackUrl }), [200]);
      cleanups.push(() => pbx.deleteWebhook());
    }
    await step(
      'register a device',
      () =>
        pbx.putDevice(user, deviceId, {
          platform: 'ios',
          pushToken: token,
          bundleId: o.bundleId,
          environment: o.environment,
          ...(o.teamId ? { teamId: o.teamId } : {}),
        }),
      [201],
    );
    cleanups.push(() => pbx.deleteDevice(user, deviceId));
    const ring = await step(
      o.pushToken ? 'ring it (a real phone: it rings)' : 'ring it (a bogus token)',
      () =>
        pbx.ring({
          callId,
          from: { number: '+15550000000', displayName: 'callwake smoke test' },
          to: { userId: user },
          ringTimeoutSeconds: 30,
        }),
      [201],
      (r) => {
        const delivery = r.body?.deliveries?.[0];
        if (o.pushToken)
          return r.body?.status === 'ringing' ? undefined : `not ringing: ${delivery?.reason ?? r.body?.status}`;
        return r.body?.status === 'unreachable' && delivery?.reason
          ? undefined
          : `expected unreachable with Apple's reason, got ${r.body?.status}`;
      },
    );
    console.log(
      `    ${ring.body.status}${ring.body.deliveries[0]?.reason ? `: ${ring.body.deliveries[0].reason}` : ''}`,
    );
    cleanups.push(() => pbx.cancel(callId, 'error'));
    await step(
      'read the call',
      () => pbx.view(callId),
      [200],
      (r) => (r.headers.get('etag') ? undefined : 'no ETag'),
    );
    await step(
      'cancel it',
      () => pbx.cancel(callId, 'caller_hangup'),
      [200],
      (r) => (r.body?.status === (o.pushToken ? 'cancelled' : 'unreachable') ? undefined : `status ${r.body?.status}`),
    );
    if (receiver) {
      const t0 = performance.now();
      const got = await receiver
        .waitFor((c) => c.event.callId === callId, o.pushToken ? 2 : 1, 15_000)
        .catch(() => receiver.received.filter((c) => c.event.callId === callId));
      const bad = got.filter((c) => c.signature !== 'ok');
      const line = got.map((c) => `${c.event.type}#${c.event.sequence}`).join(', ') || 'none';
      console.log(
        `${String(++n).padStart(2)}. ${'signed events arrive'.padEnd(40)} ${'-'.padEnd(4)} ${(performance.now() - t0).toFixed(0).padStart(6)} ms ${got.length > 0 && bad.length === 0 ? 'ok' : 'FAILED'}: ${line}`,
      );
      if (got.length === 0 || bad.length > 0) throw new SmokeFailure('events did not arrive signed');
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await receiver?.stop();
  }
  console.log(`\nsmoke test passed in ${((performance.now() - started) / 1000).toFixed(1)} s (cleaned up)`);
}

try {
  await main(options(process.argv.slice(2)));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`${e.message}\n${HELP}`);
    process.exit(2);
  }
  console.error(e instanceof SmokeFailure ? `smoke test FAILED: ${e.message}` : e);
  process.exit(1);
}
