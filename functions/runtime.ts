import { ApnsPusher } from './adapters/apns-pusher.js';
import { ProviderTokens } from './adapters/apns-jwt.js';
import { documentClient } from './adapters/dynamo-table.js';
import { DynamoTokenShare } from './adapters/dynamo-token-share.js';
import { powertoolsLog } from './adapters/log.js';
import { parseApnsKeys, parseTenantSecrets, parseTokenKeys } from './adapters/secret-formats.js';
import { CachedSecret, secretsManagerClient } from './adapters/secrets-manager.js';
import { functionConfig } from './config.js';
import { systemClock } from './core/clock.js';
import type { Pusher } from './core/ports.js';
import { wire } from './wiring.js';

/**
 * The deployed functions' dependencies: built once per container (clients, connections, secrets
 * fetched at init), then reused by every invocation. Both functions share this; each only
 * reads the secrets its environment names, and IAM lets it read no others.
 */
export function lambdaDeps(serviceName: string) {
  let built: ReturnType<typeof build> | undefined;
  return () => (built ??= build(serviceName));
}

async function build(serviceName: string) {
  const config = functionConfig();
  const log = powertoolsLog(serviceName);
  const sm = secretsManagerClient();
  const tokenKeys = new CachedSecret(sm, config.tokenKeysSecretName, parseTokenKeys);
  const tenants = config.tenantSecretsName ? new CachedSecret(sm, config.tenantSecretsName, parseTenantSecrets) : undefined;
  const apnsKeys = config.apnsKeysSecretName ? await new CachedSecret(sm, config.apnsKeysSecretName, parseApnsKeys, Infinity).get() : undefined;
  await tokenKeys.get();

  const doc = documentClient({ ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}) });
  const pusher: Pusher = apnsKeys
    ? new ApnsPusher({ tokens: new ProviderTokens(apnsKeys, systemClock, new DynamoTokenShare(doc, config.tableName)), log, ...(config.apnsHost ? { hostOverride: config.apnsHost } : {}) })
    : { teams: [], send: async () => ({ result: 'failed', reason: 'UnknownTeam', permanent: false }) };

  return wire({
    doc,
    tableName: config.tableName,
    pusher,
    tokenKeys: () => {
      void tokenKeys.get(); // refreshes in the background when stale; the cached ring answers now
      return tokenKeys.current();
    },
    tenantSecrets: async (tenantId) => (tenants ? (await tenants.get()).get(tenantId) : undefined),
    log,
    defaultEnvironment: config.defaultEnvironment,
    pushDeadlineMs: config.pushDeadlineMs,
    publicBaseUrl: config.publicBaseUrl,
  });
}
