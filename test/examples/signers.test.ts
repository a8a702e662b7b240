import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  callTokenFor,
  type ExamplesStack,
  killAll,
  newPushToken,
  Proc,
  requireTools,
  startExamplesStack,
} from './support.js';

/**
 * The signers outside TypeScript (examples/signers/) and the callwake part of the Asterisk and
 * FreeSWITCH recipes, each run as a child process against the real handlers on a random port (as
 * `npm start` runs them), with a tenant whose secret is fixed. Then the two recipes' call handling
 * on stand-ins for the PBX (an AGI peer, mod_lua's session), since neither PBX installs here.
 */
let t: ExamplesStack;
beforeAll(async () => {
  t = await startExamplesStack();
});
afterEach(killAll);
afterAll(async () => {
  await killAll();
  await t?.stop();
});

interface Script {
  name: string;
  tools: string[];
  command: string;
  args: string[];
}

const SCRIPTS: Script[] = [
  {
    name: 'shell signer (bash, openssl, curl, jq)',
    tools: ['bash', 'openssl', 'curl', 'jq'],
    command: 'bash',
    args: ['examples/signers/shell/callwake.sh'],
  },
  {
    name: 'Python signer (standard library)',
    tools: ['python3'],
    command: 'python3',
    args: ['examples/signers/python/callwake_signer.py'],
  },
  {
    name: 'Lua signer (luaossl, lua-cjson, luasocket)',
    tools: ['lua5.4'],
    command: 'lua5.4',
    args: ['examples/signers/lua/callwake_signer.lua'],
  },
  {
    name: "Asterisk recipe's callwake part (callwake_client.py)",
    tools: ['python3'],
    command: 'python3',
    args: ['examples/asterisk/callwake_client.py'],
  },
  {
    name: "FreeSWITCH recipe's callwake part (callwake.lua via check.lua)",
    tools: ['lua5.4'],
    command: 'lua5.4',
    args: ['examples/freeswitch/check.lua'],
  },
];

/** A SIP-like Call-ID with characters that must be percent-encoded in the path (and signed so). */
const sipCallId = () => `${randomUUID()}@pbx.example.com;tag=a%b+c[d]:e&f=g'h`;

const ETAG = /^"[^"\s]+"$/;

function linesOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], l]),
  );
}

describe.each(SCRIPTS)('$name', (s) => {
  it('signs and creates a call (inline device), reads its ETag, waits (304: unchanged), cancels, reads the final view', async () => {
    requireTools(...s.tools);
    const callId = sipCallId();
    const token = newPushToken();
    const p = new Proc(s.command, [...s.args, callId, token, '1'], { env: t.env(), timeoutMs: 20_000 });
    await p.exits(0);

    const out = linesOf(p.stdout);
    expect(out.create).toMatch(/^create 201 status=ringing callUuid=[0-9a-f-]{36}$/);
    const etag = out.view?.match(/^view 200 status=ringing etag=(\S+)$/)?.[1];
    expect(etag).toMatch(ETAG);
    expect(out.waiting).toBe('waiting wait=1');
    expect(out.wait).toBe('wait 304 unchanged preference-applied=wait=1');
    expect(out.cancel).toBe('cancel 200 status=cancelled endReason=remoteEnded');
    const finalEtag = out.final?.match(/^final 200 status=cancelled endReason=remoteEnded etag=(\S+)$/)?.[1];
    expect(finalEtag).toMatch(ETAG);
    expect(finalEtag).not.toBe(etag);

    // What callwake holds: the call under the exact callId, cancelled by the caller, and its push sent.
    const view = await t.pbx.view(callId);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ callId, status: 'cancelled', endReason: 'remoteEnded' });
    expect(view.headers.get('etag')).toBe(finalEtag);
    const push = await t.sim.waitForPush(token, 5000);
    expect((push.payload as { callwake: { callId: string } }).callwake.callId).toBe(callId);
    expect(p.stdout + p.stderr).not.toContain(t.env().CALLWAKE_SECRET);
  });

  it('while it waits, the phone declines: the held request answers 200 with the change at once; the cancel leaves it declined', async () => {
    requireTools(...s.tools);
    const callId = sipCallId();
    const token = newPushToken();
    const p = new Proc(s.command, [...s.args, callId, token, '15'], { env: t.env(), timeoutMs: 30_000 });
    await p.line(/^waiting wait=15$/);
    const callToken = await callTokenFor(t.sim, token);
    await new Promise((r) => setTimeout(r, 300)); // let the wait reach the server
    const declined = await t.app.decline(callId, callToken);
    expect(declined.status).toBe(200);
    const at = Date.now();
    await p.exits(0);
    expect(Date.now() - at).toBeLessThan(5000); // told of the change, not after the 15 s wait

    const out = linesOf(p.stdout);
    expect(out.wait).toMatch(/^wait 200 changed status=declined endReason=- etag="[^"\s]+"$/);
    expect(out.cancel).toBe('cancel 200 status=declined endReason=-');
    expect(out.final).toMatch(/^final 200 status=declined endReason=- etag=/);
    expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'declined', endReason: null });
  });
});

