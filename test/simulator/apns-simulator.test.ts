/**
 * The APNs simulator over real sockets: an HTTP/2 client written here (node:http2, the CA the
 * simulator hands out) and provider tokens signed here with node:crypto, so the simulator's
 * checks are exercised by code that shares nothing with them.
 */
import { createPrivateKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { ApnsSimulator, createSimulatorKey, type SimulatorKey } from '../../local/apns-simulator/index.js';

const TEAM = 'ABCDE12345';
const KEY_ID = 'KEY0000001';
const TOKEN = 'ab'.repeat(32);
const OTHER_TOKEN = 'cd'.repeat(32);
const VOIP_TOPIC = 'com.example.phone.voip';
const ALERT_TOPIC = 'com.example.phone';
const UUID_UPPER = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR } = http2.constants;

// ---------------------------------------------------------------- provider tokens (JWT, ES256)

interface TokenOptions {
  teamId?: string;
  keyId?: string | undefined;
  iat?: number;
  alg?: string;
  privateKeyPem?: string;
  /** 'der' signs in ASN.1 form, which JOSE (and APNs) do not accept. */
  dsaEncoding?: 'ieee-p1363' | 'der';
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function providerToken(key: SimulatorKey, options: TokenOptions = {}): string {
  const header: Record<string, unknown> = { alg: options.alg ?? 'ES256' };
  const keyId = 'keyId' in options ? options.keyId : key.keyId;
  if (keyId !== undefined) header['kid'] = keyId;
  const claims = { iss: options.teamId ?? key.teamId, iat: options.iat ?? nowSeconds() };
  const input = `${b64url(header)}.${b64url(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: options.privateKeyPem ?? key.privateKeyPem,
    dsaEncoding: options.dsaEncoding ?? 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

// ---------------------------------------------------------------- a tiny APNs client

type Outcome =
  | {
      kind: 'response';
      status: number;
      headers: IncomingHttpHeaders;
      body: string;
      json: Record<string, unknown> | undefined;
    }
  | { kind: 'error'; error: Error & { code?: string }; rstCode: number | undefined };

interface SendOptions {
  token?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: string | Buffer;
  /** Leave out the authorization header. */
  noAuth?: boolean;
  jwt?: string;
}

const clients: ClientHttp2Session[] = [];

function connect(
  sim: ApnsSimulator,
  options: http2.SecureClientSessionOptions = { ca: sim.caPem },
): ClientHttp2Session {
  const client = http2.connect(`https://127.0.0.1:${sim.port}`, options);
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

function voipHeaders(): Record<string, string> {
  return { 'apns-topic': VOIP_TOPIC, 'apns-push-type': 'voip', 'apns-priority': '10', 'apns-expiration': '0' };
}

const VOIP_BODY = JSON.stringify({ aps: {}, callwake: { v: 1, type: 'call', callId: 'c1' } });

function send(client: ClientHttp2Session, key: SimulatorKey, options: SendOptions = {}): Promise<Outcome> {
  const headers: Record<string, string | string[]> = {
    ':method': options.method ?? 'POST',
    ':path': options.path ?? `/3/device/${options.token ?? TOKEN}`,
  };
  if (!options.noAuth) headers['authorization'] = `bearer ${options.jwt ?? providerToken(key)}`;
  for (const [name, value] of Object.entries(options.headers ?? voipHeaders())) {
    if (value !== undefined) headers[name] = value;
  }
  return new Promise((resolve) => {
    const stream = client.request(headers);
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let settled = false;
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      resolve({ kind: 'error', error, rstCode: stream.rstCode });
    });
    stream.on('close', () => {
      if (settled) return;
      settled = true;
      if (status === 0) {
        resolve({ kind: 'error', error: new Error('closed without a response'), rstCode: stream.rstCode });
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = body === '' ? undefined : (JSON.parse(body) as Record<string, unknown>);
      } catch {
        json = undefined;
      }
      resolve({ kind: 'response', status, headers: responseHeaders, body, json });
    });
    // node ends a GET stream with its headers: there is no body to write then
    if (stream.writable) stream.end(options.body ?? VOIP_BODY);
  });
}

function expectResponse(outcome: Outcome): Extract<Outcome, { kind: 'response' }> {
  if (outcome.kind !== 'response') throw new Error(`expected a response, got ${outcome.error.message}`);
  return outcome;
}

