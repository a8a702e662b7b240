/**
 * The JSON the load sends, and the members of the replies it reads. Replies are what the service
 * says, not what the contract promises: each is checked against the model before it is trusted.
 */

export interface Caller {
  number?: string;
  uri?: string;
  displayName?: string;
}

/** An inline device as the PBX sends it. */
export interface InlineDevice {
  pnPrid: string;
  pnParam: string;
}

export interface RingBody {
  callId: string;
  from: Caller;
  to?: { userId: string };
  devices?: (InlineDevice & { pnProvider: 'apns' })[];
  ringTimeoutSeconds?: number;
  hasVideo?: boolean;
  metadata?: Record<string, string>;
}

/** One device's line in a 201 create answer. */
export interface Delivery {
  deviceId: string;
  result: 'sent' | 'failed';
  reason?: string;
  pushType: string;
  apnsId?: string;
}

/** The 201 answer to a create. */
export interface CreateAnswer {
  callId: string;
  callUuid: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  deliveries: Delivery[];
}

/** One device in the PBX view of a call. */
export interface PbxViewDevice {
  deviceId: string;
  delivery: string;
  confirmedAt: string | null;
  answeredAt: string | null;
  declinedAt: string | null;
}

/** A registered device as the registry shows it. */
export interface DeviceView {
  deviceId: string;
  platform: string;
  bundleId: string;
  environment: string;
  pushType: string;
  tokenSuffix: string;
  updatedAt: string;
}

/** The `callwake` member of a push payload. */
export interface CallwakePush {
  callUuid?: unknown;
  callId?: unknown;
  expiresAt?: unknown;
  token?: unknown;
}

export const callwakeOf = (payload: unknown): CallwakePush | undefined =>
  (payload as { callwake?: CallwakePush } | null | undefined)?.callwake;

/** A parsed body's members, to be checked one by one; undefined when the body is not a JSON object. */
export const membersOf = (body: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;

/** The `code` of a problem+json answer. */
export const problemCode = (body: unknown): unknown => membersOf(body)?.code;
