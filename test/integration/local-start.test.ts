import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApnsSimulator } from '../../local/apns-simulator/index.js';
import { PbxClient } from '../../local/clients.js';

/**
 * `npm start`'s own entry point, as a separate process, pointed with APNS_HOST at an
 * APNs-compatible server that is NOT its built-in simulator, trusted only through Node's
 * standard NODE_EXTRA_CA_CERTS, with an Apple-style .p8 key from APNS_KEY_FILE.
 */
let sim: ApnsSimulator;
let child: ChildProcess;
let url: string;
let output = '';
const secret = randomBytes(16).toString('hex');

beforeAll(async () => {
  sim = await ApnsSimulator.start();
  const dir = mkdtempSync(join(tmpdir(), 'callwake-start-'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'AuthKey_EXTKEY0001.p8'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'ca.pem'), sim.caPem);
  sim.trustKey('EXTTEAM001', 'EXTKEY0001', publicKey);
  const root = resolve('.');
  child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'local/start.ts')], {
    cwd: dir,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      PORT: '0',
      HOST: '127.0.0.1',
      CALLWAKE_TENANTS: JSON.stringify({ ext: [secret] }),
      APNS_TEAM_ID: 'EXTTEAM001',
      APNS_KEY_ID: 'EXTKEY0001',
      APNS_KEY_FILE: join(dir, 'AuthKey_EXTKEY0001.p8'),
      APNS_HOST: sim.address,
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
      TABLE_NAME: `start-${randomUUID()}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const started = Date.now();
  while (!/API:\s+(http:\/\/\S+)/.test(output)) {
    if (child.exitCode !== null || Date.now() - started > 30_000)
      throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  url = /API:\s+(http:\/\/\S+)/.exec(output)![1]!;
}, 40_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await sim?.stop();
});

describe('npm start against another APNs-compatible host', () => {
  it('prints the base URL and which APNs it uses, and never the tenant secret it was given', () => {
    expect(output).toContain(`APNs:       sandbox ${sim.address}, production ${sim.address}`);
    expect(output).toContain('ext (from CALLWAKE_TENANTS)');
    expect(output).not.toContain(secret);
  });

  it('rings an inline device through that host over TLS it trusts via NODE_EXTRA_CA_CERTS, with the .p8 key', async () => {
    const pbx = new PbxClient(url, 'ext', secret);
    const token = randomBytes(32).toString('hex');
    const callId = `${randomUUID()}@pbx`;
    const ring = await pbx.ring({
      callId,
      from: { number: '+15550000000' },
      devices: [{ pnProvider: 'apns', pnPrid: token, pnParam: 'EXTTEAM001.com.example.phone.voip' }],
    });
    expect(ring.status).toBe(201);
    expect(ring.body.deliveries).toEqual([expect.objectContaining({ result: 'sent' })]);
    const push = await sim.waitForPush(token);
    expect(push).toMatchObject({ teamId: 'EXTTEAM001', keyId: 'EXTKEY0001', status: 200 });
    expect(push.headers['apns-topic']).toBe('com.example.phone.voip');
  });
});
