import type { Deps } from '../core/ports.js';
import type { TenantConfig, TenantLimits, TenantRequest } from '../core/tenants.js';
import type { WebhookDeps } from '../core/webhooks.js';

export interface PbxDeps extends Deps, WebhookDeps {
  /** A tenant's configuration (secrets, apps, limits), or undefined for an unknown tenant. */
  tenant(tenantId: string): Promise<TenantConfig | undefined>;
  /** The limits of a tenant that sets none of its own. */
  defaultLimits: TenantLimits;
  /** The public base URL when the operator set one; else the request's own origin is used. */
  publicBaseUrl?: string;
}

/** A signed PBX request: who, when it was signed, what it may push to, and how much. */
export interface PbxAuth extends TenantRequest {
  limits: TenantLimits;
}
