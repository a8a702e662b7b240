/** An Apple app a tenant may push to: its team and bundle id. */
export interface AppRef {
  teamId: string;
  bundleId: string;
}

/** Per-tenant limits (429 `rate_limited` past them). */
export interface TenantLimits {
  /** PBX requests a second, averaged over a short window. */
  requestsPerSecond: number;
  /** Calls of the tenant ringing at once. */
  ringingCalls: number;
}

/** A tenant as the deployment is configured: who it is, what it may push to, how much. */
export interface TenantConfig {
  /** Its PBX secrets (two during a rotation); the first signs callbacks. */
  secrets: readonly string[];
  /** The apps it may push to. Absent (the v1 form of the configuration): every configured app. */
  apps?: readonly AppRef[];
  /** Its own limits, over the deployment's defaults. */
  limits?: Partial<TenantLimits>;
}

/** Who is asking, as the PBX signature proved it. */
export interface TenantRequest {
  tenantId: string;
  /** The request's signed timestamp (unix seconds): changes are ordered by it. */
  signedAt: number;
  /** The apps the tenant may push to; absent: every configured app. */
  apps?: readonly AppRef[];
}

export const appAllowed = (apps: readonly AppRef[] | undefined, teamId: string, bundleId: string): boolean =>
  apps === undefined || apps.some((a) => a.teamId === teamId && a.bundleId === bundleId);
