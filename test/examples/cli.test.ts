import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { signatureOf } from '../../functions/core/pbx-signature.js';
import {
  callTokenFor,
  type ExamplesStack,
  killAll,
  newPushToken,
  Proc,
  requireTools,
  SECRET,
  startExamplesStack,
  TENANT,
} from './support.js';

/**
 * The `callwake` command (package.json bin: local/cli/callwake.mjs), spawned as a user runs it,
 * against the real handlers (events path on) on a random port.
 */
let t: ExamplesStack;
const outputs: string[] = [];
beforeAll(async () => {
  t = await startExamplesStack({ events: true });
});
afterEach(killAll);
afterAll(async () => {
  await killAll();
  await t?.stop();
});

function cli(args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Proc {
  const p = new Proc(process.execPath, ['local/cli/callwake.mjs', ...args], {
    env: o.env ?? t.env(),
    timeoutMs: o.timeoutMs ?? 20_000,
  });
  void p.done.then(() => outputs.push(p.stdout + p.stderr));
  return p;
}

async function ran(args: string[], code: number, o: { env?: NodeJS.ProcessEnv } = {}) {
  const p = cli(args, o);
  await p.exits(code);
  return p;
}

const inlineDevice = (token: string) => `pn-provider=apns;pn-prid=${token};pn-param=LOCALTEAM1.com.example.phone.voip`;

describe('help and usage', () => {
  const COMMANDS = [
    [],
    ['ring'],
    ['cancel'],
    ['view'],
    ['watch'],
    ['devices'],
    ['devices', 'put'],
    ['devices', 'list'],
    ['devices', 'delete'],
    ['webhook'],
    ['webhook', 'get'],
    ['webhook', 'put'],
    ['webhook', 'delete'],
    ['events'],
    ['events', 'listen'],
    ['sign'],
  ];

  it('--help on every command: usage, the configuration and the exit codes, exit 0', async () => {
    const runs = await Promise.all(COMMANDS.map((c) => ran([...c, '--help'], 0)));
    runs.forEach((p, i) => {
      expect(p.stdout).toContain(`Usage: callwake ${COMMANDS[i]!.join(' ')}`.trimEnd());
      expect(p.stdout).toContain('CALLWAKE_SECRET');
      expect(p.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 .*\n\s+3 .*\n\s+4 /);
    });
  });

  it('exit 2 for an unknown command or option, a bad choice, a missing argument or missing configuration', async () => {
    expect((await ran(['frobnicate'], 2)).stderr).toContain("unknown command 'frobnicate'");
    expect((await ran(['view', 'x', '--nope'], 2)).stderr).toContain("unknown option '--nope'");
    expect((await ran(['cancel', 'x', '--reason', 'bored'], 2)).stderr).toContain('Allowed choices are caller_hangup');
    expect((await ran(['watch'], 2)).stderr).toContain("missing required argument 'callId'");
    expect((await ran(['watch', 'x', '--wait', '21'], 2)).stderr).toContain('an integer from 1 to 20');
    expect((await ran(['ring', '--from', '+1555'], 2)).stderr).toContain('ring needs --user or --device');
    const bare = { ...t.env(), CALLWAKE_URL: '', CALLWAKE_TENANT: '', CALLWAKE_SECRET: '' };
    const missing = await ran(['view', 'x'], 2, { env: { ...bare, CALLWAKE_URL: t.url } });
    expect(missing.stderr).toContain('missing the tenant (--tenant or CALLWAKE_TENANT)');
    expect(missing.stderr).toContain('the secret (--secret-file or CALLWAKE_SECRET)');
    expect((await ran([], 2)).stderr).toContain('Usage: callwake');
  });
});

describe('calls', () => {
  it('ring, watch (one line per change until the call ends), cancel and view; the secret is never printed', async () => {
    const token = newPushToken();
    const callId = `${randomUUID()}@pbx.example.com;tag=x%y`;
    const ring = await ran(['ring', '--call-id', callId, '--from', '+15551230000', '--device', inlineDevice(token)], 0);
    expect(ring.stdout).toMatch(
      new RegExp(
        `^status=ringing callId=${callId.replace(/[.+%;]/g, '\\$&')} callUuid=[0-9a-f-]{36} expiresAt=\\S+ created=true\\n`,
      ),
    );
    expect(ring.stdout).toMatch(/\ndelivery=inline-\S+ pushType=voip result=sent reason=-\n$/);

    const watch = cli(['watch', callId, '--timeout', '20']);
    const first = await watch.line(/^at=\S+ status=ringing /);
    expect(first).toMatch(/ endReason=- callId=\S+ answeredBy=- declinedBy=- etag="[^"]+"$/);
    await new Promise((r) => setTimeout(r, 300));
    const answered = await t.app.answer(callId, await callTokenFor(t.sim, token));
    expect(answered.status).toBe(200);
    await watch.line(/^at=\S+ status=answered endReason=- callId=\S+ answeredBy=inline-/);
    const cancel = await ran(['cancel', callId, '--reason', 'error'], 0);
    expect(cancel.stdout).toMatch(
      /^status=cancelled endReason=failed callId=\S+ answeredBy=inline-\S+ declinedBy=- etag="/,
    );
    await watch.exits(0); // the cancel ended the call: watch printed it and stopped
    const lines = watch.stdout.trim().split('\n');
    expect(lines.map((l) => l.match(/status=(\S+)/)?.[1])).toEqual(['ringing', 'answered', 'cancelled']);
    expect(new Set(lines.map((l) => l.match(/etag=(\S+)/)?.[1])).size).toBe(3);

    const view = await ran(['view', callId, '--json'], 0);
    expect(JSON.parse(view.stdout)).toMatchObject({ callId, status: 'cancelled', endReason: 'failed' });
  });

  it('watch --timeout: exit 4 when the call has not ended', async () => {
    const callId = `${randomUUID()}@pbx.example.com`;
    await ran(['ring', '--call-id', callId, '--from', '+15551230000', '--device', inlineDevice(newPushToken())], 0);
    const started = Date.now();
    const watch = await ran(['watch', callId, '--timeout', '2', '--wait', '1'], 4);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(watch.stdout.trim().split('\n')).toHaveLength(1);
    expect(watch.stderr).toContain('the call had not ended after 2 s');
  });

  it('exit 1 with the problem when the server refuses (unknown call, wrong secret); exit 3 when it cannot be reached', async () => {
    const unknown = await ran(['view', `${randomUUID()}@nowhere`], 1);
    expect(unknown.stderr).toMatch(/^error: 404 call_not_found: \S/);
    const wrongSecret = join(t.dir, 'wrong-secret');
    writeFileSync(wrongSecret, 'not-the-secret-of-this-tenant-at-all\n', { mode: 0o600 });
    const forged = await ran(['--secret-file', wrongSecret, 'view', 'x'], 1, { env: t.env({ CALLWAKE_SECRET: '' }) });
    expect(forged.stderr).toMatch(/^error: 401 bad_signature/);
    expect(forged.stderr).not.toContain('not-the-secret');
    const invalid = await ran(['ring', '--call-id', 'a/b', '--from', '+1', '--user', 'alice'], 1);
    expect(invalid.stderr).toContain('400 validation_failed');
    expect(invalid.stderr).toMatch(/\n {2}callId: /);

    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const refused = await ran(['--url', `http://127.0.0.1:${closed}`, 'view', 'x'], 3);
    expect(refused.stderr).toContain(`error: cannot reach http://127.0.0.1:${closed}: ECONNREFUSED`);
  });
});

describe('devices and the webhook', () => {
  it('devices put (created, then replaced), list, delete', async () => {
    const user = `cli-${randomUUID().slice(0, 8)}`;
    const token = newPushToken();
    const args = ['devices', 'put', user, 'iphone', '--token', token, '--bundle-id', 'com.example.phone'];
    expect((await ran([...args, '--environment', 'sandbox'], 0)).stdout).toMatch(
      new RegExp(
        `^created deviceId=iphone platform=ios bundleId=com.example.phone environment=sandbox pushType=voip tokenSuffix=${token.slice(-8)} updatedAt=\\S+\\n$`,
      ),
    );
    expect((await ran([...args, '--environment', 'production'], 0)).stdout).toMatch(
      /^replaced deviceId=iphone .*environment=production/,
    );
    expect((await ran([...args], 2)).stderr).toContain("required option '--environment <env>' not specified");
    expect((await ran(['devices', 'list', user], 0)).stdout).toMatch(/^deviceId=iphone platform=ios .*\n$/);
    expect((await ran(['devices', 'delete', user, 'iphone'], 0)).stdout).toBe(`deleted=iphone userId=${user}\n`);
    expect((await ran(['devices', 'list', user], 0)).stdout).toBe('');
  });

  it('events listen prints each verified event and answers 401 to a bad signature; webhook put/get/delete', async () => {
    // Generous: under the whole suite's load, each of the runs below may take seconds to start.
    const listen = cli(['events', 'listen', '--port', '0', '--count', '2', '--timeout', '90'], {
      env: t.env({ CALLWAKE_URL: '' }), // listening needs the tenant and its secret, not the URL
      timeoutMs: 100_000,
    });
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const check = () =>
        /listening url=/.test(listen.stderr)
          ? resolve()
          : Date.now() > deadline
            ? reject(new Error(listen.output()))
            : setTimeout(check, 20);
      check();
    });
    const url = listen.stderr.match(/listening url=(\S+)/)![1]!;

    const forged = await fetch(`${url}/callwake`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-callwake-tenant': TENANT,
        'x-callwake-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-callwake-signature': `v1=${'0'.repeat(64)}`,
      },
      body: JSON.stringify({ id: 'evt_forged', type: 'call.ringing', callId: 'forged' }),
    });
    expect(forged.status).toBe(401);

    expect(
      (await ran(['webhook', 'put', `${url}/callwake?x=1`, '--event', 'call.ringing', '--event', 'call.cancelled'], 0))
        .stdout,
    ).toMatch(
      new RegExp(
        `^url=${url.replace(/[.]/g, '\\.')}/callwake\\?x=1 events=call.ringing,call.cancelled updatedAt=\\S+\\n$`,
      ),
    );
    expect((await ran(['webhook', 'put', url, '--event', 'call.nope'], 2)).stderr).toContain('one of call.ringing');
    expect((await ran(['webhook', 'get', '--json'], 0)).stdout).toContain('"events":["call.ringing","call.cancelled"]');

    const callId = `${randomUUID()}@pbx.example.com`;
    await ran(['ring', '--call-id', callId, '--from', '+15551230000', '--device', inlineDevice(newPushToken())], 0);
    await ran(['cancel', callId], 0);
    await listen.exits(0);
    const events = listen.stdout.trim().split('\n');
    expect(events).toEqual([
      expect.stringMatching(new RegExp(`^type=call.ringing sequence=1 callId=${callId} status=ringing id=evt_\\S+$`)),
      expect.stringMatching(
        new RegExp(`^type=call.cancelled sequence=2 callId=${callId} status=cancelled reason=remoteEnded id=evt_\\S+$`),
      ),
    ]);
    expect(listen.stderr).toContain(`rejected=bad_signature tenant=${TENANT}`);

    expect((await ran(['webhook', 'delete'], 0)).stdout).toBe('deleted=webhook\n');
    expect((await ran(['webhook', 'get'], 1)).stderr).toContain('404 webhook_not_found');
  }, 120_000);
});

