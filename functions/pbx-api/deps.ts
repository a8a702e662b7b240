import type { Deps } from '../core/ports.js';
import type { WebhookDeps } from '../core/webhooks.js';

export interface PbxDeps extends Deps, WebhookDeps {
  /** A tenant's active PBX secrets (two during a rotation), or undefined for an unknown tenant. */
  tenantSecrets(tenantId: string): Promise<readonly string[] | undefined>;
  /** The public base URL when the operator set one; else the request's own origin is used. */
  publicBaseUrl?: string;
}

export interface PbxAuth {
  tenantId: string;
}
