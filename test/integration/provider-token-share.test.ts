import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ApnsTeamKey, ProviderTokens, REPLACE_AFTER_MS, teamKeyOf } from '../../functions/adapters/apns-jwt.js';
import { ApnsPusher } from '../../functions/adapters/apns-pusher.js';
import { documentClient, ensureTable } from '../../functions/adapters/dynamo-table.js';
import { DynamoTokenShare } from '../../functions/adapters/dynamo-token-share.js';
import { silentLog } from '../../functions/core/ports.js';
import { ApnsSimulator } from '../../local/apns-simulator/index.js';
import { ShiftableClock } from '../support/stack.js';

/**
 * One APNs provider token per team, shared through DynamoDB Local by independent ProviderTokens
 * instances standing in for warm Lambda containers.
 */
const doc = documentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! });
const table = `tokens-${randomUUID()}`;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key: ApnsTeamKey = teamKeyOf(
  'SHARETEAM1',
  'SHAREKEY01',
  privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
);
const keys = new Map([[key.teamId, key]]);
let sim: ApnsSimulator;

beforeAll(async () => {
  await ensureTable(doc, table);
  sim = await ApnsSimulator.start({ enforceTokenUpdateRate: true });
  sim.trustKey(key.teamId, key.keyId, publicKey);
});
afterAll(async () => {
  await sim?.stop();
  doc.destroy();
});

const containers = (n: number, clock = { now: Date.now }, keyId = key.keyId) => {
  const share = new DynamoTokenShare(doc, table);
  const k = keyId === key.keyId ? keys : new Map([[key.teamId, { ...key, keyId }]]);
  return Array.from({ length: n }, () => new ProviderTokens(k, clock, share));
};
const mintedBy = (cs: ProviderTokens[]) => cs.reduce((n, c) => n + c.minted, 0);

describe('one provider token per team, shared by every container', () => {
  it('eight containers asking at once get one token, minted once', async () => {
    const cs = containers(8, { now: Date.now }, 'KEYSHARE01');
    const tokens = await Promise.all(cs.flatMap((c) => Array.from({ length: 5 }, () => c.tokenFor(key.teamId))));
    expect(new Set(tokens).size).toBe(1);
    expect(mintedBy(cs)).toBe(1);
  });

  it('is replaced once, between 20 and 55 minutes after it was minted, by one container', async () => {
    const clock = new ShiftableClock();
    const cs = containers(4, clock, 'KEYSHARE02');
    const first = await cs[0]!.tokenFor(key.teamId);
    expect(await Promise.all(cs.map((c) => c.tokenFor(key.teamId)))).toEqual(Array(4).fill(first));

    clock.advance(20 * 60 * 1000);
    expect(await Promise.all(cs.map((c) => c.tokenFor(key.teamId)))).toEqual(Array(4).fill(first));
    clock.advance(REPLACE_AFTER_MS - 20 * 60 * 1000 - 1000);
    expect(await Promise.all(cs.map((c) => c.tokenFor(key.teamId)))).toEqual(Array(4).fill(first));
    expect(mintedBy(cs)).toBe(1);

    clock.advance(2000); // now just past REPLACE_AFTER_MS (40 min): inside Apple's 20-55 minute window
    const second = await Promise.all(cs.map((c) => c.tokenFor(key.teamId)));
    expect(new Set(second).size).toBe(1);
    expect(second[0]).not.toBe(first);
    expect(mintedBy(cs)).toBe(2);
    expect(REPLACE_AFTER_MS).toBeGreaterThanOrEqual(20 * 60 * 1000);
    expect(REPLACE_AFTER_MS).toBeLessThanOrEqual(55 * 60 * 1000);
  });

  it('a token Apple rejected is replaced once; a container that learns of it later adopts the new one', async () => {
    const cs = containers(2, { now: Date.now }, 'KEYSHARE03');
    const [a, b] = cs as [ProviderTokens, ProviderTokens];
    const old = await a.tokenFor(key.teamId);
    expect(await b.tokenFor(key.teamId)).toBe(old);
    await a.invalidate(key.teamId, old!);
    const fresh = await a.tokenFor(key.teamId);
    expect(fresh).not.toBe(old);
    await b.invalidate(key.teamId, old!);
    expect(await b.tokenFor(key.teamId)).toBe(fresh);
    expect(mintedBy(cs)).toBe(2);
  });

  it('still gives a token when the share cannot be reached (the call must ring)', async () => {
    const dead = documentClient({ endpoint: 'http://127.0.0.1:9' });
    const tokens = new ProviderTokens(keys, { now: Date.now }, new DynamoTokenShare(dead, table));
    expect(await tokens.tokenFor(key.teamId)).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    dead.destroy();
  });

  it('six containers pushing at once present one token to an APNs that enforces the 20-minute rule', async () => {
    const cs = containers(6);
    const pushers = cs.map(
      (tokens) => new ApnsPusher({ tokens, hostOverride: sim.address, ca: sim.caPem, log: silentLog }),
    );
    const devices = pushers.map(() => randomBytes(32).toString('hex'));
    const results = await Promise.all(
      pushers.map((p, i) =>
        p.send(
          {
            pushToken: devices[i]!,
            teamId: key.teamId,
            environment: 'sandbox',
            pushType: 'voip',
            topic: 'com.example.phone.voip',
            expiration: 0,
            payload: '{"aps":{}}',
          },
          Date.now() + 3000,
        ),
      ),
    );
    expect(results.map((r) => r.result)).toEqual(Array(6).fill('sent'));
    const jwts = new Set(devices.flatMap((d) => sim.pushesFor(d).map((p) => p.headers.authorization)));
    expect(jwts.size).toBe(1);
    expect(mintedBy(cs)).toBe(1);
    for (const p of pushers) p.close();
  });
});
