import { z } from 'zod';
import { isCallId, isSimpleId } from '../core/ids.js';

/** Ids as the contract defines them; a path parameter that failed to percent-decode arrives undefined. */
export const simpleId = z
  .string({ error: 'required' })
  .refine(isSimpleId, 'must be 1-128 characters of [A-Za-z0-9._:@+-], and not "." or ".."');
export const callId = z
  .string({ error: 'required' })
  .refine(isCallId, 'must be 1-256 printable ASCII characters without whitespace, "/", "?" or "#", and not "." or ".."');

/** APNs device tokens: hex, an even number of 64-200 digits. */
export const pushToken = z
  .string()
  .regex(/^(?:[0-9a-fA-F]{2}){32,100}$/, 'must be hex, an even number of 64-200 digits');

const printable = (max: number) => z.string().min(1).max(max);

export const callerSchema = z
  .object({
    number: printable(64).optional(),
    displayName: z.string().optional(),
    uri: printable(512).optional(),
  })
  .refine((c) => c.number !== undefined || c.uri !== undefined, { message: 'needs at least one of number or uri' });

const PN_PARAM = /^[A-Za-z0-9]+\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

export const inlineDeviceSchema = z.object({
  pnProvider: z.literal('apns', { error: 'must be "apns"' }),
  pnPrid: pushToken,
  pnParam: z
    .string()
    .max(256)
    .regex(PN_PARAM, 'must be <TeamID>.<bundle id>.voip (or <TeamID>.<bundle id> for alert mode)')
    .refine((p) => p.split('.').length >= 2 && p !== `${p.split('.')[0]}.voip`, 'needs a bundle id between the team id and .voip'),
});

const METADATA_MAX_BYTES = 1024;

export const ringSchema = z
  .object({
    callId,
    from: callerSchema,
    to: z.object({ userId: simpleId.optional() }).optional(),
    devices: z.array(inlineDeviceSchema).max(10, 'at most 10 inline devices').optional(),
    ringTimeoutSeconds: z.number().int().min(5).max(300).default(60),
    hasVideo: z.boolean().default(false),
    metadata: z
      .record(z.string(), z.string())
      .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, `at most ${METADATA_MAX_BYTES} bytes serialized`)
      .optional(),
  })
  .refine((r) => r.to?.userId !== undefined || (r.devices?.length ?? 0) > 0, {
    message: 'needs to.userId and/or at least one inline device',
    path: ['to'],
  })
  // Defaults applied, so "the same body" is judged on what the call means, not how it was spelled.
  .transform((r) => ({
    callId: r.callId,
    from: r.from,
    ...(r.to?.userId === undefined ? {} : { to: { userId: r.to.userId } }),
    devices: r.devices ?? [],
    ringTimeoutSeconds: r.ringTimeoutSeconds,
    hasVideo: r.hasVideo,
    metadata: r.metadata ?? {},
  }));

export const cancelSchema = z
  .object({
    reason: z.enum(['caller_hangup', 'answered_elsewhere', 'declined_elsewhere', 'timeout', 'error']).default('caller_hangup'),
  })
  // No body, `{}` and `null` all mean the default reason ("null is the same as absent").
  .nullish()
  .transform((b) => b?.reason ?? 'caller_hangup');

export const deviceSchema = z.object({
  platform: z.literal('ios', { error: 'must be "ios"' }),
  pushToken,
  bundleId: z.string().regex(/^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/, 'must be a bundle id such as com.example.phone').max(155),
  teamId: z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be an Apple team id').optional(),
  environment: z.enum(['production', 'sandbox']),
  pushType: z.enum(['voip', 'alert']).default('voip'),
});

export const noParams = z.object({});
export const callParams = z.object({ callId });
export const userParams = z.object({ userId: simpleId });
export const deviceParams = z.object({ userId: simpleId, deviceId: simpleId });
