import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { parseTenants, SecretFormatError } from '../../functions/adapters/secret-formats.js';
import { CachedSecret } from '../../functions/adapters/secrets-manager.js';
import { createPbxApi } from '../../functions/pbx-api/api.js';
import { ApnsSimulator } from '../../local/apns-simulator/index.js';
import { startStack } from '../../local/stack.js';
import { signature } from '../support/contract-helpers.js';
import { CapturedLog } from '../support/fakes/log.js';

/**
 * Finding 6 (low): the tenant id is not in the signed string, so two tenants with one secret could
 * act as each other, and one-character secrets were accepted. Finding 9: a 500's cause was lost
 * (the logger drops a field named `message`), and a function out of time answered API Gateway's
 * bare 503. And a removed secret stops working on warm containers within a known bound.
 */
const secret = () => randomBytes(32).toString('base64url');

describe('tenant secrets', () => {
  it('refuses a secret under 32 bytes, naming the tenant, never the secret', () => {
    const short = 'hunter2-hunter2-hunter2-hunter2'; // 31 bytes
    const attempt = () => parseTenants(JSON.stringify({ good: [secret()], bad: [short] }));
    expect(attempt).toThrow(SecretFormatError);
    expect(attempt).toThrow(/tenant bad/);
    expect(() => attempt()).not.toThrow(new RegExp(short));
  });

  it('refuses a secret two tenants share, naming both, never the secret', () => {
    const shared = secret();
    let message = '';
    try {
      parseTenants(JSON.stringify({ acme: [shared], globex: { secrets: [secret(), shared] } }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/acme/);
    expect(message).toMatch(/globex/);
    expect(message).not.toContain(shared);
  });

  it('the local stack refuses to start with such tenants (as a deployed function refuses to initialise)', async () => {
    const sim = await ApnsSimulator.start();
    try {
      await expect(
        startStack({
          host: '127.0.0.1',
          port: 0,
          tenants: new Map([['short', ['x']]]),
          dynamoEndpoint: process.env.DYNAMODB_ENDPOINT!,
          tableName: `t-secrets-${Date.now()}`,
          apns: { kind: 'simulator', simulator: sim },
          defaultEnvironment: 'sandbox',
          pushDeadlineMs: 1000,
          log: new CapturedLog(),
        }),
      ).rejects.toThrow(/tenant short has a secret shorter than 32 bytes/);
    } finally {
      await sim.stop();
    }
  });

  it('reads the object form: secrets, apps and limits; and the v1 forms', () => {
    const [a, b, c] = [secret(), secret(), secret()];
    const tenants = parseTenants(
      JSON.stringify({
        acme: { secrets: [a], apps: [{ teamId: 'T1', bundleId: 'com.acme' }], limits: { ringingCalls: 5 } },
        globex: [b],
        initech: c,
      }),
    );
    expect(tenants.get('acme')).toEqual({
      secrets: [a],
      apps: [{ teamId: 'T1', bundleId: 'com.acme' }],
      limits: { ringingCalls: 5 },
    });
    expect(tenants.get('globex')).toEqual({ secrets: [b] });
    expect(tenants.get('initech')).toEqual({ secrets: [c] });
  });

  it('a removed secret stops working within the cache’s bound (60 s by default)', async () => {
    // Secrets Manager has no local stand-in: its client is the SDK's, with a mocked transport.
    const sm = mockClient(SecretsManagerClient);
    const [old, fresh] = [secret(), secret()];
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ acme: [old, fresh] }) })
      .resolves({ SecretString: JSON.stringify({ acme: [fresh] }) });
    let now = 1_000_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const cached = new CachedSecret(
        new SecretsManagerClient({ region: 'us-east-1' }),
        'tenants',
        parseTenants,
        60_000,
      );
      expect((await cached.get()).get('acme')?.secrets).toEqual([old, fresh]);
      now += 59_000;
      expect((await cached.get()).get('acme')?.secrets).toEqual([old, fresh]);
      now += 2_000;
      expect((await cached.get()).get('acme')?.secrets).toEqual([fresh]);
    } finally {
      Date.now = realNow;
      sm.restore();
    }
  });
});

describe('errors are problems, and their cause is logged', () => {
  const event = (path: string, headers: Record<string, string> = {}) => ({
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: { http: { method: 'GET', path }, domainName: 'api.example.com' },
    isBase64Encoded: false,
  });
  const signedHeaders = (tenant: string, key: string, path: string) => {
    const ts = String(Math.floor(Date.now() / 1000));
    return {
      'x-callwake-tenant': tenant,
      'x-callwake-timestamp': ts,
      'x-callwake-signature': signature(key, ts, 'GET', path),
    };
  };
  const context = (remainingMs: number) => {
    const deadline = Date.now() + remainingMs;
    return { getRemainingTimeInMillis: () => deadline - Date.now() };
  };
  /** The PBX API's Lambda handler, called as API Gateway would, with this much time left. */
  const invoke = async (api: ReturnType<typeof createPbxApi>, path: string, key: string, remainingMs: number) => {
    const signal = new AbortController().signal;
    const r = await api(
      event(path, signedHeaders('acme', key, path)) as never,
      context(remainingMs) as never,
      {
        signal,
      } as never,
    );
    if (!r) throw new Error('no answer');
    return r;
  };

  it('a 500 is internal_error, and the log keeps the cause (numbers masked) under a name the logger keeps', async () => {
    const log = new CapturedLog();
    const key = secret();
    const api = createPbxApi(
      async () =>
        ({
          tenant: async () => ({ secrets: [key] }),
          defaultLimits: { requestsPerSecond: 100, ringingCalls: 100 },
          devices: { list: async () => Promise.reject(new Error('table user +15551234567 exploded')) },
          clock: { now: Date.now },
          log,
        }) as never,
    );
    const path = '/v1/pbx/users/u1/devices';
    const r = await invoke(api, path, key, 10_000);
    expect(r.statusCode).toBe(500);
    expect(JSON.parse(r.body!).code).toBe('internal_error');
    const line = log.lines.find((l) => l.includes('unhandled error'))!;
    expect(JSON.parse(line)).toMatchObject({ error: 'Error', cause: 'table user <number> exploded' });
    expect(line).not.toContain('5551234567');
  });

  it('a request that would outlive the function answers a 503 problem first', async () => {
    const key = secret();
    const api = createPbxApi(
      async () =>
        ({
          tenant: async () => ({ secrets: [key] }),
          defaultLimits: { requestsPerSecond: 100, ringingCalls: 100 },
          devices: { list: () => new Promise(() => undefined) },
          clock: { now: Date.now },
          log: new CapturedLog(),
        }) as never,
    );
    const path = '/v1/pbx/users/u1/devices';
    const started = Date.now();
    const r = await invoke(api, path, key, 1_500);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(r.statusCode).toBe(503);
    expect(r.headers?.['content-type']).toBe('application/problem+json');
    expect(r.headers?.['retry-after']).toBe('1');
    expect(JSON.parse(r.body!).code).toBe('timed_out');
  });
});
