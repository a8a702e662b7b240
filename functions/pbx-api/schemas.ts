import * as z from 'zod/mini';
import { APNS_ENVIRONMENTS, CANCEL_REASONS, type CancelReason, PUSH_TYPES } from '../core/call.js';
import type { DeviceRegistration } from '../core/devices.js';
import { EVENT_TYPES } from '../core/events.js';
import type { RingRequest } from '../core/ring-call.js';
import { MAX_SETTINGS_ENTRIES, MAX_SETTINGS_ENTRY_LENGTH, type SettingsRequest } from '../core/settings.js';
import { isInlineDeviceError, readInlineDevice } from '../core/targets.js';
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

/** An RFC 8599 contact: the single-token form, or Linphone's multi-token form (see targets.ts). */
export const inlineDeviceSchema = z
  .object({
    pnProvider: z.enum(['apns', 'apns.dev'], 'must be "apns" or "apns.dev"'),
    pnPrid: z.string().check(z.maxLength(512, 'at most 512 characters')),
    pnParam: z.string().check(z.maxLength(256, 'at most 256 characters')),
  })
  .check(
    z.superRefine((d, ctx) => {
      const read = readInlineDevice(d);
      if (isInlineDeviceError(read))
        ctx.issues.push({ code: 'custom', message: read.message, path: [read.member], input: d });
    }),
  );

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
      callerInPush: z._default(z.boolean(), true),
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
    callerInPush: r.callerInPush,
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
  alertPushToken: z.optional(pushToken),
});

export const noParams = z.object({});
export const userParams = z.object({ userId: simpleId });
export const deviceParams = z.object({ userId: simpleId, deviceId: simpleId });

/** A URL callwake may POST events to: http(s), a host as written, no credentials, no fragment. */
function isCallbackUrl(text: string): boolean {
  // What is stored is what is POSTed to and signed: no whitespace or control characters to trim.
  if ([...text].some((c) => c <= ' ' || c === '\x7f') || !URL.canParse(text)) return false;
  // The parser forgives `http:///x`, `http:x` and `http:\\x` (all read as host `x`): the host must
  // be where the sender wrote it, right after `//`.
  if (!/^https?:\/\/[^/\\?#]/i.test(text)) return false;
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
      z.refine(isCallbackUrl, 'must be an absolute http(s) URL without credentials, fragment or spaces'),
    ),
  events: z.optional(
    z
      .array(z.enum(EVENT_TYPES, `must be one of ${EVENT_TYPES.join(', ')}`))
      .check(z.minLength(1, 'needs at least one event type (leave it out for all)')),
  ),
});

/** An ISO 8601 date and time with its offset (`Z` or `±hh:mm`): a time without one means nothing on a server. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/** A real calendar time: `Date.parse` would roll February 30th over into March. */
function isIsoTime(s: string): boolean {
  const m = ISO_TIME.exec(s);
  if (!m || Number.isNaN(Date.parse(s))) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] = m
    .slice(1)
    .map((v) => (v === undefined ? 0 : Number(v)));
  // Computed, not Date.UTC: that reads years 0-99 as 1900-1999 (0000 is a leap year, 1900 is not).
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59
  );
}

/**
 * The instants a four-digit UTC year can answer. An offset can carry a valid time just past them
 * (`9999-12-31T23:59-01:00`, `0000-01-01T00:00+01:00`); such a time is kept as the nearest end,
 * which means the same for Do Not Disturb and is answered as ISO 8601 (not `+010000-…`).
 */
const FIRST_INSTANT = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

const isoTime = z.pipe(
  z.string().check(z.refine(isIsoTime, 'must be an ISO 8601 time with its offset, e.g. 2026-12-24T18:00:00Z')),
  z.transform((s) => Math.min(LAST_INSTANT, Math.max(FIRST_INSTANT, Date.parse(s)))),
);

const callerEntries = z
  .array(
    z
      .string()
      .check(
        z.minLength(1, 'must not be empty'),
        z.maxLength(MAX_SETTINGS_ENTRY_LENGTH, `at most ${MAX_SETTINGS_ENTRY_LENGTH} characters`),
      ),
  )
  .check(z.maxLength(MAX_SETTINGS_ENTRIES, `at most ${MAX_SETTINGS_ENTRIES} entries`));

/** The whole settings document: every member absent (or null) takes its default. */
export const settingsSchema: Schema<SettingsRequest> = z.pipe(
  z.object({
    blockedCallers: z.optional(callerEntries),
    doNotDisturb: z.optional(
      z.object({
        enabled: z.optional(z.boolean()),
        until: z.optional(isoTime),
        allowedCallers: z.optional(callerEntries),
      }),
    ),
    missedCallPush: z.optional(z.boolean()),
  }),
  z.transform((s) => ({
    blockedCallers: s.blockedCallers ?? [],
    doNotDisturb: {
      enabled: s.doNotDisturb?.enabled ?? false,
      until: s.doNotDisturb?.until ?? null,
      allowedCallers: s.doNotDisturb?.allowedCallers ?? [],
    },
    missedCallPush: s.missedCallPush ?? true,
  })),
);
