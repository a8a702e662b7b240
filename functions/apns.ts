import { ProviderTokens, teamKeyOf } from './adapters/apns-jwt.js';
import { ApnsPusher } from './adapters/apns-pusher.js';
import { DynamoTokenShare } from './adapters/dynamo-token-share.js';
import { parseApnsKeys } from './adapters/secret-formats.js';
import { CachedSecret } from './adapters/secrets-manager.js';
import { systemClock } from './core/clock.js';
import { NO_PUSHER, type PusherFactory } from './runtime.js';

/**
 * The pusher of a function that sends pushes (pbx-api, events): the APNs keys read once at init,
 * one provider token per team shared through the table, the hosts from the config.
 */
export const apnsPusher: PusherFactory = async (o) => {
  const given = o.apnsKeysSecretName
    ? await new CachedSecret(o.secretsManager, o.apnsKeysSecretName, parseApnsKeys, Infinity).get()
    : undefined;
  if (!given) return NO_PUSHER;
  const keys = new Map([...given].map(([teamId, k]) => [teamId, teamKeyOf(teamId, k.keyId, k.privateKey)]));
  return new ApnsPusher({
    tokens: new ProviderTokens(keys, systemClock, new DynamoTokenShare(o.doc, o.tableName)),
    log: o.log,
    ...(o.apnsHost ? { hostOverride: o.apnsHost } : {}),
    hosts: o.apnsHosts,
  });
};
