import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseTenants } from '../functions/adapters/secret-formats.js';
import { apnsHostsOf, environmentOf, pushDeadlineOf, tenantLimitsOf } from '../functions/config.js';
import type { ApnsEnvironment } from '../functions/core/call.js';
import type { TenantConfig, TenantLimits } from '../functions/core/tenants.js';

/** `npm start`'s settings, all from the environment (the names the README lists). */
export interface LocalConfig {
  host: string;
  port: number;
  /** Undefined: the server's own URL, known once it listens (PORT=0 picks a free port). */
  publicBaseUrl: string | undefined;
  tenants: Map<string, TenantConfig>;
  /** True when no CALLWAKE_TENANTS was given and a demo tenant with a fresh secret was made. */
  demoTenant: boolean;
  apple: { teamId: string; keyId: string; privateKeyPem: string } | undefined;
  apnsHost: string | undefined;
  /** `APNS_SANDBOX_HOST`, `APNS_PRODUCTION_HOST`: each overrides `APNS_HOST` for its environment. */
  apnsHosts: Partial<Record<ApnsEnvironment, string>>;
  dynamoEndpoint: string | undefined;
  tableName: string;
  defaultEnvironment: ApnsEnvironment;
  pushDeadlineMs: number;
  /** The limits of a tenant that sets none of its own. */
  tenantLimits: TenantLimits;
  /** True when neither TENANT_REQUESTS_PER_SECOND nor TENANT_RINGING_CALLS was given. */
  unlimited: boolean;
}

/**
 * One machine has one user: a tenant without limits of its own is never refused for its request
 * rate or its ringing calls (counted as deployed, against limits nothing reaches), so a test
 * suite or a load run against `npm start` is never throttled. A deployed stack has the defaults
 * of functions/config.ts; set the variables (or a tenant's `limits`) to try them here.
 */
const LOCAL_LIMITS: TenantLimits = { requestsPerSecond: 1_000_000, ringingCalls: 1_000_000 };

export const DEMO_TENANT = 'demo';

export function localConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const host = env.HOST || '127.0.0.1';
  const port = env.PORT ? Number(env.PORT) : 3000;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, not ${env.PORT}`);
  const tenants = env.CALLWAKE_TENANTS
    ? parseTenants(env.CALLWAKE_TENANTS)
    : new Map([[DEMO_TENANT, { secrets: [randomBytes(32).toString('base64url')] }]]);
  const { APNS_TEAM_ID: teamId, APNS_KEY_ID: keyId, APNS_KEY_FILE: keyFile } = env;
  if ((teamId || keyId || keyFile) && !(teamId && keyId && keyFile)) {
    throw new Error('An Apple key needs all three of APNS_TEAM_ID, APNS_KEY_ID and APNS_KEY_FILE');
  }
  return {
    host,
    port,
    publicBaseUrl: env.PUBLIC_BASE_URL ? env.PUBLIC_BASE_URL.replace(/\/+$/, '') : undefined,
    tenants,
    demoTenant: !env.CALLWAKE_TENANTS,
    apple: teamId && keyId && keyFile ? { teamId, keyId, privateKeyPem: readFileSync(keyFile, 'utf8') } : undefined,
    apnsHost: env.APNS_HOST || undefined,
    apnsHosts: apnsHostsOf(env),
    dynamoEndpoint: env.DYNAMODB_ENDPOINT || undefined,
    tableName: env.TABLE_NAME || 'callwake',
    // As deployed: the contract's inline devices go to production unless configured otherwise.
    defaultEnvironment: environmentOf(env.APNS_DEFAULT_ENVIRONMENT || 'production'),
    pushDeadlineMs: pushDeadlineOf(env.PUSH_DEADLINE_MS),
    tenantLimits: tenantLimitsOf(env, LOCAL_LIMITS),
    unlimited: !env.TENANT_REQUESTS_PER_SECOND && !env.TENANT_RINGING_CALLS,
  };
}
