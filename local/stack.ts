import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type ApnsTeamKey, ProviderTokens, teamKeyOf } from '../functions/adapters/apns-jwt.js';
import { ApnsPusher } from '../functions/adapters/apns-pusher.js';
import { documentClient, ensureTable } from '../functions/adapters/dynamo-table.js';
import { DynamoTokenShare } from '../functions/adapters/dynamo-token-share.js';
import { tenantsFrom } from '../functions/adapters/secret-formats.js';
import { createAppApi } from '../functions/app-api/api.js';
import type { ApnsEnvironment } from '../functions/core/call.js';
import type { TokenKeyRing } from '../functions/core/call-token.js';
import type { Clock } from '../functions/core/clock.js';
import type { RetryPolicy } from '../functions/core/deliver-callback.js';
import type { Log, Metrics } from '../functions/core/ports.js';
import type { TenantConfig, TenantLimits } from '../functions/core/tenants.js';
import { createPbxApi } from '../functions/pbx-api/api.js';
import { wire } from '../functions/wiring.js';
import { type ApnsSimulator, createSimulatorKey } from './apns-simulator/index.js';
import { type LocalEvents, startLocalEvents } from './events.js';
import { createLocalServer } from './server.js';

export const SIMULATOR_TEAM_ID = 'LOCALTEAM1';
export const SIMULATOR_KEY_ID = 'LOCALKEY01';

export interface StackOptions {
  host: string;
  port: number;
  publicBaseUrl?: string | undefined;
  /** Each tenant's secrets (the v1 form: it may push to every app) or its whole configuration. */
  tenants: Map<string, readonly string[] | TenantConfig>;
  /** The limits of a tenant that sets none of its own. */
  tenantLimits?: TenantLimits;
  dynamoEndpoint: string;
  tableName: string;
  /** Where pushes go: our own simulator, another APNs-compatible host, or Apple. */
  apns:
    | {
        kind: 'simulator';
        simulator: ApnsSimulator;
        /** A second simulator playing production (`ApnsSimulator.startPair`); else one for both. */
        production?: ApnsSimulator;
      }
    | { kind: 'host'; host?: string; hosts?: Partial<Record<ApnsEnvironment, string>>; key: ApnsTeamKey }
    | { kind: 'apple'; key: ApnsTeamKey };
  defaultEnvironment: 'production' | 'sandbox';
  pushDeadlineMs: number;
  log: Log;
  clock?: Clock;
  tokenKeys?: () => TokenKeyRing;
  /** How often a held request reads its call again. */
  waitPollMs?: number;
  /** Where metrics go (deployed: CloudWatch's embedded metric format); absent, none are kept. */
  metrics?: Metrics;
  /**
   * The events path (stream, events, callbacks, ring timers). `npm start` always runs it; tests
   * that do not look at events leave it off.
   */
  events?: false | { retry?: RetryPolicy; print?: (line: string) => void };
}

export interface RunningStack {
  url: string;
  tableName: string;
  server: Server;
  /** The DynamoDB client every handler of this stack uses, the events path's too (tests count its requests). */
  doc: DynamoDBDocumentClient;
  deps: ReturnType<typeof wire>;
  pusher: ApnsPusher;
  events: LocalEvents | undefined;
  stop(): Promise<void>;
}

const isLoopback = (address: string | undefined): boolean =>
  address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));

export const randomTokenKeys = (): TokenKeyRing => {
  const key = { kid: `local-${randomBytes(3).toString('hex')}`, secret: randomBytes(32).toString('base64url') };
  return { current: key, all: [key] };
};

/**
 * The real handlers behind a local HTTP front, on DynamoDB (Local, or any endpoint) and APNs
 * (the built-in simulator, another APNs-compatible server, or Apple).
 * Used by `npm start` and by the integration tests alike.
 */
