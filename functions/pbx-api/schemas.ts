import * as z from 'zod/mini';
import { APNS_ENVIRONMENTS, CANCEL_REASONS, type CancelReason, PUSH_TYPES } from '../core/call.js';
import type { DeviceRegistration } from '../core/devices.js';
import { EVENT_TYPES } from '../core/events.js';
import type { RingRequest } from '../core/ring-call.js';
import type { WebhookRequest } from '../core/webhooks.js';
import { addressableCallId, type Schema, simpleId } from '../http/schemas.js';

export { callParams } from '../http/schemas.js';

/**
 * The PBX API's bodies and path parameters. Each schema is typed with the use case's own input
 * type, so a body shape is declared once (in the core) and the compiler keeps the two together.
 */

/** APNs device tokens: hex, an even number of 64-200 digits. */
export const pushToken = z
  .string()
  .check(z.regex(/^(?:[0-9a-fA-F]{2}){32,100}$/, 'must be hex, an even number of 64-200 digits'));

const bounded = (max: number) =>
  z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(max, `at most ${max} characters`));

export const callerSchema = z
  .object({
    number: z.optional(bounded(64)),
    displayName: z.optional(z.string()),
    uri: z.optional(bounded(512)),
  })
  .check(z.refine((c) => c.number !== undefined || c.uri !== undefined, 'needs at least one of number or uri'));

const PN_PARAM = /^[A-Za-z0-9]+\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

export const inlineDeviceSchema = z.object({
  pnProvider: z.literal('apns', 'must be "apns"'),
  pnPrid: pushToken,
  pnParam: z.string().check(
    z.maxLength(256, 'at most 256 characters'),
    z.regex(PN_PARAM, 'must be <TeamID>.<bundle id>.voip (or <TeamID>.<bundle id> for alert mode)'),
    z.refine((p) => p !== `${p.split('.')[0]}.voip`, 'needs a bundle id between the team id and .voip'),
  ),
});

const METADATA_MAX_BYTES = 1024;

/**
 * A string-to-string map, taken as is rather than copied key by key: a copy would lose a key
 * named `__proto__`, and every string is a key the PBX may use.
 */
const metadataSchema = z
  .custom<Record<string, string>>(
    (m) =>
      m !== null && typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((v) => typeof v === 'string'),
    'must be an object whose values are strings',
  )
  .check(
    z.refine(
      (m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES,
      `at most ${METADATA_MAX_BYTES} bytes serialized`,
    ),
  );

export const ringSchema: Schema<RingRequest> = z.pipe(
  z
    .object({
      callId: addressableCallId,
      from: callerSchema,
      to: z.optional(z.object({ userId: z.optional(simpleId) })),
      devices: z.optional(z.array(inlineDeviceSchema).check(z.maxLength(10, 'at most 10 inline devices'))),
      ringTimeoutSeconds: z._default(z.int().check(z.minimum(5), z.maximum(300)), 60),
      hasVideo: z._default(z.boolean(), false),
      metadata: z.optional(metadataSchema),
    })
    .check(
      z.refine((r) => r.to?.userId !== undefined || (r.devices?.length ?? 0) > 0, {
        message: 'needs to.userId and/or at least one inline device',
        path: ['to'],
      }),
    ),
  // Defaults applied, so "the same body" is judged on what the call means, not how it was spelled.
  z.transform((r) => ({
    callId: r.callId,
    from: r.from,
    ...(r.to?.userId === undefined ? {} : { to: { userId: r.to.userId } }),
    devices: r.devices ?? [],
    ringTimeoutSeconds: r.ringTimeoutSeconds,
    hasVideo: r.hasVideo,
    metadata: r.metadata ?? {},
  })),
);

export const cancelSchema: Schema<CancelReason> = z.pipe(
  // No body, `{}` and `null` all mean the default reason ("null is the same as absent").
  z.nullish(z.object({ reason: z.optional(z.enum(CANCEL_REASONS)) })),
  z.transform((b) => b?.reason ?? 'caller_hangup'),
);

export const deviceSchema: Schema<DeviceRegistration> = z.object({
  platform: z.literal('ios', 'must be "ios"'),
  pushToken,
  bundleId: z
    .string()
    .check(
      z.maxLength(155, 'at most 155 characters'),
      z.regex(/^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/, 'must be a bundle id such as com.example.phone'),
    ),
  teamId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9]{1,32}$/, 'must be an Apple team id'))),
  environment: z.enum(APNS_ENVIRONMENTS),
  pushType: z._default(z.enum(PUSH_TYPES), 'voip'),
});

export const noParams = z.object({});
export const userParams = z.object({ userId: simpleId });
export const deviceParams = z.object({ userId: simpleId, deviceId: simpleId });

/** A URL callwake may POST events to: http(s), a host, no credentials, no fragment. */
function isCallbackUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    url.hostname !== '' &&
    url.username === '' &&
    url.password === '' &&
    !text.includes('#')
  );
}

export const webhookSchema: Schema<WebhookRequest> = z.object({
  url: z
    .string()
    .check(
      z.maxLength(2048, 'at most 2048 characters'),
      z.refine(isCallbackUrl, 'must be an absolute https: URL without credentials or fragment'),
    ),
  events: z.optional(
    z
      .array(z.enum(EVENT_TYPES, `must be one of ${EVENT_TYPES.join(', ')}`))
      .check(z.minLength(1, 'needs at least one event type (leave it out for all)')),
  ),
});