describe('sign', () => {
  it('prints the signed headers in curl -H form for a fixed timestamp (the signature the server computes)', async () => {
    const p = await ran(['sign', 'GET', '/v1/pbx/calls/a%40b?x=1', '--timestamp', '1700000000'], 0);
    const mac = signatureOf(SECRET, '1700000000', 'GET', '/v1/pbx/calls/a%40b?x=1', '');
    expect(p.stdout).toBe(
      [
        `-H 'X-Callwake-Tenant: ${TENANT}'`,
        `-H 'X-Callwake-Timestamp: 1700000000'`,
        `-H 'X-Callwake-Signature: ${mac}'`,
        '',
      ].join('\n'),
    );
    expect((await ran(['sign', 'GET', '/pbx/calls'], 2)).stderr).toContain('the path must start with /v1/');
  });

  it('its --plain headers let curl create a call (-H @-, --data-binary), and its -H form works through eval', async () => {
    requireTools('bash', 'curl');
    const callId = `${randomUUID()}@pbx.example.com`;
    const body = join(t.dir, `${randomUUID()}.json`);
    writeFileSync(
      body,
      JSON.stringify({
        callId,
        from: { number: '+15551230000' },
        devices: [{ pnProvider: 'apns', pnPrid: newPushToken(), pnParam: 'LOCALTEAM1.com.example.phone.voip' }],
      }),
    );
    const cw = `"${process.execPath}" local/cli/callwake.mjs`;
    const script = [
      'set -euo pipefail',
      `${cw} sign POST /v1/pbx/calls --body-file "$BODY" --plain |`,
      '  curl -sS --max-time 10 -o /dev/null -w "create %{http_code}\\n" -H @- --data-binary @"$BODY" "$CALLWAKE_URL/v1/pbx/calls"',
      `eval "curl -sS --max-time 10 -o /dev/null -w 'webhook %{http_code}\\n' $(${cw} sign GET /v1/pbx/webhook | tr '\\n' ' ') \\"\\$CALLWAKE_URL/v1/pbx/webhook\\""`,
    ].join('\n');
    await t.pbx.deleteWebhook(); // whatever a test before left
    const p = new Proc('bash', ['-c', script], { env: t.env({ BODY: body }), timeoutMs: 20_000 });
    await p.exits(0);
    expect(p.stdout).toBe('create 201\nwebhook 404\n'); // signed and accepted; no webhook is set
    expect((await t.pbx.view(callId)).body).toMatchObject({ callId, status: 'ringing' });
  });
});

it('never prints the secret: not in any output of any run above', () => {
  expect(outputs.length).toBeGreaterThan(40);
  for (const o of outputs) expect(o).not.toContain(SECRET);
});
