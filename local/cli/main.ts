import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EVENT_TYPES } from '../../functions/core/events.js';
import { signatureOf } from '../../functions/core/pbx-signature.js';
import { CallbackReceiver, type ReceivedCallback } from '../callback-receiver.js';
import { PbxClient, type Reply } from '../clients.js';
import {
  CONFIG_HELP,
  type Connection,
  connection,
  ENDED,
  EXIT,
  EXIT_CODES_HELP,
  expectStatus,
  type GlobalOptions,
  line,
  request,
  ServerError,
  UnreachableError,
  UsageError,
  viewLine,
} from './support.js';

/** Thrown by a command that ends on its own code (watch, events listen): not an error to print. */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const integer =
  (min: number, max: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
    }
    return n;
  };

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const collectOneOf =
  (allowed: readonly string[]) =>
  (value: string, previous: string[] | undefined): string[] => {
    if (!allowed.includes(value)) throw new InvalidArgumentError(`one of ${allowed.join(', ')}`);
    return collect(value, previous);
  };

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const err = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

/** What every command that talks to callwake needs: a signing client and a bounded request. */
function client(cmd: Command) {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const conn: Connection = connection(o, { url: true });
  const pbx = new PbxClient(conn.url, conn.tenantId, conn.secret);
  const send = (what: () => Promise<Reply>, timeoutMs = o.requestTimeout * 1000) => request(conn.url, what, timeoutMs);
  return { pbx, send, json: o.json === true, conn, o };
}

/** An RFC 8599 device as the PBX saw it in REGISTER: `pn-provider=apns;pn-prid=…;pn-param=…`. */
function inlineDevice(text: string) {
  const params = new Map(
    text
      .split(';')
      .filter((p) => p.trim() !== '')
      .map((p) => {
        const at = p.indexOf('=');
        return at < 0 ? [p.trim(), ''] : [p.slice(0, at).trim().toLowerCase(), p.slice(at + 1).trim()];
      }) as [string, string][],
  );
  const pnPrid = params.get('pn-prid');
  const pnParam = params.get('pn-param');
  if (!pnPrid || !pnParam) {
    throw new UsageError(
      `--device needs pn-prid and pn-param ("pn-provider=apns;pn-prid=<token>;pn-param=…"): ${text}`,
    );
  }
  return { pnProvider: params.get('pn-provider') || 'apns', pnPrid, pnParam };
}

