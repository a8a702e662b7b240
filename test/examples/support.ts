import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Log } from '../../functions/core/ports.js';
import { ApnsSimulator } from '../../local/apns-simulator/index.js';
import { AppClient, PbxClient } from '../../local/clients.js';
import { type RunningStack, startStack } from '../../local/stack.js';

/** The repository's root: scripts are run from their committed paths. */
export const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** One tenant with a fixed secret of more than 32 bytes, as CALLWAKE_TENANTS would set it. */
export const TENANT = 'examples';
export const SECRET = 'examples-fixed-secret-0123456789abcdef-ABCDEF';

/** The apt packages each tool comes from (what .ci/run installs). */
const APT: Record<string, string> = {
  bash: 'bash',
  openssl: 'openssl',
  curl: 'curl',
  jq: 'jq',
  python3: 'python3',
  'lua5.4': 'lua5.4 lua-luaossl lua-cjson lua-socket',
};

/**
 * Fails (never skips) when a tool the example needs is missing, naming the apt packages to install.
 * For Lua, also checks the three modules load.
 */
export function requireTools(...tools: string[]): void {
  for (const tool of tools) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (found.status !== 0) {
      throw new Error(`${tool} is not installed: apt-get install ${APT[tool] ?? tool}`);
    }
    if (tool === 'lua5.4') {
      const modules = spawnSync(
        'lua5.4',
        ['-e', 'require("openssl.hmac"); require("openssl.digest"); require("cjson"); require("socket.http")'],
        { encoding: 'utf8' },
      );
      if (modules.status !== 0) {
        throw new Error(`a Lua module is missing (${modules.stderr.trim()}): apt-get install ${APT[tool]}`);
      }
    }
  }
}

const quiet: Log = { info() {}, warn() {}, error() {} };

export interface ExamplesStack {
  url: string;
  sim: ApnsSimulator;
  stack: RunningStack;
  pbx: PbxClient;
  app: AppClient;
  /** A folder for this file's secrets and flags, removed by stop(). */
  dir: string;
  /** The environment a script gets: callwake's URL, tenant and secret, and no proxy. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** The real handlers on a random port, DynamoDB Local and the APNs simulator, as `npm start` runs them. */
export async function startExamplesStack(o: { events?: boolean } = {}): Promise<ExamplesStack> {
  const endpoint = process.env.DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('DYNAMODB_ENDPOINT is not set: run through jest (global setup starts DynamoDB Local)');
  const sim = await ApnsSimulator.start();
  const stack = await startStack({
    host: '127.0.0.1',
    port: 0,
    tenants: new Map([[TENANT, [SECRET]]]),
    dynamoEndpoint: endpoint,
    tableName: `examples-${randomUUID()}`,
    apns: { kind: 'simulator', simulator: sim },
    defaultEnvironment: 'sandbox',
    pushDeadlineMs: 3000,
    log: quiet,
    events: o.events ? { print: () => {} } : false,
  });
  const dir = mkdtempSync(join(tmpdir(), 'callwake-examples-'));
  writeFileSync(join(dir, 'secret'), `${SECRET}\n`, { mode: 0o600 });
  const base: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('CALLWAKE_') && !/_proxy$/i.test(k)),
  );
  return {
    url: stack.url,
    sim,
    stack,
    pbx: new PbxClient(stack.url, TENANT, SECRET),
    app: new AppClient(stack.url),
    dir,
    env: (extra = {}) => ({
      ...base,
      CALLWAKE_URL: stack.url,
      CALLWAKE_TENANT: TENANT,
      CALLWAKE_SECRET: SECRET,
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
      ...extra,
    }),
    async stop() {
      await stack.stop();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const newPushToken = (): string => randomBytes(32).toString('hex');

/** The call token from the push the simulator accepted for this device token. */
export async function callTokenFor(sim: ApnsSimulator, pushToken: string): Promise<string> {
  const push = await sim.waitForPush(pushToken, 8000);
  return (push.payload as { callwake: { token: string } }).callwake.token;
}

const running = new Set<Proc>();

/** A child process with a hard time limit, its output kept; killAll() ends any still running. */
export class Proc {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lineListeners: ((line: string) => void)[] = [];
  private partial = '';

  constructor(command: string, args: string[], o: { env: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string }) {
    this.child = spawn(command, args, { env: o.env, cwd: o.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(this);
    const timer = setTimeout(() => {
      this.stderr += `\n[killed after ${o.timeoutMs} ms]`;
      this.child.kill('SIGKILL');
    }, o.timeoutMs);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) for (const listen of this.lineListeners) listen(line);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.child.stdin!.on('error', () => {}); // the child may exit before reading everything
    this.done = new Promise((done) => {
      this.child.on('error', (e) => {
        this.stderr += `\n[${e.message}]`;
      });
      this.child.on('close', (code, signal) => {
        clearTimeout(timer);
        running.delete(this);
        done({ code, signal });
      });
    });
  }

  onLine(listen: (line: string) => void): void {
    this.lineListeners.push(listen);
  }

  write(text: string): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(text);
  }

  /** Resolves with the first stdout line matching `pattern`; rejects when the process ends first or after `timeoutMs`. */
  async line(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.done.then(() => (ended = true));
    for (;;) {
      const found = this.stdout.split('\n').find((l) => pattern.test(l));
      if (found !== undefined) return found;
      if (ended || Date.now() > deadline) {
        throw new Error(`no line matching ${pattern} (${ended ? 'the process ended' : 'timed out'})\n${this.output()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves with the exit code; fails with the whole output when it is not `expected`. */
  async exits(expected = 0): Promise<void> {
    const { code, signal } = await this.done;
    if (code !== expected) {
      throw new Error(`exited with ${code ?? signal}, not ${expected}\n${this.output()}`);
    }
  }

  output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`;
  }
}

export async function killAll(): Promise<void> {
  const left = [...running];
  for (const p of left) p.child.kill('SIGKILL');
  await Promise.all(left.map((p) => p.done));
}
