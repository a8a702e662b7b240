import type { Clock } from './clock.js';
import { iso } from './clock.js';
import { DomainError } from './errors.js';
import { EVENT_TYPES, type EventType } from './events.js';
import type { Webhook, WebhookStore } from './ports.js';
import type { TenantRequest } from './tenants.js';

export interface WebhookDeps {
  webhooks: WebhookStore;
  clock: Clock;
  /** `npm start` only: a local PBX may listen without TLS. A deployed stack takes `https:` alone. */
  allowHttpCallbacks: boolean;
}

export interface WebhookRequest {
  url: string;
  /** Absent: every event type. */
  events?: EventType[];
}

export interface WebhookView {
  url: string;
  events: EventType[];
  updatedAt: string;
}

/** A callback url with a scheme this deployment does not send to. */
export class InsecureWebhookUrlError extends DomainError {
  constructor() {
    super('url must be an https: URL.');
  }
}

export class WebhookNotFoundError extends DomainError {
  constructor() {
    super('This tenant has no webhook.');
  }
}

const viewOf = (w: Webhook): WebhookView => ({ url: w.url, events: w.events, updatedAt: iso(w.updatedAt) });

/**
 * Sets the tenant's callback (replacing any). The types in force are listed in the contract's
 * order, each once; events of changes made after this answer use it. A change signed before the
 * last one applied (a PUT or a DELETE) is refused (StaleRequestError).
 */
export async function putWebhook(deps: WebhookDeps, tenant: TenantRequest, req: WebhookRequest): Promise<WebhookView> {
  if (new URL(req.url).protocol !== 'https:' && !deps.allowHttpCallbacks) throw new InsecureWebhookUrlError();
  const wanted = new Set(req.events ?? EVENT_TYPES);
  const webhook: Webhook = {
    url: req.url,
    events: EVENT_TYPES.filter((t) => wanted.has(t)),
    updatedAt: deps.clock.now(),
  };
  await deps.webhooks.put(tenant.tenantId, webhook, tenant.signedAt);
  return viewOf(webhook);
}

export async function getWebhook(deps: WebhookDeps, tenantId: string): Promise<WebhookView> {
  const webhook = await deps.webhooks.get(tenantId);
  if (!webhook) throw new WebhookNotFoundError();
  return viewOf(webhook);
}

export async function deleteWebhook(deps: WebhookDeps, tenant: TenantRequest): Promise<void> {
  await deps.webhooks.remove(tenant.tenantId, tenant.signedAt);
}
