import { describe, expect, it } from '@jest/globals';
import { DEFAULT_TENANT_LIMITS, functionConfig } from '../../functions/config.js';
import { localConfig } from '../../local/config.js';

const deployed = { TABLE_NAME: 'callwake', TOKEN_KEYS_SECRET_NAME: 'keys', APNS_DEFAULT_ENVIRONMENT: 'production' };

describe("npm start's settings", () => {
  it('sends inline devices to production unless told otherwise, as the contract says a deployment does', () => {
    expect(localConfig({}).defaultEnvironment).toBe('production');
    expect(localConfig({ APNS_DEFAULT_ENVIRONMENT: 'sandbox' }).defaultEnvironment).toBe('sandbox');
    expect(() => localConfig({ APNS_DEFAULT_ENVIRONMENT: 'dev' })).toThrow('APNS_DEFAULT_ENVIRONMENT');
  });

  it('throttles no tenant by default (one machine, one user), and takes the deployed variables when given', () => {
    const open = localConfig({});
    expect(open.unlimited).toBe(true);
    expect(open.tenantLimits.requestsPerSecond).toBeGreaterThanOrEqual(1_000_000);
    expect(open.tenantLimits.ringingCalls).toBeGreaterThanOrEqual(1_000_000);

    const set = localConfig({ TENANT_REQUESTS_PER_SECOND: '5', TENANT_RINGING_CALLS: '2' });
    expect({ unlimited: set.unlimited, limits: set.tenantLimits }).toEqual({
      unlimited: false,
      limits: { requestsPerSecond: 5, ringingCalls: 2 },
    });
    expect(() => localConfig({ TENANT_RINGING_CALLS: '0' })).toThrow('TENANT_RINGING_CALLS must be a positive integer');
  });

  it('a deployed function keeps the documented defaults (50 requests a second, 200 calls ringing)', () => {
    expect(DEFAULT_TENANT_LIMITS).toEqual({ requestsPerSecond: 50, ringingCalls: 200 });
    expect(functionConfig(deployed).tenantLimits).toEqual(DEFAULT_TENANT_LIMITS);
    expect(functionConfig({ ...deployed, TENANT_REQUESTS_PER_SECOND: '7' }).tenantLimits).toEqual({
      requestsPerSecond: 7,
      ringingCalls: 200,
    });
  });
});
