import type { ApnsEnvironment } from './core/call.js';

/**
 * Everything the deployed functions read from their environment, read once. Only secret
 * NAMES live here: the values are fetched from Secrets Manager at init.
 */
export interface FunctionConfig {
  tableName: string;
  tenantSecretsName: string;
  apnsKeysSecretName: string | undefined;
  tokenKeysSecretName: string;
  defaultEnvironment: ApnsEnvironment;
  pushDeadlineMs: number;
  publicBaseUrl: string | undefined;
  /** Tests and staging only: send every push to this `host:port`. */
  apnsHost: string | undefined;
  dynamoEndpoint: string | undefined;
}

export class ConfigError extends Error {}

const required = (env: NodeJS.ProcessEnv, name: string): string => {
  const v = env[name];
  if (!v) throw new ConfigError(`Missing environment variable ${name}`);
  return v;
};

export function environmentOf(value: string | undefined): ApnsEnvironment {
  if (value === undefined || value === '' || value === 'production') return 'production';
  if (value === 'sandbox' || value === 'development') return 'sandbox';
  throw new ConfigError(`APNS_DEFAULT_ENVIRONMENT must be production or sandbox, not ${value}`);
}

export function pushDeadlineOf(value: string | undefined): number {
  const ms = value === undefined || value === '' ? 5000 : Number(value);
  if (!Number.isInteger(ms) || ms < 100 || ms > 30000)
    throw new ConfigError('PUSH_DEADLINE_MS must be an integer from 100 to 30000');
  return ms;
}

export function functionConfig(env: NodeJS.ProcessEnv = process.env): FunctionConfig {
  return {
    tableName: required(env, 'TABLE_NAME'),
    tenantSecretsName: env.TENANT_SECRETS_NAME ?? '',
    apnsKeysSecretName: env.APNS_KEYS_SECRET_NAME || undefined,
    tokenKeysSecretName: required(env, 'TOKEN_KEYS_SECRET_NAME'),
    defaultEnvironment: environmentOf(env.APNS_DEFAULT_ENVIRONMENT),
    pushDeadlineMs: pushDeadlineOf(env.PUSH_DEADLINE_MS),
    publicBaseUrl: env.PUBLIC_BASE_URL || undefined,
    apnsHost: env.APNS_HOST || undefined,
    dynamoEndpoint: env.DYNAMODB_ENDPOINT || undefined,
  };
}