describe.each([
  { name: 'Asterisk', tools: ['python3'], command: 'python3', script: 'examples/asterisk/callwake_client.py' },
  { name: 'FreeSWITCH', tools: ['lua5.4'], command: 'lua5.4', script: 'examples/freeswitch/check.lua' },
])("$name recipe's callwake part", (r) => {
  it('maps a SIP Call-ID that is no callId (space, slash) to its SHA-256 hex, as the contract suggests', async () => {
    requireTools(...r.tools);
    const sip = `${randomUUID()} with space/and slash@pbx.example.com`;
    const p = new Proc(r.command, [r.script, sip, newPushToken(), '1'], { env: t.env(), timeoutMs: 20_000 });
    await p.exits(0);
    const callId = createHash('sha256').update(sip).digest('hex');
    expect((await t.pbx.view(callId)).body).toMatchObject({ callId, status: 'cancelled', endReason: 'remoteEnded' });
  });
});

/** Registers one device for a fresh user; returns the user and the device's push token. */
async function userWithDevice(prefix: string) {
  const userId = `${prefix}-${randomUUID().slice(0, 8)}`;
  const token = newPushToken();
  const put = await t.pbx.putDevice(userId, 'iphone', {
    platform: 'ios',
    pushToken: token,
    bundleId: 'com.example.phone',
    environment: 'sandbox',
  });
  expect(put.status).toBe(201);
  return { userId, token };
}