function expectStreamError(outcome: Outcome): Extract<Outcome, { kind: 'error' }> {
  if (outcome.kind !== 'error') throw new Error(`expected no response, got ${outcome.status} ${outcome.body}`);
  return outcome;
}

function waitForClose(client: ClientHttp2Session, timeoutMs = 5000): Promise<void> {
  if (client.closed || client.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('client session did not close')), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

// ---------------------------------------------------------------- shared simulator

describe('ApnsSimulator', () => {
  let sim: ApnsSimulator;
  let key: SimulatorKey;
  let client: ClientHttp2Session;

  beforeAll(async () => {
    sim = await ApnsSimulator.start();
    key = createSimulatorKey(TEAM, KEY_ID);
    sim.trustKey(TEAM, KEY_ID, key.publicKey);
  });

  afterAll(async () => {
    await sim.stop();
  });

  beforeEach(() => {
    sim.reset();
    client = connect(sim);
  });

  describe('a valid VoIP push', () => {
    it('is answered 200 with a fresh upper-case apns-id and recorded with headers, payload and the JWT identity', async () => {
      const outcome = expectResponse(await send(client, key));
      expect(outcome.status).toBe(200);
      expect(outcome.body).toBe('');
      const apnsId = outcome.headers['apns-id'];
      expect(apnsId).toMatch(UUID_UPPER);

      expect(sim.received).toHaveLength(1);
      const push = sim.received[0]!;
      expect(push).toMatchObject({
        token: TOKEN,
        method: 'POST',
        path: `/3/device/${TOKEN}`,
        status: 200,
        apnsId,
        teamId: TEAM,
        keyId: KEY_ID,
        body: VOIP_BODY,
        payload: { aps: {}, callwake: { v: 1, type: 'call', callId: 'c1' } },
      });
      expect(push.reason).toBeUndefined();
      expect(push.headers['apns-topic']).toBe(VOIP_TOPIC);
      expect(push.headers['apns-push-type']).toBe('voip');
      expect(push.headers['authorization']).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      expect(push.headers[':path']).toBeUndefined();
      expect(Math.abs(push.at - Date.now())).toBeLessThan(5000);
      expect(sim.pushesFor(TOKEN)).toEqual([push]);
      expect(sim.pushesFor(TOKEN.toUpperCase())).toEqual([push]);
      expect(sim.pushesFor(OTHER_TOKEN)).toEqual([]);
    });

    it('echoes the apns-id the request gave', async () => {
      const id = '123e4567-e89b-12d3-a456-426614174000';
      const outcome = expectResponse(await send(client, key, { headers: { ...voipHeaders(), 'apns-id': id } }));
      expect(outcome.status).toBe(200);
      expect(outcome.headers['apns-id']).toBe(id);
      expect(sim.received[0]?.apnsId).toBe(id);
    });

    it('reports its address as host:port and serves many concurrent streams on one connection', async () => {
      expect(sim.address).toBe(`127.0.0.1:${sim.port}`);
      expect(sim.port).toBeGreaterThan(0);
      const before = sim.connectionCount();
      const tokens = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(2, '0').repeat(32));
      const outcomes = await Promise.all(tokens.map((token) => send(client, key, { token })));
      expect(outcomes.map((o) => expectResponse(o).status)).toEqual(tokens.map(() => 200));
      expect(new Set(outcomes.map((o) => expectResponse(o).headers['apns-id'])).size).toBe(20);
      expect(sim.received.map((p) => p.token).sort()).toEqual([...tokens].sort());
      expect(sim.connectionCount() - before).toBe(1);
      // and the connection stays open for the next request
      expect(expectResponse(await send(client, key)).status).toBe(200);
      expect(sim.connectionCount() - before).toBe(1);
    });

    it('accepts an alert push on the bundle topic, the upper payload bounds, {} and a push without apns-push-type', async () => {
      const alert = { 'apns-topic': ALERT_TOPIC, 'apns-push-type': 'alert', 'apns-collapse-id': 'x'.repeat(64) };
      const padTo = (bytes: number) => {
        const shell = JSON.stringify({ aps: {}, p: '' });
        return JSON.stringify({ aps: {}, p: 'x'.repeat(bytes - shell.length) });
      };
      expect(Buffer.byteLength(padTo(4096))).toBe(4096);
      expect(expectResponse(await send(client, key, { headers: alert, body: padTo(4096) })).status).toBe(200);
      expect(expectResponse(await send(client, key, { body: padTo(5120) })).status).toBe(200);
      expect(expectResponse(await send(client, key, { body: '{}' })).status).toBe(200);
      expect(expectResponse(await send(client, key, { headers: { 'apns-topic': VOIP_TOPIC } })).status).toBe(200);
      expect(sim.received.map((p) => p.status)).toEqual([200, 200, 200, 200]);
    });
  });

  describe('rejections', () => {
    const cases: Array<[string, () => SendOptions, number, string]> = [
      ['another method', () => ({ method: 'GET' }), 405, 'MethodNotAllowed'],
      ['another path', () => ({ path: `/3/devices/${TOKEN}` }), 404, 'BadPath'],
      ['the wrong API version', () => ({ path: `/2/device/${TOKEN}` }), 404, 'BadPath'],
      ['no device token', () => ({ path: '/3/device/' }), 400, 'MissingDeviceToken'],
      ['a non-hex token', () => ({ token: 'zz'.repeat(32) }), 400, 'BadDeviceToken'],
      ['an odd-length token', () => ({ token: `${'ab'.repeat(32)}a` }), 400, 'BadDeviceToken'],
      ['a 62-digit token', () => ({ token: 'ab'.repeat(31) }), 400, 'BadDeviceToken'],
      ['a 202-digit token', () => ({ token: 'ab'.repeat(101) }), 400, 'BadDeviceToken'],
      ['no authorization', () => ({ noAuth: true }), 403, 'MissingProviderToken'],
      ['a malformed authorization', () => ({ jwt: 'not-a-jwt' }), 403, 'InvalidProviderToken'],
      ['an unknown key id', () => ({ jwt: providerToken(key, { keyId: 'KEY9999999' }) }), 403, 'InvalidProviderToken'],
      ['an unknown team', () => ({ jwt: providerToken(key, { teamId: 'ZZZZZ99999' }) }), 403, 'InvalidProviderToken'],
      ['a token without kid', () => ({ jwt: providerToken(key, { keyId: undefined }) }), 403, 'InvalidProviderToken'],
      ['alg other than ES256', () => ({ jwt: providerToken(key, { alg: 'ES384' }) }), 403, 'InvalidProviderToken'],
      [
        'a signature by another key',
        () => ({ jwt: providerToken(key, { privateKeyPem: createSimulatorKey(TEAM, KEY_ID).privateKeyPem }) }),
        403,
        'InvalidProviderToken',
      ],
      [
        'a DER (not JOSE) signature',
        () => ({ jwt: providerToken(key, { dsaEncoding: 'der' }) }),
        403,
        'InvalidProviderToken',
      ],
      ['a tampered claim', () => ({ jwt: tamper(providerToken(key)) }), 403, 'InvalidProviderToken'],
      [
        'iat more than an hour old',
        () => ({ jwt: providerToken(key, { iat: nowSeconds() - 3700 }) }),
        403,
        'ExpiredProviderToken',
      ],
      [
        'iat far in the future',
        () => ({ jwt: providerToken(key, { iat: nowSeconds() + 3600 }) }),
        403,
        'InvalidProviderToken',
      ],
      ['no apns-topic', () => ({ headers: { 'apns-push-type': 'voip' } }), 400, 'MissingTopic'],
      [
        'an unknown apns-push-type',
        () => ({ headers: { ...voipHeaders(), 'apns-push-type': 'call' } }),
        400,
        'InvalidPushType',
      ],
      [
        'voip on a topic without .voip',
        () => ({ headers: { ...voipHeaders(), 'apns-topic': ALERT_TOPIC } }),
        400,
        'BadTopic',
      ],
      [
        'alert on a .voip topic',
        () => ({ headers: { 'apns-topic': VOIP_TOPIC, 'apns-push-type': 'alert' } }),
        400,
        'BadTopic',
      ],
      ['apns-priority 7', () => ({ headers: { ...voipHeaders(), 'apns-priority': '7' } }), 400, 'BadPriority'],
      ['apns-priority 5 on voip', () => ({ headers: { ...voipHeaders(), 'apns-priority': '5' } }), 400, 'BadPriority'],
      [
        'a non-integer apns-expiration',
        () => ({ headers: { ...voipHeaders(), 'apns-expiration': 'soon' } }),
        400,
        'BadExpirationDate',
      ],
      [
        'a negative apns-expiration',
        () => ({ headers: { ...voipHeaders(), 'apns-expiration': '-1' } }),
        400,
        'BadExpirationDate',
      ],
      [
        'a 65-byte apns-collapse-id',
        () => ({ headers: { ...voipHeaders(), 'apns-collapse-id': 'x'.repeat(65) } }),
        400,
        'BadCollapseId',
      ],
      ['a malformed apns-id', () => ({ headers: { ...voipHeaders(), 'apns-id': 'not-a-uuid' } }), 400, 'BadMessageId'],
      [
        'a repeated apns-topic',
        () => ({ headers: { ...voipHeaders(), 'apns-topic': [VOIP_TOPIC, VOIP_TOPIC] } }),
        400,
        'DuplicateHeaders',
      ],
      ['an empty body', () => ({ body: '' }), 400, 'PayloadEmpty'],
      [
        'a VoIP body over 5120 bytes',
        () => ({ body: JSON.stringify({ aps: {}, p: 'x'.repeat(5120) }) }),
        413,
        'PayloadTooLarge',
      ],
      [
        'an alert body over 4096 bytes',
        () => ({
          headers: { 'apns-topic': ALERT_TOPIC, 'apns-push-type': 'alert' },
          body: JSON.stringify({ aps: {}, p: 'x'.repeat(4090) }),
        }),
        413,
        'PayloadTooLarge',
      ],
      ['a body that is not JSON', () => ({ body: 'hello' }), 400, 'PayloadEmpty'],
      ['a JSON body that is not an object', () => ({ body: '[{"aps":{}}]' }), 400, 'PayloadEmpty'],
    ];

    function tamper(jwt: string): string {
      const [header, , signature] = jwt.split('.');
      return `${header}.${b64url({ iss: TEAM, iat: nowSeconds() - 1 })}.${signature}`;
    }

    it.each(cases.map(([name, options, status, reason]) => ({ name, options, status, reason })))(
      '$name: $status $reason, recorded',
      async ({ options, status, reason }) => {
        const outcome = expectResponse(await send(client, key, options()));
        expect(outcome.status).toBe(status);
        expect(outcome.json).toEqual({ reason });
        expect(outcome.headers['content-type']).toBe('application/json');
        expect(outcome.headers['apns-id']).toMatch(UUID_UPPER);
        expect(sim.received).toHaveLength(1);
        expect(sim.received[0]).toMatchObject({ status, reason });
      },
    );

    it('records the verified team and key on a stale token but not on a forged one', async () => {
      await send(client, key, { jwt: providerToken(key, { iat: nowSeconds() - 4000 }) });
      await send(client, key, {
        jwt: providerToken(key, { privateKeyPem: createSimulatorKey(TEAM, KEY_ID).privateKeyPem }),
      });
      expect(sim.received[0]).toMatchObject({ reason: 'ExpiredProviderToken', teamId: TEAM, keyId: KEY_ID });
      expect(sim.received[1]?.reason).toBe('InvalidProviderToken');
      expect(sim.received[1]?.teamId).toBeUndefined();
      expect(sim.received[1]?.keyId).toBeUndefined();
    });

    it('answers DeviceTokenNotForTopic for a token bound to another topic', async () => {
      const bound = 'ef'.repeat(32);
      sim.bindTopic(bound, 'com.other.app.voip');
      const wrong = expectResponse(await send(client, key, { token: bound }));
      expect(wrong.status).toBe(400);
      expect(wrong.json).toEqual({ reason: 'DeviceTokenNotForTopic' });
      const right = expectResponse(
        await send(client, key, { token: bound, headers: { ...voipHeaders(), 'apns-topic': 'com.other.app.voip' } }),
      );
      expect(right.status).toBe(200);
      // and it wins over the suffix rule: an alert on the bundle topic is still the wrong topic
      const alert = expectResponse(
        await send(client, key, {
          token: bound,
          headers: { 'apns-topic': 'com.other.app', 'apns-push-type': 'alert' },
        }),
      );
      expect(alert.json).toEqual({ reason: 'DeviceTokenNotForTopic' });
    });

    it('answers 410 Unregistered with the timestamp given to markUnregistered, or the time of marking', async () => {
      const gone = '01'.repeat(32);
      sim.markUnregistered(gone, 1_700_000_000_123);
      const outcome = expectResponse(await send(client, key, { token: gone }));
      expect(outcome.status).toBe(410);
      expect(outcome.json).toEqual({ reason: 'Unregistered', timestamp: 1_700_000_000_123 });
      expect(sim.received[0]).toMatchObject({ status: 410, reason: 'Unregistered' });

      const alsoGone = '02'.repeat(32);
      const before = Date.now();
      sim.markUnregistered(alsoGone.toUpperCase());
      const second = expectResponse(await send(client, key, { token: alsoGone }));
      expect(second.status).toBe(410);
      expect(second.json?.['timestamp']).toBeGreaterThanOrEqual(before);
      expect(second.json?.['timestamp']).toBeLessThanOrEqual(Date.now());
      // other tokens are unaffected
      expect(expectResponse(await send(client, key)).status).toBe(200);
    });

    it('checks the request before the device state: a bad request to an unregistered token is 400, not 410', async () => {
      const gone = '03'.repeat(32);
      sim.markUnregistered(gone);
      const outcome = expectResponse(await send(client, key, { token: gone, headers: { 'apns-push-type': 'voip' } }));
      expect(outcome.status).toBe(400);
      expect(outcome.json).toEqual({ reason: 'MissingTopic' });
    });
  });

  describe('TLS', () => {
    it('serves a certificate that verifies against caPem for 127.0.0.1 and localhost', async () => {
      expect(sim.caPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(expectResponse(await send(client, key)).status).toBe(200);
      const byName = connect(sim, { ca: sim.caPem, servername: 'localhost' });
      expect(expectResponse(await send(byName, key)).status).toBe(200);
    });

    it('is refused by a client that does not trust the CA, and by one expecting another host name', async () => {
      const untrusting = connect(sim, {});
      const failure = await new Promise<Error & { code?: string }>((resolve) => {
        untrusting.removeAllListeners('error');
        untrusting.once('error', resolve);
      });
      expect(failure.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);

      const wrongName = connect(sim, { ca: sim.caPem, servername: 'api.push.apple.com' });
      const altFailure = await new Promise<Error & { code?: string }>((resolve) => {
        wrongName.removeAllListeners('error');
        wrongName.once('error', resolve);
      });
      expect(altFailure.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(sim.received).toHaveLength(0);
    });
  });

  describe('faults', () => {
    it('answers with the injected status, reason and retry-after, once by default', async () => {
      sim.injectFault({ status: 503, reason: 'ServiceUnavailable', retryAfterSeconds: 7 });
      const faulted = expectResponse(await send(client, key));
      expect(faulted.status).toBe(503);
      expect(faulted.json).toEqual({ reason: 'ServiceUnavailable' });
      expect(faulted.headers['retry-after']).toBe('7');
      expect(faulted.headers['apns-id']).toMatch(UUID_UPPER);
      const next = expectResponse(await send(client, key));
      expect(next.status).toBe(200);
      expect(next.headers['retry-after']).toBeUndefined();
      expect(sim.received.map((p) => [p.status, p.reason])).toEqual([
        [503, 'ServiceUnavailable'],
        [200, undefined],
      ]);
      expect(sim.received[0]?.fault).toMatchObject({ status: 503 });
    });

    it('uses a fault `times` times, for its token only, with a default reason from the status', async () => {
      sim.injectFault({ token: OTHER_TOKEN.toUpperCase(), status: 429, times: 2 });
      expect(expectResponse(await send(client, key)).status).toBe(200);
      const first = expectResponse(await send(client, key, { token: OTHER_TOKEN }));
      const second = expectResponse(await send(client, key, { token: OTHER_TOKEN }));
      const third = expectResponse(await send(client, key, { token: OTHER_TOKEN }));
      expect([first.status, second.status, third.status]).toEqual([429, 429, 200]);
      expect(first.json).toEqual({ reason: 'TooManyRequests' });
    });

    it('matches faults in the order injected', async () => {
      sim.injectFault({ status: 500 });
      sim.injectFault({ status: 503 });
      const a = expectResponse(await send(client, key));
      const b = expectResponse(await send(client, key));
      expect([a.status, a.json?.['reason'], b.status, b.json?.['reason']]).toEqual([
        500,
        'InternalServerError',
        503,
        'ServiceUnavailable',
      ]);
    });

    it('gives a 410 fault a timestamp', async () => {
      sim.injectFault({ status: 410 });
      const outcome = expectResponse(await send(client, key));
      expect(outcome.status).toBe(410);
      expect(outcome.json?.['reason']).toBe('Unregistered');
      expect(typeof outcome.json?.['timestamp']).toBe('number');
    });

    it('delays the answer, then answers normally', async () => {
      sim.injectFault({ delayMs: 400 });
      const started = Date.now();
      const outcome = expectResponse(await send(client, key));
      expect(Date.now() - started).toBeGreaterThanOrEqual(380);
      expect(outcome.status).toBe(200);
      const quick = Date.now();
      expect(expectResponse(await send(client, key)).status).toBe(200);
      expect(Date.now() - quick).toBeLessThan(380);
    });

    it('delays, then applies the rest of the fault', async () => {
      sim.injectFault({ delayMs: 300, status: 500 });
      const started = Date.now();
      const outcome = expectResponse(await send(client, key));
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      expect(outcome.status).toBe(500);
    });

    it('resets the stream (RST_STREAM INTERNAL_ERROR) and keeps the connection', async () => {
      sim.injectFault({ resetStream: true });
      const outcome = expectStreamError(await send(client, key));
      expect(outcome.rstCode).toBe(NGHTTP2_INTERNAL_ERROR);
      expect(sim.received[0]).toMatchObject({ status: 0, reason: 'fault:resetStream' });
      const before = sim.connectionCount();
      expect(expectResponse(await send(client, key)).status).toBe(200);
      expect(sim.connectionCount()).toBe(before);
      expect(client.closed).toBe(false);
    });

    it('drops the whole connection, failing every stream on it', async () => {
      expect(expectResponse(await send(client, key)).status).toBe(200);
      sim.injectFault({ token: OTHER_TOKEN, dropConnection: true, delayMs: 100 });
      const [victim, bystander] = await Promise.all([
        send(client, key, { token: OTHER_TOKEN }),
        send(client, key, { token: '0a'.repeat(32) }),
      ]);
      expect(expectStreamError(victim).kind).toBe('error');
      // the bystander was answered before the drop (no delay), so it got its 200
      expect(expectResponse(bystander).status).toBe(200);
      await waitForClose(client);
      expect(sim.received.find((p) => p.token === OTHER_TOKEN)).toMatchObject({
        status: 0,
        reason: 'fault:dropConnection',
      });
      const before = sim.connectionCount();
      const fresh = connect(sim);
      expect(expectResponse(await send(fresh, key)).status).toBe(200);
      expect(sim.connectionCount()).toBe(before + 1);
    });

    it('sends GOAWAY with a JSON reason, refuses the stream and closes the session', async () => {
      expect(expectResponse(await send(client, key)).status).toBe(200);
      sim.injectFault({ goaway: true });
      const goaway = new Promise<{ code: number; lastStreamId: number; data: string }>((resolve) => {
        client.once('goaway', (code: number, lastStreamId: number, data?: Buffer) =>
          resolve({ code, lastStreamId, data: data?.toString('utf8') ?? '' }),
        );
      });
      const outcome = expectStreamError(await send(client, key));
      const frame = await goaway;
      expect(frame.code).toBe(NGHTTP2_NO_ERROR);
      expect(JSON.parse(frame.data)).toEqual({ reason: 'Shutdown' });
      // stream 1 was answered; stream 3 was refused: the last processed stream id is 1
      expect(frame.lastStreamId).toBe(1);
      expect(outcome.rstCode).toBe(NGHTTP2_REFUSED_STREAM);
      await waitForClose(client);
      expect(sim.received[1]).toMatchObject({ status: 0, reason: 'fault:goaway' });
      const fresh = connect(sim);
      expect(expectResponse(await send(fresh, key)).status).toBe(200);
    });

    it('after GOAWAY still answers the streams opened before it, then closes the connection', async () => {
      sim.injectFault({ token: OTHER_TOKEN, delayMs: 300 });
      sim.injectFault({ goaway: true, reason: 'IdleTimeout' });
      const goaway = new Promise<{ lastStreamId: number; data: string }>((resolve) => {
        client.once('goaway', (_code: number, lastStreamId: number, data?: Buffer) =>
          resolve({ lastStreamId, data: data?.toString('utf8') ?? '' }),
        );
      });
      const slow = send(client, key, { token: OTHER_TOKEN }); // stream 1, answered after 300 ms
      await new Promise((r) => setTimeout(r, 50));
      const refused = expectStreamError(await send(client, key)); // stream 3 gets the GOAWAY
      expect(refused.rstCode).toBe(NGHTTP2_REFUSED_STREAM);
      const frame = await goaway;
      expect(frame.lastStreamId).toBe(1);
      expect(JSON.parse(frame.data)).toEqual({ reason: 'IdleTimeout' });
      expect(expectResponse(await slow).status).toBe(200);
      await waitForClose(client);
      expect(sim.received.map((p) => [p.token, p.status])).toEqual([
        [TOKEN, 0],
        [OTHER_TOKEN, 200],
      ]);
    });

    it('clearFaults and reset drop pending faults', async () => {
      sim.injectFault({ status: 500, times: 5 });
      sim.clearFaults();
      expect(expectResponse(await send(client, key)).status).toBe(200);
      sim.injectFault({ status: 500, times: 5 });
      sim.reset();
      expect(sim.received).toHaveLength(0);
      expect(expectResponse(await send(client, key)).status).toBe(200);
    });

    it('refuses a fault with a non-positive times', () => {
      expect(() => sim.injectFault({ status: 500, times: 0 })).toThrow(/times/);
    });
  });

  describe('waitForPush', () => {
    it('resolves when an accepted push for the token arrives', async () => {
      const waiting = sim.waitForPush(OTHER_TOKEN, 5000);
      let settled = false;
      void waiting.then(() => (settled = true));
      await send(client, key); // another token
      await send(client, key, { token: OTHER_TOKEN, headers: { 'apns-topic': VOIP_TOPIC, 'apns-push-type': 'bogus' } });
      await new Promise((r) => setTimeout(r, 20));
      expect(settled).toBe(false);
      await send(client, key, { token: OTHER_TOKEN, body: JSON.stringify({ aps: {}, n: 2 }) });
      const push = await waiting;
      expect(push.token).toBe(OTHER_TOKEN);
      expect(push.status).toBe(200);
      expect(push.payload).toEqual({ aps: {}, n: 2 });
    });

    it('resolves at once with a push already received, and takes a custom predicate', async () => {
      await send(client, key, { token: OTHER_TOKEN, noAuth: true });
      await send(client, key, { token: OTHER_TOKEN });
      const accepted = await sim.waitForPush(OTHER_TOKEN, 10);
      expect(accepted.status).toBe(200);
      const refused = await sim.waitForPush(OTHER_TOKEN, 10, (p) => p.status === 403);
      expect(refused.reason).toBe('MissingProviderToken');
    });

    it('rejects after the timeout, saying what was received', async () => {
      await send(client, key, { token: OTHER_TOKEN, noAuth: true });
      await expect(sim.waitForPush(OTHER_TOKEN, 50)).rejects.toThrow(/within 50 ms.*403 MissingProviderToken/);
      await expect(sim.waitForPush('99'.repeat(32), 20)).rejects.toThrow(/none received/);
    });
  });

  describe('connections', () => {
    it('dropAllConnections kills open connections; a new connection then works', async () => {
      expect(expectResponse(await send(client, key)).status).toBe(200);
      const second = connect(sim);
      expect(expectResponse(await send(second, key)).status).toBe(200);
      const before = sim.connectionCount();
      sim.dropAllConnections();
      await waitForClose(client);
      await waitForClose(second);
      expect(client.destroyed || client.closed).toBe(true);
      const fresh = connect(sim);
      expect(expectResponse(await send(fresh, key)).status).toBe(200);
      expect(sim.connectionCount()).toBe(before + 1);
    });
  });

  describe('keys', () => {
    it('createSimulatorKey makes a P-256 PKCS#8 key whose signatures verify with publicKey', () => {
      const made = createSimulatorKey('TEAMXXXXXX', 'KEYXXXXXXX');
      expect(made.teamId).toBe('TEAMXXXXXX');
      expect(made.keyId).toBe('KEYXXXXXXX');
      // PKCS#8 PEM, like an Apple .p8 (the marker is assembled so no key-looking line is committed).
      expect(made.privateKeyPem.split('\n')[0]).toBe(['-----BEGIN', 'PRIVATE', 'KEY-----'].join(' '));
      const privateKey = createPrivateKey(made.privateKeyPem);
      expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(made.publicKey.type).toBe('public');
      const signature = sign('sha256', Buffer.from('x'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(signature).toHaveLength(64);
      expect(verify('sha256', Buffer.from('x'), { key: made.publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(
        true,
      );
    });

    it('trustKey takes a PEM string and refuses keys that are not P-256', async () => {
      const other = createSimulatorKey('TEAMPEM001', 'KEYPEM0001');
      sim.trustKey(other.teamId, other.keyId, other.publicKey.export({ format: 'pem', type: 'spki' }).toString());
      const outcome = expectResponse(await send(client, other));
      expect(outcome.status).toBe(200);
      expect(sim.received[0]).toMatchObject({ teamId: 'TEAMPEM001', keyId: 'KEYPEM0001' });
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      expect(() => sim.trustKey('T', 'K', rsa.publicKey)).toThrow(/P-256/);
    });
  });
});

// ---------------------------------------------------------------- own simulators

describe('ApnsSimulator with enforceTokenUpdateRate', () => {
  it('refuses a new token within 20 minutes of the last new one, keeps the current one, and allows one after', async () => {
    let clock = Date.now();
    const sim = await ApnsSimulator.start({ enforceTokenUpdateRate: true, now: () => clock });
    try {
      const key = createSimulatorKey(TEAM, KEY_ID);
      sim.trustKey(TEAM, KEY_ID, key.publicKey);
      const client = connect(sim);
      const first = providerToken(key, { iat: Math.floor(clock / 1000) });
      expect(expectResponse(await send(client, key, { jwt: first })).status).toBe(200);
      expect(expectResponse(await send(client, key, { jwt: first })).status).toBe(200);

      clock += 19 * 60 * 1000;
      const early = providerToken(key, { iat: Math.floor(clock / 1000) });
      const refused = expectResponse(await send(client, key, { jwt: early }));
      expect(refused.status).toBe(429);
      expect(refused.json).toEqual({ reason: 'TooManyProviderTokenUpdates' });
      expect(expectResponse(await send(client, key, { jwt: first })).status).toBe(200);

      clock += 2 * 60 * 1000;
      const onTime = providerToken(key, { iat: Math.floor(clock / 1000) });
      expect(expectResponse(await send(client, key, { jwt: onTime })).status).toBe(200);

      clock += 40 * 60 * 1000; // the first token is now 61 minutes old
      const stale = expectResponse(await send(client, key, { jwt: first }));
      expect(stale.json).toEqual({ reason: 'ExpiredProviderToken' });
    } finally {
      await sim.stop();
    }
  });

  it('lets two containers mint tokens freely when not enforced', async () => {
    const sim = await ApnsSimulator.start();
    try {
      const key = createSimulatorKey(TEAM, KEY_ID);
      sim.trustKey(TEAM, KEY_ID, key.publicKey);
      const client = connect(sim);
      const a = providerToken(key);
      const b = providerToken(key);
      expect(a).not.toBe(b);
      expect(expectResponse(await send(client, key, { jwt: a })).status).toBe(200);
      expect(expectResponse(await send(client, key, { jwt: b })).status).toBe(200);
    } finally {
      await sim.stop();
    }
  });
});

describe('ApnsSimulator.stop', () => {
  function tcpHandles(): number {
    return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP') || r.startsWith('TLS')).length;
  }

  it('closes connections, in-flight delayed requests and waiters promptly and leaves no TCP handles', async () => {
    await new Promise((r) => setTimeout(r, 100)); // let earlier tests' clients finish closing
    const baseline = tcpHandles();
    const sim = await ApnsSimulator.start();
    try {
      const key = createSimulatorKey(TEAM, KEY_ID);
      sim.trustKey(TEAM, KEY_ID, key.publicKey);
      const client = connect(sim);
      expect(expectResponse(await send(client, key)).status).toBe(200);
      sim.injectFault({ delayMs: 20_000 });
      const inFlight = send(client, key);
      const waiter = sim.waitForPush(OTHER_TOKEN, 20_000);
      waiter.catch(() => undefined);
      // a TCP connection that never starts TLS must not hold stop() up either
      const idle = tcpConnect(sim.port, '127.0.0.1');
      idle.on('error', () => undefined);
      const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
      await new Promise((r) => setTimeout(r, 50));
      expect(sim.received).toHaveLength(1); // the delayed request is still waiting
      expect(tcpHandles()).toBeGreaterThanOrEqual(baseline + 5); // listener, 2 server and 2 client sockets

      const started = Date.now();
      await sim.stop();
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(waiter).rejects.toThrow(/stopped/);
      expect((await inFlight).kind).toBe('error');
      await waitForClose(client);
      await idleClosed;
      await sim.stop(); // idempotent

      const refused = connect(sim);
      const error = await new Promise<Error & { code?: string }>((resolve) => {
        refused.removeAllListeners('error');
        refused.once('error', resolve);
      });
      expect(error.code).toBe('ECONNREFUSED');
      refused.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(tcpHandles()).toBe(baseline);
    } finally {
      await sim.stop();
    }
  });
});
