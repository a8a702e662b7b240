import type { ApnsEnvironment } from './core/call.js';
import type { TenantLimits } from './core/tenants.js';

/** A tenant's limits unless the operator sets others (docs/deploy.md says how to choose). */
export const DEFAULT_TENANT_LIMITS: TenantLimits = { requestsPerSecond: 50, ringingCalls: 200 };

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
  waitPollMs: number;
  /** A tenant's limits unless its own configuration sets others. */
  tenantLimits: TenantLimits;
  /** How old a cached secret may get: a removed tenant secret or token key stops working within it. */
  secretsMaxAgeMs: number;
  publicBaseUrl: string | undefined;
  /** Tests and staging only: send every push to this `host:port`… */
  apnsHost: string | undefined;
  /** … or each environment's pushes to its own (each over `apnsHost`). */
  apnsHosts: Partial<Record<ApnsEnvironment, string>>;
  dynamoEndpoint: string | undefined;
}

export class ConfigError extends Error {}

/**
 * Both API functions' timeout: the longest held request (`Prefer: wait`, 20 s) with room for its
 * reads, under API Gateway's 30 s integration limit. The webhook itself answers within 9 s.
 */
export const API_FUNCTION_TIMEOUT_SECONDS = 25;

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

const positiveInt = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive integer`);
  return n;
};

/** The limits of a tenant that sets none of its own: `TENANT_REQUESTS_PER_SECOND`, `TENANT_RINGING_CALLS`. */
export const tenantLimitsOf = (env: NodeJS.ProcessEnv, fallback: TenantLimits): TenantLimits => ({
  requestsPerSecond: positiveInt(env, 'TENANT_REQUESTS_PER_SECOND', fallback.requestsPerSecond),
  ringingCalls: positiveInt(env, 'TENANT_RINGING_CALLS', fallback.ringingCalls),
});

/** `SECRETS_MAX_AGE_SECONDS`, 60 by default: how soon a removed secret stops working everywhere. */
export const secretsMaxAgeOf = (env: NodeJS.ProcessEnv): number => {
  const s = positiveInt(env, 'SECRETS_MAX_AGE_SECONDS', 60);
  if (s > 3600) throw new ConfigError('SECRETS_MAX_AGE_SECONDS must be at most 3600');
  return s * 1000;
};

/** How often a held request reads its call again (ms). */
export function waitPollOf(value: string | undefined): number {
  const ms = value === undefined || value === '' ? 100 : Number(value);
  if (!Number.isInteger(ms) || ms < 20 || ms > 1000)
    throw new ConfigError('WAIT_POLL_MS must be an integer from 20 to 1000');
  return ms;
}

/** `APNS_SANDBOX_HOST` and `APNS_PRODUCTION_HOST`, each overriding `APNS_HOST` for its environment. */
export const apnsHostsOf = (env: NodeJS.ProcessEnv): Partial<Record<ApnsEnvironment, string>> => ({
  ...(env.APNS_SANDBOX_HOST ? { sandbox: env.APNS_SANDBOX_HOST } : {}),
  ...(env.APNS_PRODUCTION_HOST ? { production: env.APNS_PRODUCTION_HOST } : {}),
});

export function functionConfig(env: NodeJS.ProcessEnv = process.env): FunctionConfig {
  return {
    tableName: required(env, 'TABLE_NAME'),
    tenantSecretsName: env.TENANT_SECRETS_NAME ?? '',
    apnsKeysSecretName: env.APNS_KEYS_SECRET_NAME || undefined,
    tokenKeysSecretName: required(env, 'TOKEN_KEYS_SECRET_NAME'),
    defaultEnvironment: environmentOf(env.APNS_DEFAULT_ENVIRONMENT),
    pushDeadlineMs: pushDeadlineOf(env.PUSH_DEADLINE_MS),
    waitPollMs: waitPollOf(env.WAIT_POLL_MS),
    tenantLimits: tenantLimitsOf(env, DEFAULT_TENANT_LIMITS),
    secretsMaxAgeMs: secretsMaxAgeOf(env),
    publicBaseUrl: env.PUBLIC_BASE_URL || undefined,
    apnsHost: env.APNS_HOST || undefined,
    apnsHosts: apnsHostsOf(env),
    dynamoEndpoint: env.DYNAMODB_ENDPOINT || undefined,
  };
}

/** The events function: the table's stream in; the topic, the callback queue and ring timers out. */
export interface EventsConfig {
  tableName: string;
  topicArn: string;
  callbackQueueUrl: string;
  ringTimerQueueUrl: string;
  /** Stream records that cannot be read go here (the events dead-letter queue). */
  eventsDeadLetterUrl: string;
  /** Missed-call and replacement alerts go out with the rings' pusher and keys. */
  apnsKeysSecretName: string | undefined;
  apnsHost: string | undefined;
  apnsHosts: Partial<Record<ApnsEnvironment, string>>;
  pushDeadlineMs: number;
}

export const eventsConfig = (env: NodeJS.ProcessEnv = process.env): EventsConfig => ({
  tableName: required(env, 'TABLE_NAME'),
  topicArn: required(env, 'EVENTS_TOPIC_ARN'),
  callbackQueueUrl: required(env, 'CALLBACK_QUEUE_URL'),
  ringTimerQueueUrl: required(env, 'RING_TIMER_QUEUE_URL'),
  eventsDeadLetterUrl: required(env, 'EVENTS_DLQ_URL'),
  apnsKeysSecretName: env.APNS_KEYS_SECRET_NAME || undefined,
  apnsHost: env.APNS_HOST || undefined,
  apnsHosts: apnsHostsOf(env),
  pushDeadlineMs: pushDeadlineOf(env.PUSH_DEADLINE_MS),
});

/** The callback function: deliveries in, signed POSTs out, retries back into the queue. */
export interface CallbacksConfig {
  tenantSecretsName: string;
  secretsMaxAgeMs: number;
  callbackQueueUrl: string;
  callbackDeadLetterUrl: string;
}

export const callbacksConfig = (env: NodeJS.ProcessEnv = process.env): CallbacksConfig => ({
  tenantSecretsName: required(env, 'TENANT_SECRETS_NAME'),
  secretsMaxAgeMs: secretsMaxAgeOf(env),
  callbackQueueUrl: required(env, 'CALLBACK_QUEUE_URL'),
  callbackDeadLetterUrl: required(env, 'CALLBACK_DLQ_URL'),
});

export const ringTimerConfig = (env: NodeJS.ProcessEnv = process.env) => ({ tableName: required(env, 'TABLE_NAME') });
