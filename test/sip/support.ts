import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Log } from '../../functions/core/ports.js';
import { ApnsSimulator } from '../../local/apns-simulator/index.js';
import { AppClient, PbxClient } from '../../local/clients.js';
import { freePort, type RunningDynamo, startDynamoLocal } from '../../local/dynamo-local.js';
import { type RunningStack, startStack } from '../../local/stack.js';
import type { PhoneEnv } from './phone.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const KAMAILIO_CFG = join(REPO, 'examples/kamailio/kamailio.cfg');
export const SCENARIOS = fileURLToPath(new URL('./scenarios/', import.meta.url));

/** The ring timeout Kamailio asks for (the contract's minimum) and the backstop past it. */
export const RING_SECONDS = 5;
export const BACKSTOP_SECONDS = 2;
/**
 * How often Kamailio's timer checks that its webhook is still there (30 s by default): long here,
 * so that a test of a lost webhook sees the INVITE's own check, not the timer's.
 */
const WEBHOOK_CHECK_SECONDS = 600;
export const TENANT = 't1';
/** The app the simulated phone belongs to: the simulator's team, a VoIP topic. */
export const TOPIC = 'LOCALTEAM1.com.example.phone.voip';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `promise`, or `fallback` once `ms` have passed; the timer never outlives the race. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A UDP port nobody holds right now (the OS picks it; released at once). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Resolves once something accepts TCP connections on host:port, or throws after `timeoutMs`. */
async function waitForTcp(host: string, port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the process that should listen on ${host}:${port} exited`);
    if (Date.now() > deadline) throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The direct children of a process (Kamailio's workers), read from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Stops a process we started, by its pid: SIGTERM, then SIGKILL after `graceMs`. */
async function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const inTime = await within(
    gone.then(() => true),
    graceMs,
    false,
  );
  if (!inTime) {
    child.kill('SIGKILL');
    await within(gone, 2000, undefined);
  }
}

export interface KamailioOptions {
  sipPort: number;
  eventsPort: number;
  callwakeUrl: string;
  secret: string;
}

/** Kamailio running examples/kamailio/kamailio.cfg, in the foreground, its log kept. */
export class Kamailio {
  readonly log: string[] = [];
  private constructor(
    private readonly child: ChildProcess,
    private readonly runDir: string,
    readonly sipPort: number,
    readonly eventsUrl: string,
  ) {}

  static async start(o: KamailioOptions): Promise<Kamailio> {
    const runDir = mkdtempSync(join(tmpdir(), 'callwake-sip-'));
    const args = [
      '-f',
      KAMAILIO_CFG,
      '-l',
      `udp:127.0.0.1:${o.sipPort}`,
      '-A',
      `CW_BASE="${o.callwakeUrl}"`,
      '-A',
      `CW_TENANT="${TENANT}"`,
      '-A',
      `CW_SECRET="${o.secret}"`,
      '-A',
      `CW_RING=${RING_SECONDS}`,
      // the test's own choices: a short backstop, callbacks on a free port
      '-A',
      `CW_BACKSTOP=${BACKSTOP_SECONDS}`,
      '-A',
      `CW_EVENTS_LISTEN=tcp:127.0.0.1:${o.eventsPort}`,
      '-A',
      `CW_EVENTS_URL="http://127.0.0.1:${o.eventsPort}/callwake/events"`,
      '-A',
      `CW_WEBHOOK_CHECK=${WEBHOOK_CHECK_SECONDS}`,
      // every INVITE checks it (the operator's default waits 5 s since the last check)
      '-A',
      'CW_WEBHOOK_RECHECK=0',
      // foreground, log to stderr, runtime files in a directory of our own
      '-DD',
      '-E',
      '-Y',
      runDir,
      '-w',
      runDir,
    ];
    const child = spawn('kamailio', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const k = new Kamailio(child, runDir, o.sipPort, `http://127.0.0.1:${o.eventsPort}/callwake/events`);
    let partial = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      k.log.push(...lines.filter((l) => l.trim() !== ''));
      if (k.log.length > 20_000) k.log.splice(0, k.log.length - 20_000);
    });
    await waitForTcp('127.0.0.1', o.eventsPort, 15_000, () => !exited(child)).catch((e) => {
      throw new Error(`${(e as Error).message}\n${k.log.slice(-30).join('\n')}`);
    });
    return k;
  }

  /** Lines the config logged itself (xlog), e.g. to show what happened in a failing test. */
  scriptLines(): string[] {
    return this.log.filter((l) => l.includes('<script>'));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    const pid = this.child.pid;
    const workers = pid === undefined ? [] : childrenOf(pid);
    // Kamailio's main process ends its workers itself on SIGTERM.
    await stopProcess(this.child, 5000);
    for (const w of workers) {
      try {
        process.kill(w, 0);
        process.kill(w, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** One SIP message as SIPp traced it. */
export interface Traced {
  at: number;
  direction: 'sent' | 'received';
  firstLine: string;
  /** The status code of a response, else undefined. */
  status?: number;
  text: string;
}

/** A SIPp run: one call of a scenario; its messages with their times. */
export class Sipp {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly finished: Promise<number | null>,
    private readonly output: string[],
  ) {}

  /**
   * Starts `sipp` with one scenario for one call (`-m 1`): `-set` variables, `-d` for the
   * scenario's pauses, and a whole-run `-timeout` so it never outlives the test by much.
   */
  static start(o: {
    scenario: string;
    port: number;
    target?: string;
    service?: string;
    vars?: Record<string, string>;
    pauseMs?: number;
    timeoutSeconds: number;
    callId?: string;
  }): Sipp {
    const dir = mkdtempSync(join(tmpdir(), 'callwake-sipp-'));
    const args = [
      '-sf',
      join(SCENARIOS, o.scenario),
      '-i',
      '127.0.0.1',
      '-p',
      String(o.port),
      '-m',
      '1',
      '-nostdin',
      '-timeout',
      `${o.timeoutSeconds}s`,
      '-timeout_error',
      '-trace_msg',
      '-message_file',
      join(dir, 'messages.log'),
      '-trace_err',
      '-error_file',
      join(dir, 'errors.log'),
      '-d',
      String(o.pauseMs ?? 0),
      ...(o.service ? ['-s', o.service] : []),
      ...(o.callId ? ['-cid_str', o.callId] : []),
      ...Object.entries(o.vars ?? {}).flatMap(([k, v]) => ['-set', k, v]),
      ...(o.target ? [o.target] : []),
    ];
    const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
    const finished = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    return new Sipp(child, dir, o.port, finished, output);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Waits for SIPp to finish its call (bounded); its exit code: 0 when the scenario passed. */
  async done(timeoutMs: number): Promise<number | null> {
    const code = await within(this.finished, timeoutMs, 'timeout' as const);
    if (code === 'timeout') {
      await this.stop();
      throw new Error(`sipp (${this.describe()}) did not finish within ${timeoutMs} ms\n${this.errors()}`);
    }
    return code;
  }

  describe(): string {
    return this.child.spawnargs.slice(1, 3).join(' ');
  }

  /** The messages SIPp sent and received, in order, with the wall-clock time of each. */
  messages(): Traced[] {
    let text: string;
    try {
      text = readFileSync(join(this.dir, 'messages.log'), 'latin1');
    } catch {
      return [];
    }
    const out: Traced[] = [];
    // ----------------------------------------------- 2026-12-06	01:55:03.123456
    // UDP message received [531] bytes :
    const header =
      /-{10,} (\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2}\.\d+)\s*\r?\n(?:\S+ )?message (sent|received)[^\n]*\n/g;
    const marks = [...text.matchAll(header)];
    marks.forEach((m, i) => {
      const start = m.index! + m[0].length;
      const end = i + 1 < marks.length ? marks[i + 1]!.index! : text.length;
      const body = text.slice(start, end).replace(/^\s+/, '');
      const firstLine = body.split(/\r?\n/, 1)[0]!.trim();
      const status = /^SIP\/2\.0 (\d{3})/.exec(firstLine)?.[1];
      const local = new Date(`${m[1]}T${m[2]!.slice(0, 12)}`);
      out.push({
        at: local.getTime(),
        direction: m[3] as 'sent' | 'received',
        firstLine,
        ...(status ? { status: Number(status) } : {}),
        text: body,
      });
    });
    return out;
  }

  /** The INVITE's final response as the caller got it (the first one), with its time. */
  finalResponse(): Traced | undefined {
    return this.messages().find((m) => m.direction === 'received' && m.status !== undefined && m.status >= 200);
  }

  firstSent(method: string): Traced | undefined {
    return this.messages().find((m) => m.direction === 'sent' && m.firstLine.startsWith(`${method} `));
  }

  received(method: string): Traced[] {
    return this.messages().filter((m) => m.direction === 'received' && m.firstLine.startsWith(`${method} `));
  }

  errors(): string {
    let errors = '';
    try {
      errors = readFileSync(join(this.dir, 'errors.log'), 'latin1');
    } catch {
      // none written
    }
    return `${errors}${this.output.join('').slice(-2000)}`;
  }

  async stop(): Promise<void> {
    await stopProcess(this.child, 2000);
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Everything a SIP test runs: DynamoDB Local, the APNs simulator, callwake, Kamailio. */
export interface SipWorld extends PhoneEnv {
  callwake: RunningStack;
  sim: ApnsSimulator;
  kamailio: Kamailio;
  pbx: PbxClient;
  app: AppClient;
  secret: string;
  /** Every SIPp started through `sipp()`, stopped at the end. */
  sipp(o: Parameters<typeof Sipp.start>[0]): Sipp;
  stop(): Promise<void>;
}

const quietLog: Log = { info() {}, warn() {}, error() {} };

export async function startSipWorld(): Promise<SipWorld> {
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  try {
    const dynamo: RunningDynamo = await startDynamoLocal();
    started.push(() => dynamo.stop());
    const sim = await ApnsSimulator.start();
    started.push(() => sim.stop());
    const secret = randomBytes(32).toString('base64url');
    const callwake = await startStack({
      host: '127.0.0.1',
      port: 0,
      tenants: new Map([[TENANT, [secret]]]),
      dynamoEndpoint: dynamo.endpoint,
      tableName: `sip-${randomUUID()}`,
      apns: { kind: 'simulator', simulator: sim },
      defaultEnvironment: 'sandbox',
      pushDeadlineMs: 3000,
      log: quietLog,
      events: { print: () => undefined },
    });
    started.push(() => callwake.stop());
    const kamailio = await Kamailio.start({
      sipPort: await freeUdpPort(),
      eventsPort: await freePort(),
      callwakeUrl: callwake.url,
      secret,
    });
    started.push(() => kamailio.stop());
    const pbx = new PbxClient(callwake.url, TENANT, secret);
    // The configuration points the tenant's callbacks at itself once callwake answers.
    await waitForWebhook(pbx, kamailio);
    const sipps: Sipp[] = [];
    started.push(async () => {
      for (const s of sipps) await s.cleanup();
    });
    return {
      callwake,
      sim,
      kamailio,
      pbx,
      app: new AppClient(callwake.url),
      sipTarget: `127.0.0.1:${kamailio.sipPort}`,
      pushFor: async (token, timeoutMs) => (await sim.waitForPush(token, timeoutMs)).payload,
      secret,
      sipp(o) {
        const s = Sipp.start(o);
        sipps.push(s);
        return s;
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * Until callwake has Kamailio's webhook (its signed PUT, made at start and again when a check finds
 * it gone), at most `timeoutMs`.
 */
export async function waitForWebhook(pbx: PbxClient, kamailio: Kamailio, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await pbx.getWebhook();
    if (r.status === 200 && r.body.url === kamailio.eventsUrl) return;
    if (Date.now() > deadline)
      throw new Error(`Kamailio never registered its webhook: ${r.status}\n${kamailio.scriptLines().join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Which of the tools the suite runs are not installed (it says so instead of failing obscurely). */
export function missingTools(): string[] {
  const missing: string[] = [];
  for (const [tool, args] of [
    ['kamailio', ['-v']],
    ['sipp', ['-v']],
    ['curl', ['--version']],
  ] as const) {
    try {
      execFileSync(tool, [...args], { stdio: 'ignore' });
    } catch (e) {
      // sipp -v exits 1 after printing its version; only a missing binary matters
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') missing.push(tool);
    }
  }
  return missing;
}
