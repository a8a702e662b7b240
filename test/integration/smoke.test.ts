import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../local/dynamo-local.js';
import { newToken } from '../support/contract-helpers.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * `npm run smoke` is the check an operator runs against a deployed stack; CI runs the same code
 * against the local stack (the APNs simulator answering as Apple would for a token no phone has).
 */
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ events: {} });
});
afterAll(async () => t.stop());

const BOGUS = '00'.repeat(32);

function smoke(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'local/smoke.ts', ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      // A run killed at the timeout says so in its output (its exit code alone would read as a failed step).
      (error, stdout, stderr) =>
        resolve({
          code: error ? Number(error.code ?? 1) : 0,
          out: `${stdout}${stderr}${error?.killed ? `\n[killed by ${error.signal} after the 60 s timeout]` : ''}`,
        }),
    );
  });
}

describe('npm run smoke', () => {
  it('passes against a working stack: a bogus token is unreachable with Apple’s reason; signed events arrive; all cleaned up', async () => {
    t.sim.injectFault({ token: BOGUS, status: 400, reason: 'BadDeviceToken', times: 2 });
    const port = await freePort();
    const before = await t.scanTable();
    const r = await smoke(
      [
        '--url',
        t.url,
        '--tenant',
        'acme',
        '--callback-url',
        `http://127.0.0.1:${port}/smoke`,
        '--listen-port',
        String(port),
      ],
      { CALLWAKE_SECRET: t.secrets.acme[0] },
    );
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: expect.stringContaining('smoke test passed') });
    expect(r.out).toContain('unreachable: BadDeviceToken');
    expect(r.out).toMatch(/signed events arrive .* ok: call\.unreachable#1/);
    expect(r.out).not.toContain(t.secrets.acme[0]);
    // Nothing of the run is left but the call (which TTL removes), the device's and webhook's
    // removal markers (ordering), and the team's shared provider token (minted by the first push).
    const after = (await t.scanTable()).filter((i) => !String(i.pk).startsWith('APNSJWT#'));
    const added = after.filter((i) => !before.some((b) => b.pk === i.pk && b.sk === i.sk));
    expect(added.map((i) => String(i.pk).split('#')[0]).sort()).toEqual(['CALL', 'TENANT', 'USER']);
    expect(added.find((i) => String(i.pk).startsWith('TENANT#'))?.deleted).toBe(true);
    expect(added.find((i) => String(i.pk).startsWith('USER#'))?.devices).toEqual([]);
  }, 90_000);

  it('a real token really rings (the simulator accepts it), and the call is cancelled; --secret works, with a warning', async () => {
    const token = newToken();
    const r = await smoke(['--url', t.url, '--tenant', 'acme', '--secret', t.secrets.acme[0]!, '--push-token', token], {
      CALLWAKE_SECRET: '',
    });
    // The output comes with a failure: it says which step failed and why.
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: expect.stringContaining('smoke test passed') });
    expect(r.out).toContain('warning: --secret is visible to other users of this machine');
    expect(r.out).toContain('ring it (a real phone: it rings)');
    expect(t.sim.pushesFor(token).map((p) => p.status)).toEqual([200]);
  }, 90_000);

  it('fails with exit code 1 on the first failing step (a wrong secret), 2 on bad arguments', async () => {
    const wrong = await smoke(['--url', t.url, '--tenant', 'acme'], { CALLWAKE_SECRET: 'w'.repeat(40) });
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain('FAILED: answered 401 bad_signature');
    // A secret may start with '-' (base64url): taken as the secret, not as an option.
    const dashed = await smoke(['--url', t.url, '--tenant', 'acme', '--secret', `-${'w'.repeat(40)}`], {
      CALLWAKE_SECRET: '',
    });
    expect({ code: dashed.code, out: dashed.out }).toEqual({
      code: 1,
      out: expect.stringContaining('FAILED: answered 401 bad_signature'),
    });
    const usage = await smoke(['--url', t.url], { CALLWAKE_SECRET: '' });
    expect(usage.code).toBe(2);
    const unknown = await smoke(['--url', t.url, '--nope'], { CALLWAKE_SECRET: '' });
    expect(unknown.code).toBe(2);
  }, 90_000);
});
