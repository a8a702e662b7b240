import { createHash } from 'node:crypto';

/**
 * The single table's layout, in one place: the stores, table creation (local and tests) and the
 * CDK construct (its key schema, TTL attribute and IAM conditions) all read it from here.
 *
 * | item                      | pk                                   | sk        |
 * |---------------------------|--------------------------------------|-----------|
 * | a call (or a tombstone)   | `CALL#<callUuid>`                    | `CALL`    |
 * | a user's devices          | `USER#<tenantId>#<userId>`           | `DEVICES` |
 * | who holds a push token    | `PUSHTOKEN#<tenantId>#<sha256(token)>` | `OWNER` |
 * | a team's provider token   | `APNSJWT#<teamId>#<keyId>`           | `TOKEN`   |
 * | a tenant's webhook        | `TENANT#<tenantId>`                  | `WEBHOOK` |
 * | a tenant's ringing calls  | `TENANT#<tenantId>`                  | `RINGING` |
 * | a tenant's requests       | `RATE#<tenantId>`                    | `<window start, epoch s>` |
 */
export const PARTITION_KEY = 'pk';
export const SORT_KEY = 'sk';
/** Epoch seconds; DynamoDB deletes the item some time after it (reads never rely on that). */
export const TTL_ATTRIBUTE = 'ttl';
/** The events function reads every change with the item before and after it. */
export const STREAM_VIEW_TYPE = 'NEW_AND_OLD_IMAGES';

export const PREFIX = {
  call: 'CALL#',
  user: 'USER#',
  pushToken: 'PUSHTOKEN#',
  providerToken: 'APNSJWT#',
  tenant: 'TENANT#',
  rate: 'RATE#',
} as const;

export interface ItemKey {
  pk: string;
  sk: string;
}

export const callKey = (callUuid: string): ItemKey => ({ pk: `${PREFIX.call}${callUuid}`, sk: 'CALL' });

export const userKey = (tenantId: string, userId: string): ItemKey => ({
  pk: `${PREFIX.user}${tenantId}#${userId}`,
  sk: 'DEVICES',
});

/** Keyed by the token's hash: the table never holds a push token as a key. */
export const pushTokenOwnerKey = (tenantId: string, pushToken: string): ItemKey => ({
  pk: `${PREFIX.pushToken}${tenantId}#${createHash('sha256').update(pushToken).digest('hex')}`,
  sk: 'OWNER',
});

export const providerTokenKey = (teamId: string, keyId: string): ItemKey => ({
  pk: `${PREFIX.providerToken}${teamId}#${keyId}`,
  sk: 'TOKEN',
});

export const webhookKey = (tenantId: string): ItemKey => ({ pk: `${PREFIX.tenant}${tenantId}`, sk: 'WEBHOOK' });

/** How many of the tenant's calls ring now: counted up at create, down at the call's first end. */
export const ringingKey = (tenantId: string): ItemKey => ({ pk: `${PREFIX.tenant}${tenantId}`, sk: 'RINGING' });

/** The tenant's requests in one time window (an item per window, gone by TTL soon after). */
export const rateKey = (tenantId: string, windowStartSeconds: number): ItemKey => ({
  pk: `${PREFIX.rate}${tenantId}`,
  sk: String(windowStartSeconds),
});