describe('FreeSWITCH recipe (ring_push_user.lua on stand-ins for mod_lua: session, sofia_contact)', () => {
  function harness(userId: string, sipCallId: string, flags: string) {
    requireTools('lua5.4');
    return new Proc('lua5.4', ['test/examples/freeswitch-harness.lua'], {
      env: t.env({
        HARNESS_DIR: flags,
        RECIPE_DIR: 'examples/freeswitch',
        SIP_CALL_ID: sipCallId,
        PUSH_USER: userId,
        CALLWAKE_SECRET: '',
        CALLWAKE_SECRET_FILE: join(t.dir, 'secret'),
      }),
      timeoutMs: 30_000,
    });
  }
  const flagsDir = (name: string) => {
    const dir = join(t.dir, `fs-${randomUUID()}`);
    mkdirSync(dir);
    return { dir, raise: () => writeFileSync(join(dir, name), '') };
  };

  it('rings (180), pushes the user, and ends the held call with 603 (CALL_REJECTED) when the phone declines', async () => {
    const { userId, token } = await userWithDevice('fs-decline');
    const callId = `${randomUUID()}@freeswitch.example.com`;
    const p = harness(userId, callId, flagsDir('registered').dir);
    const callToken = await callTokenFor(t.sim, token);
    await p.line(/^execute ring_ready/);
    expect((await t.app.decline(callId, callToken)).status).toBe(200);
    await p.exits(0);
    expect(p.stdout).toContain('hangup CALL_REJECTED');
    expect(p.stdout).not.toContain('execute bridge');
    expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'declined' });
  });

  it('holds the call until the phone registers, then bridges to it; the answered call is left answered', async () => {
    const { userId, token } = await userWithDevice('fs-answer');
    const callId = `${randomUUID()}@freeswitch.example.com`;
    const flags = flagsDir('registered');
    const p = harness(userId, callId, flags.dir);
    const callToken = await callTokenFor(t.sim, token);
    expect((await t.app.answer(callId, callToken)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500)); // still held: not registered yet
    expect(p.stdout).not.toContain('execute bridge');
    flags.raise();
    await p.exits(0);
    expect(p.stdout).toContain('execute bridge sofia/internal/sip:alice@127.0.0.1:5062;transport=tcp');
    expect(p.stdout).not.toContain('hangup');
    expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'answered', answeredBy: 'iphone' });
  });

  it('cancels the call (remoteEnded) when the caller hangs up while it is held, so the phone stops ringing', async () => {
    const { userId, token } = await userWithDevice('fs-hangup');
    const callId = `${randomUUID()}@freeswitch.example.com`;
    const flags = flagsDir('hangup');
    const p = harness(userId, callId, flags.dir);
    const callToken = await callTokenFor(t.sim, token);
    flags.raise();
    await p.exits(0);
    expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
    expect((await t.app.view(callId, callToken)).body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
  });
});

/**
 * An AGI peer: sends the AGI environment, then answers each command the script writes the way
 * Asterisk does (200 result=…; after a hangup, a HANGUP line, then 511 to every command).
 */
class AgiPeer {
  readonly commands: string[] = [];
  readonly variables = new Map<string, string>();
  registered = false;
  private dead = false;

  constructor(
    readonly p: Proc,
    readonly o: { sipCallId: string; contacts: string; env: Record<string, string> },
  ) {
    p.onLine((line) => this.answer(line));
    const env = Object.entries({ agi_request: 'callwake_agi.py', agi_channel: 'PJSIP/trunk-00000001', ...o.env });
    p.write(`${env.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n`);
  }

  hangup() {
    this.dead = true;
    this.p.write('HANGUP\n');
  }

  private answer(line: string) {
    this.commands.push(line);
    if (this.dead) return this.p.write('511 Command Not Permitted on a dead channel or intercept routine\n');
    const get = line.match(/^GET FULL VARIABLE "\$\{(.*)\}"$/);
    if (get) {
      const name = get[1]!;
      const value = name.startsWith('CHANNEL(pjsip,call-id)')
        ? this.o.sipCallId
        : name.startsWith('PJSIP_DIAL_CONTACTS(')
          ? this.registered
            ? this.o.contacts
            : ''
          : this.variables.get(name);
      return this.p.write(value === undefined ? '200 result=0\n' : `200 result=1 (${value})\n`);
    }
    const set = line.match(/^SET VARIABLE (\S+) "(.*)"$/);
    if (set) this.variables.set(set[1]!, set[2]!);
    else if (!line.startsWith('VERBOSE ')) return this.p.write('510 Invalid or unknown command\n');
    this.p.write('200 result=1\n');
  }
}

