import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { isCallId, isSimpleId } from '../core/ids.js';

/**
 * What every API validates with: ids as the contract defines them, and the schema types.
 * The bodies of each API live with it (pbx-api/schemas.ts).
 */

// zod/mini (26 KB bundled with its English messages, against 450 KB for classic zod): the
// schemas are on every cold start's path.
z.config(en());

const refine = <T>(schema: z.ZodMiniType<T>, ok: (v: T) => boolean, message: string) =>
  schema.check(z.refine(ok, message));

/** Ids as the contract defines them. */
export const simpleId = refine(
  z.string(),
  isSimpleId,
  'must be 1-128 characters of [A-Za-z0-9._:@+-], and not "." or ".."',
);
export const callId = refine(
  z.string(),
  isCallId,
  'must be 1-256 printable ASCII characters without whitespace, "/", "?" or "#", and not "." or ".."',
);

/**
 * A callId a path can name: API Gateway decodes paths, so the text `%2F` in a path is read as
 * an encoded `/`, and a call whose id contains it could never be cancelled or answered.
 */
export const addressableCallId = refine(
  callId,
  (id) => !/%2F/i.test(id),
  'must not contain the text "%2F" (it cannot be addressed in a path); map such a Call-ID, e.g. to its SHA-256',
);

export const callParams = z.object({ callId });

export type Schema<T> = z.ZodMiniType<T>;
export type SchemaError = z.core.$ZodError;
