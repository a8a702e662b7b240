import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient } from './adapters/dynamo-table.js';
import type { Observability } from './adapters/observability.js';
import { parseTenants, parseTokenKeys } from './adapters/secret-formats.js';
import { CachedSecret, secretsManagerClient } from './adapters/secrets-manager.js';
import { functionConfig } from './config.js';
import type { ApnsEnvironment } from './core/call.js';
import type { Log, Pusher } from './core/ports.js';
import { initOnce } from './init-once.js';
import { wire } from './wiring.js';

/**
 * The two API functions' dependencies. Only pbx-api pushes: app-api is given no pusher, so no
 * APNs code (HTTP/2, JWT signing, keys) is in its bundle or its cold start.
 */
export const lambdaDeps = (o: Observability, pusherOf: PusherFactory = async () => NO_PUSHER) =>
  initOnce(o, (obs) => build(obs, pusherOf));

/** How a function that pushes builds its pusher (functions/apns.ts). */
export type PusherFactory = (o: {
  apnsKeysSecretName: string | undefined;
  apnsHost: string | undefined;
  apnsHosts: Partial<Record<ApnsEnvironment, string>>;
  tableName: string;
  secretsManager: SecretsManagerClient;
  doc: DynamoDBDocumentClient;
  log: Log;
}) => Promise<Pusher>;

/** A function that never pushes: any push it were asked for fails as for an unknown team. */
export const NO_PUSHER: Pusher = {
  teams: [],
  send: async () => ({ result: 'failed', reason: 'UnknownTeam', permanent: false }),
};

/** An app may hold a token signed with a key this container has not seen yet (a rotation). */
const TOKEN_KEY_REFRESH_MIN_MS = 10_000;

async function build({ log, metrics }: Observability, pusherOf: PusherFactory) {
  const config = functionConfig();
  const sm = secretsManagerClient();
  const tokenKeys = new CachedSecret(sm, config.tokenKeysSecretName, parseTokenKeys, config.secretsMaxAgeMs);
  const tenants = config.tenantSecretsName
    ? new CachedSecret(sm, config.tenantSecretsName, parseTenants, config.secretsMaxAgeMs)
    : undefined;
  const doc = documentClient({ ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}) });
  const [pusher] = await Promise.all([
    pusherOf({ ...config, secretsManager: sm, doc, log }),
    tokenKeys.get(),
    tenants?.get(),
  ]);
  let lastForcedRefresh = 0;

  return wire({
    doc,
    tableName: config.tableName,
    pusher,
    tokenKeys: () => {
      void tokenKeys.get(); // refreshes in the background when stale; the cached ring answers now
      return tokenKeys.current();
    },
    refreshTokenKeys: async () => {
      if (Date.now() - lastForcedRefresh < TOKEN_KEY_REFRESH_MIN_MS) return false;
      lastForcedRefresh = Date.now();
      await tokenKeys.refresh();
      return true;
    },
    tenant: async (tenantId) => (tenants ? (await tenants.get()).get(tenantId) : undefined),
    defaultLimits: config.tenantLimits,
    metrics,
    log,
    defaultEnvironment: config.defaultEnvironment,
    pushDeadlineMs: config.pushDeadlineMs,
    waitPollMs: config.waitPollMs,
    publicBaseUrl: config.publicBaseUrl,
  });
}