function keyValues(pairs: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} takes key=value, not ${p}`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function program(): Command {
  const root = new Command('callwake')
    .description(
      'Talk to callwake as a PBX does: ring, cancel and watch calls, keep devices and the webhook, verify events.',
    )
    .version(VERSION)
    .option('--url <url>', 'callwake base URL (default: CALLWAKE_URL)')
    .option('--tenant <tenantId>', 'tenant to sign as (default: CALLWAKE_TENANT)')
    .option('--secret-file <path>', "a file whose first line is the tenant's secret (default: CALLWAKE_SECRET)")
    .option('--json', 'print JSON (one document per line) instead of key=value lines')
    .addOption(
      new Option('--request-timeout <seconds>', 'give up on a request after this long (exit 3)')
        .argParser(integer(1, 600))
        .default(30),
    )
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('afterAll', `${CONFIG_HELP}\n${EXIT_CODES_HELP}\n`);

  root
    .command('ring')
    .description('A call arrived for a push-woken user: create it (POST /v1/pbx/calls) and print the answer.')
    .option('--call-id <callId>', 'the call id, e.g. the SIP Call-ID (default: a fresh <uuid>@callwake-cli)')
    .option('--from <number>', "the caller's number")
    .option('--from-uri <uri>', "the caller's URI")
    .option('--display-name <name>', "the caller's display name")
    .option('--user <userId>', "ring this user's registered devices")
    .option(
      '--device <params>',
      'ring this device as the PBX saw it in REGISTER (repeatable): "pn-provider=apns;pn-prid=<token>;pn-param=<TeamID>.<bundle id>.voip"',
      collect,
    )
    .option('--ring-timeout <seconds>', 'how long it rings (5-300; the server defaults to 60)', integer(5, 300))
    .option('--video', 'a video call')
    .option('--metadata <key=value>', 'given to the app in its view, never in the push (repeatable)', collect)
    .addHelpText(
      'after',
      '\nPrints status= (ringing, unreachable or rejected) and callId=, then one line per push.\nExample: callwake ring --from +15551230000 --user alice',
    )
    .action(async (o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      if (!o.user && !o.device) throw new UsageError('ring needs --user or --device (or both)');
      const metadata = keyValues(o.metadata, '--metadata');
      const body = {
        callId: o.callId ?? `${randomUUID()}@callwake-cli`,
        from: {
          ...(o.from ? { number: o.from } : {}),
          ...(o.fromUri ? { uri: o.fromUri } : {}),
          ...(o.displayName ? { displayName: o.displayName } : {}),
        },
        ...(o.user ? { to: { userId: o.user } } : {}),
        ...(o.device ? { devices: (o.device as string[]).map(inlineDevice) } : {}),
        ...(o.ringTimeout === undefined ? {} : { ringTimeoutSeconds: o.ringTimeout }),
        ...(o.video ? { hasVideo: true } : {}),
        ...(metadata ? { metadata } : {}),
      };
      const r = expectStatus(await send(() => pbx.ring(body)), 200, 201);
      if (json) return out(JSON.stringify(r.body));
      out(
        line({
          status: r.body.status,
          callId: r.body.callId,
          callUuid: r.body.callUuid,
          expiresAt: r.body.expiresAt,
          ...(r.body.rejectReason ? { rejectReason: r.body.rejectReason } : {}),
          created: r.status === 201,
        }),
      );
      for (const d of r.body.deliveries ?? [])
        out(line({ delivery: d.deviceId, pushType: d.pushType, result: d.result, reason: d.reason }));
    });

  root
    .command('cancel')
    .description('The caller hung up, or the call ended elsewhere: cancel it and print the PBX view.')
    .argument('<callId>', 'the call id (as given to ring; percent-encoded for you)')
    .addOption(
      new Option('--reason <reason>', 'why')
        .choices(['caller_hangup', 'answered_elsewhere', 'declined_elsewhere', 'timeout', 'error'])
        .default('caller_hangup'),
    )
    .action(async (callId: string, o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      const r = expectStatus(await send(() => pbx.cancel(callId, o.reason)), 200);
      out(json ? JSON.stringify(r.body) : viewLine(r.body, r.headers.get('etag')));
    });

  root
    .command('view')
    .description("Print a call's PBX view once (GET /v1/pbx/calls/{callId}).")
    .argument('<callId>', 'the call id')
    .action(async (callId: string, _o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      const r = expectStatus(await send(() => pbx.view(callId)), 200);
      out(json ? JSON.stringify(r.body) : viewLine(r.body, r.headers.get('etag')));
    });

  root
    .command('watch')
    .description(
      "Print a call's PBX view, then one line per change (ETag + Prefer: wait, no polling), until the call ends.",
    )
    .argument('<callId>', 'the call id')
    .option('--timeout <seconds>', 'stop after this long (exit 4); default: until the call ends', integer(1, 86_400))
    .option('--wait <seconds>', 'how long each request is held (at most 20)', integer(1, 20), 20)
    .addHelpText(
      'after',
      '\nEach line: at= status= endReason= callId= answeredBy= declinedBy= etag=. Ends (exit 0) on\ndeclined, cancelled, unreachable, expired or rejected; an answered call can still be cancelled,\nso watch goes on after answered.',
    )
    .action(async (callId: string, o: { timeout?: number; wait: number }, cmd: Command) => {
      const { pbx, send, json, o: g } = client(cmd);
      const deadline = o.timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.timeout * 1000;
      const print = (r: Reply) =>
        out(
          json
            ? JSON.stringify({ at: new Date().toISOString(), etag: r.headers.get('etag'), view: r.body })
            : `at=${new Date().toISOString()} ${viewLine(r.body, r.headers.get('etag'))}`,
        );
      let r = expectStatus(await send(() => pbx.view(callId)), 200);
      print(r);
      for (;;) {
        if (ENDED.has(r.body.status)) return;
        const left = Math.ceil((deadline - Date.now()) / 1000);
        if (left <= 0) {
          err(`watch: the call had not ended after ${o.timeout} s`);
          throw new Exit(EXIT.timeout);
        }
        const etag = r.headers.get('etag') ?? undefined;
        const waitSeconds = Math.min(o.wait, left);
        const next = expectStatus(
          await send(
            () => pbx.view(callId, { ...(etag ? { etag } : {}), waitSeconds }),
            (waitSeconds + g.requestTimeout) * 1000,
          ),
          200,
          304,
        );
        if (next.status === 304) continue;
        r = next;
        print(r);
      }
    });

  const devices = root.command('devices').description("A user's registered devices (the device registry).");
  devices
    .command('put')
    .description('Register or replace a device (PUT /v1/pbx/users/{userId}/devices/{deviceId}).')
    .argument('<userId>')
    .argument('<deviceId>')
    .requiredOption('--token <hex>', "the device's VoIP push token (hex)")
    .requiredOption('--bundle-id <bundleId>', "the app's bundle id, e.g. com.example.phone")
    .addOption(
      new Option('--environment <env>', 'APNs environment').choices(['sandbox', 'production']).makeOptionMandatory(),
    )
    .option('--team-id <teamId>', 'Apple team id (needed when the deployment has more than one team)')
    .addOption(new Option('--push-type <type>', 'voip, or alert for apps without CallKit').choices(['voip', 'alert']))
    .option('--alert-token <hex>', "the app's regular remote-notification token, for missed-call alerts")
    .action(async (userId: string, deviceId: string, o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      const body = {
        platform: 'ios',
        pushToken: o.token,
        bundleId: o.bundleId,
        environment: o.environment,
        ...(o.teamId ? { teamId: o.teamId } : {}),
        ...(o.pushType ? { pushType: o.pushType } : {}),
        ...(o.alertToken ? { alertPushToken: o.alertToken } : {}),
      };
      const r = expectStatus(await send(() => pbx.putDevice(userId, deviceId, body)), 200, 201);
      out(json ? JSON.stringify(r.body) : `${r.status === 201 ? 'created' : 'replaced'} ${deviceLine(r.body)}`);
    });
  devices
    .command('list')
    .description("List a user's devices (GET /v1/pbx/users/{userId}/devices): one line each.")
    .argument('<userId>')
    .action(async (userId: string, _o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      const r = expectStatus(await send(() => pbx.listDevices(userId)), 200);
      if (json) return out(JSON.stringify(r.body));
      for (const d of r.body.devices ?? []) out(deviceLine(d));
    });
  devices
    .command('delete')
    .description('Remove a device (DELETE …/devices/{deviceId}; done also when it was absent).')
    .argument('<userId>')
    .argument('<deviceId>')
    .action(async (userId: string, deviceId: string, _o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      expectStatus(await send(() => pbx.deleteDevice(userId, deviceId)), 204);
      out(json ? JSON.stringify({ deleted: true, userId, deviceId }) : line({ deleted: deviceId, userId }));
    });

  const webhook = root
    .command('webhook')
    .description("Where the tenant's signed event callbacks go (/v1/pbx/webhook).");
  webhook
    .command('get')
    .description('Print the webhook (exit 1 with webhook_not_found when there is none).')
    .action(async (_o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      const r = expectStatus(await send(() => pbx.getWebhook()), 200);
      out(json ? JSON.stringify(r.body) : webhookLine(r.body));
    });
  webhook
    .command('put')
    .description('Send events to this URL (every type unless --event is given).')
    .argument('<url>', 'where callwake POSTs each event')
    .option('--event <type>', `only this event type (repeatable): ${EVENT_TYPES.join(', ')}`, collectOneOf(EVENT_TYPES))
    .action(async (url: string, o: { event?: string[] }, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      const r = expectStatus(await send(() => pbx.putWebhook({ url, ...(o.event ? { events: o.event } : {}) })), 200);
      out(json ? JSON.stringify(r.body) : webhookLine(r.body));
    });
  webhook
    .command('delete')
    .description('Stop sending events (done also when there was no webhook).')
    .action(async (_o, cmd: Command) => {
      const { pbx, send, json } = client(cmd);
      expectStatus(await send(() => pbx.deleteWebhook()), 204);
      out(json ? JSON.stringify({ deleted: true }) : 'deleted=webhook');
    });

  const events = root.command('events').description('Signed event callbacks.');
  events
    .command('listen')
    .description(
      'Receive event callbacks: verify each signature with the tenant secret, answer 204 and print it; answer 401 to a bad or stale signature.',
    )
    .option('--port <port>', 'port to listen on (0: any free port)', integer(0, 65_535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--count <n>', 'stop after this many verified events (exit 0)', integer(1, 1_000_000))
    .option('--timeout <seconds>', 'stop after this long (exit 4 when --count events had not come)', integer(1, 86_400))
    .addHelpText(
      'after',
      '\nNeeds the tenant and its secret, not the URL. Prints "listening url=…" on stderr once ready, then one\nline per verified event on stdout: type= sequence= callId= status= deviceId= reason= id=. Point the\nwebhook at it with: callwake webhook put http://<this host>:<port>/callwake',
    )
    .action(async (o: { port: number; host: string; count?: number; timeout?: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const conn = connection(g, { url: false });
      let verified = 0;
      let done!: (code: number) => void;
      const finished = new Promise<number>((resolve) => (done = resolve));
      const print = (c: ReceivedCallback) => {
        const e = c.event as ReceivedCallback['event'] & Record<string, unknown>;
        const call = e.call as { status?: string } | undefined;
        out(
          g.json
            ? JSON.stringify(e)
            : line({
                type: e.type,
                sequence: e.sequence,
                callId: e.callId,
                status: call?.status,
                ...(e.deviceId === undefined ? {} : { deviceId: e.deviceId }),
                ...(e.reason === undefined ? {} : { reason: e.reason }),
                id: e.id,
              }),
        );
      };
      const receiver = await CallbackReceiver.start({
        port: o.port,
        host: o.host,
        secrets: (tenantId) => (tenantId === conn.tenantId ? [conn.secret] : undefined),
        react: (c) => {
          if (c.signature !== 'ok') {
            err(
              line({
                rejected: c.signature,
                tenant: c.headers['x-callwake-tenant'],
                eventId: c.headers['x-callwake-event-id'],
              }),
            );
            return { kind: 'status', status: 401 };
          }
          print(c);
          verified += 1;
          if (o.count !== undefined && verified >= o.count) setImmediate(() => done(EXIT.ok));
          return { kind: 'status', status: 204 };
        },
      }).catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot listen on ${o.host}:${o.port}: ${e.code ?? e.message}`);
      });
      err(`listening url=${receiver.url}`);
      const stop = () => done(EXIT.ok);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const timer =
        o.timeout === undefined
          ? undefined
          : setTimeout(() => {
              err(`events listen: ${verified} verified event(s) after ${o.timeout} s`);
              done(o.count === undefined ? EXIT.ok : EXIT.timeout);
            }, o.timeout * 1000);
      const code = await finished;
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await receiver.stop();
      if (code !== EXIT.ok) throw new Exit(code);
    });

  root
    .command('sign')
    .description('Print the headers that sign one request, for curl. Prints no secret.')
    .argument('<method>', 'GET, POST, PUT or DELETE')
    .argument('<path>', 'the path from /v1/ on, with ?query, exactly as curl will send it (ids percent-encoded)')
    .option('--body <text>', 'the exact body that will be sent')
    .option('--body-file <path>', 'the file whose exact bytes will be sent (- for standard input)')
    .option('--timestamp <unix seconds>', 'sign with this timestamp (default: now)', integer(0, 99_999_999_999))
    .option('--plain', 'print "Name: value" lines (for curl -H @file) instead of -H options')
    .addHelpText(
      'after',
      `
Send the body byte for byte as signed (curl --data-binary @file, never -d), within 300 s.
Examples:
  callwake sign POST /v1/pbx/calls --body-file call.json --plain |
    curl -sS -H @- --data-binary @call.json "$CALLWAKE_URL/v1/pbx/calls"
  eval "curl -sS $(callwake sign GET /v1/pbx/webhook | tr '\\n' ' ') \\"\\$CALLWAKE_URL/v1/pbx/webhook\\""`,
    )
    .action(
      (
        method: string,
        path: string,
        o: { body?: string; bodyFile?: string; timestamp?: number; plain?: boolean },
        cmd: Command,
      ) => {
        const conn = connection(cmd.optsWithGlobals<GlobalOptions>(), { url: false });
        if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`not an HTTP method: ${method}`);
        if (!path.startsWith('/v1/') || /[\s#]/.test(path)) {
          throw new UsageError(`the path must start with /v1/ and hold no whitespace or #: ${path}`);
        }
        if (o.body !== undefined && o.bodyFile !== undefined)
          throw new UsageError('give --body or --body-file, not both');
        let body: Buffer = Buffer.alloc(0);
        if (o.body !== undefined) body = Buffer.from(o.body, 'utf8');
        if (o.bodyFile !== undefined) {
          try {
            body = readFileSync(o.bodyFile === '-' ? 0 : o.bodyFile);
          } catch (e) {
            throw new UsageError(`cannot read ${o.bodyFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
          }
        }
        const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
        const headers: [string, string][] = [
          ['X-Callwake-Tenant', conn.tenantId],
          ['X-Callwake-Timestamp', timestamp],
          ['X-Callwake-Signature', signatureOf(conn.secret, timestamp, method, path, body)],
          ...(body.length > 0 ? [['Content-Type', 'application/json'] as [string, string]] : []),
        ];
        for (const [name, value] of headers)
          out(o.plain ? `${name}: ${value}` : `-H ${shellQuote(`${name}: ${value}`)}`);
      },
    );

  return root;
}

function deviceLine(d: Record<string, unknown>): string {
  return line({
    deviceId: d.deviceId,
    platform: d.platform,
    bundleId: d.bundleId,
    environment: d.environment,
    pushType: d.pushType,
    tokenSuffix: d.tokenSuffix,
    ...(d.alertTokenSuffix === undefined ? {} : { alertTokenSuffix: d.alertTokenSuffix }),
    updatedAt: d.updatedAt,
  });
}

const webhookLine = (w: Record<string, unknown>) => line({ url: w.url, events: w.events, updatedAt: w.updatedAt });

/** Runs one command line; resolves with the exit code (see EXIT). */
export async function run(argv: string[]): Promise<number> {
  const root = program();
  root.configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  try {
    await root.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.help') return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return EXIT.usage; // commander has printed what was wrong
    }
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n(add --help for usage)`);
      return EXIT.usage;
    }
    if (e instanceof ServerError) {
      err(`error: ${e.message}`);
      return EXIT.server;
    }
    if (e instanceof UnreachableError) {
      err(`error: ${e.message}`);
      return EXIT.unreachable;
    }
    err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.server;
  }
}