export async function startStack(o: StackOptions): Promise<RunningStack> {
  const doc = documentClient({ endpoint: o.dynamoEndpoint });
  // The deployed functions' rules: secrets of 32 bytes or more, never shared between tenants.
  const tenants = tenantsFrom(o.tenants);
  const streamArn = await ensureTable(doc, o.tableName);

  const share = new DynamoTokenShare(doc, o.tableName);
  // Provider tokens follow real time even when a test moves the domain clock: APNs checks their
  // issue time against its own.
  const realTime = { now: Date.now };
  let pusher: ApnsPusher;
  if (o.apns.kind === 'simulator') {
    const sims = [o.apns.simulator, ...(o.apns.production ? [o.apns.production] : [])];
    const key = createSimulatorKey(SIMULATOR_TEAM_ID, SIMULATOR_KEY_ID);
    for (const sim of sims) sim.trustKey(key.teamId, key.keyId, key.publicKey);
    const tokens = new ProviderTokens(
      new Map([[key.teamId, teamKeyOf(key.teamId, key.keyId, key.privateKeyPem)]]),
      realTime,
      share,
    );
    pusher = new ApnsPusher({
      tokens,
      hostOverride: o.apns.simulator.address,
      ...(o.apns.production ? { hosts: { production: o.apns.production.address } } : {}),
      ca: sims.map((s) => s.caPem).join('\n'),
      log: o.log,
    });
  } else {
    const tokens = new ProviderTokens(new Map([[o.apns.key.teamId, o.apns.key]]), realTime, share);
    // Other hosts are trusted the standard way (system CAs plus NODE_EXTRA_CA_CERTS), like Apple.
    const where =
      o.apns.kind === 'host'
        ? { ...(o.apns.host ? { hostOverride: o.apns.host } : {}), ...(o.apns.hosts ? { hosts: o.apns.hosts } : {}) }
        : {};
    pusher = new ApnsPusher({ tokens, log: o.log, ...where });
  }

  const ring = randomTokenKeys();
  const makeDeps = (publicBaseUrl: string) =>
    wire({
      doc,
      tableName: o.tableName,
      pusher,
      tokenKeys: o.tokenKeys ?? (() => ring),
      tenant: async (tenantId) => tenants.get(tenantId),
      ...(o.tenantLimits ? { defaultLimits: o.tenantLimits } : {}),
      log: o.log,
      ...(o.clock ? { clock: o.clock } : {}),
      defaultEnvironment: o.defaultEnvironment,
      pushDeadlineMs: o.pushDeadlineMs,
      ...(o.waitPollMs === undefined ? {} : { waitPollMs: o.waitPollMs }),
      publicBaseUrl,
      // A local PBX may listen for callbacks without TLS; a deployed stack takes https: only.
      allowHttpCallbacks: true,
      ...(o.metrics ? { metrics: o.metrics } : {}),
    });
  // The app API URL put in pushes is this server's own unless told otherwise: known once listening.
  let resolveDeps!: (d: ReturnType<typeof wire>) => void;
  const ready = new Promise<ReturnType<typeof wire>>((r) => (resolveDeps = r));
  const simulator = o.apns.kind === 'simulator' ? o.apns.simulator : undefined;
  const server = createLocalServer({
    pbx: createPbxApi(() => ready),
    app: createAppApi(() => ready),
    // Local only: lets `npm run demo` play the phone that receives the push.
    extra: (req, res, url) => {
      if (!simulator || req.method !== 'GET' || url.pathname !== '/_local/apns/pushes') return false;
      // Pushes hold call tokens and caller numbers: only this machine may read them.
      if (!isLoopback(req.socket.remoteAddress)) return false;
      const token = url.searchParams.get('token') ?? '';
      const pushes = simulator
        .pushesFor(token)
        .map((p) => ({ status: p.status, reason: p.reason, headers: p.headers, payload: p.payload, at: p.at }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          pushes: pushes.map(({ headers, ...p }) => ({ ...p, headers: { ...headers, authorization: '(redacted)' } })),
        }),
      );
      return true;
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const url = `http://${shown}:${port}`;
  const deps = makeDeps(o.publicBaseUrl ?? url);
  resolveDeps(deps);
  const events = o.events
    ? await startLocalEvents({
        doc,
        dynamoEndpoint: o.dynamoEndpoint,
        tableName: o.tableName,
        streamArn,
        tenantSecrets: async (tenantId) => tenants.get(tenantId)?.secrets,
        pusher,
        pushDeadlineMs: o.pushDeadlineMs,
        log: o.log,
        ...(o.metrics ? { metrics: o.metrics } : {}),
        ...(o.clock ? { clock: o.clock } : {}),
        ...(o.events.retry ? { retry: o.events.retry } : {}),
        ...(o.events.print ? { print: o.events.print } : {}),
      })
    : undefined;
  return {
    url,
    tableName: o.tableName,
    server,
    doc,
    deps,
    pusher,
    events,
    stop: async () => {
      await events?.stop();
      pusher.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      doc.destroy();
    },
  };
}