describe('Asterisk recipe (callwake_agi.py on an AGI peer that answers as Asterisk does)', () => {
  function agi(args: string[], sipCallId: string, variables: Record<string, string> = {}) {
    requireTools('python3');
    const p = new Proc('python3', ['examples/asterisk/callwake_agi.py', ...args], {
      env: t.env({ CALLWAKE_SECRET: '', CALLWAKE_SECRET_FILE: join(t.dir, 'secret') }),
      timeoutMs: 30_000,
    });
    const peer = new AgiPeer(p, {
      sipCallId,
      contacts: 'PJSIP/alice/sip:alice@127.0.0.1:5062;transport=tcp',
      env: { agi_callerid: '+15551230000', agi_calleridname: 'Bob Smith', agi_uniqueid: '1733480000.1' },
    });
    for (const [k, v] of Object.entries(variables)) peer.variables.set(k, v);
    return { p, peer };
  }

  it('ring: pushes the user and, when the phone declines, sets CALLWAKE_RESULT=declined (the dialplan then rejects)', async () => {
    const { userId, token } = await userWithDevice('ast-decline');
    const sipCallId = `${randomUUID()}@asterisk.example.com`;
    const { p, peer } = agi(['ring', userId], sipCallId);
    const callToken = await callTokenFor(t.sim, token);
    expect((await t.app.decline(sipCallId, callToken)).status).toBe(200);
    await p.exits(0);
    expect(peer.variables.get('CALLWAKE_CALL_ID')).toBe(sipCallId);
    expect(peer.variables.get('CALLWAKE_RESULT')).toBe('declined');
    expect(peer.variables.has('CALLWAKE_DIAL')).toBe(false);
    expect((await t.pbx.view(sipCallId)).body).toMatchObject({ status: 'declined' });
  });

  it('ring holds the call until the phone registers (CALLWAKE_DIAL); end after Dial was cancelled by the caller cancels it', async () => {
    const { userId, token } = await userWithDevice('ast-register');
    const sipCallId = `${randomUUID()}@asterisk.example.com`;
    const ring = agi(['ring', userId], sipCallId);
    await callTokenFor(t.sim, token);
    await new Promise((r) => setTimeout(r, 1500));
    expect(ring.peer.variables.has('CALLWAKE_RESULT')).toBe(false); // still held
    ring.peer.registered = true;
    await ring.p.exits(0);
    expect(ring.peer.variables.get('CALLWAKE_RESULT')).toBe('registered');
    expect(ring.peer.variables.get('CALLWAKE_DIAL')).toBe('PJSIP/alice/sip:alice@127.0.0.1:5062;transport=tcp');
    expect((await t.pbx.view(sipCallId)).body).toMatchObject({ status: 'ringing' });

    // The caller hangs up while Dial rings the phone: the h extension runs `end` with DIALSTATUS=CANCEL.
    const end = agi(['end'], sipCallId, {
      CALLWAKE_CALL_ID: sipCallId,
      CALLWAKE_RESULT: 'registered',
      DIALSTATUS: 'CANCEL',
    });
    await end.p.exits(0);
    expect((await t.pbx.view(sipCallId)).body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
  });

  it('cancels the call (remoteEnded) when the caller hangs up while it is held (HANGUP, then 511)', async () => {
    const { userId, token } = await userWithDevice('ast-hangup');
    const sipCallId = `${randomUUID()}@asterisk.example.com`;
    const { p, peer } = agi(['ring', userId], sipCallId);
    const callToken = await callTokenFor(t.sim, token);
    peer.hangup();
    await p.exits(0);
    expect((await t.pbx.view(sipCallId)).body).toMatchObject({ status: 'cancelled', endReason: 'remoteEnded' });
    expect((await t.app.view(sipCallId, callToken)).body).toMatchObject({ status: 'ended', endReason: 'remoteEnded' });
  });

  it('end leaves a call answered over SIP alone (DIALSTATUS=ANSWER)', async () => {
    const { userId, token } = await userWithDevice('ast-answered');
    const callId = `${randomUUID()}@asterisk.example.com`;
    const ring = await t.pbx.ring({ callId, from: { number: '+15551230000' }, to: { userId } });
    expect(ring.status).toBe(201);
    expect((await t.app.answer(callId, await callTokenFor(t.sim, token))).status).toBe(200);
    const end = agi(['end'], callId, { CALLWAKE_CALL_ID: callId, CALLWAKE_RESULT: 'registered', DIALSTATUS: 'ANSWER' });
    await end.p.exits(0);
    expect((await t.pbx.view(callId)).body).toMatchObject({ status: 'answered', endReason: null });
  });
});
