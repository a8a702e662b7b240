import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { PruneRecord, TableChange } from '../core/events.js';
import { toCall } from './dynamo-call-store.js';
import { PREFIX } from './table-layout.js';
import { type UserModel, userModelOf } from './user-item.js';

export interface ReadRecords {
  changes: TableChange[];
  /** Records that cannot be read as a change of ours: dead-lettered, never retried forever. */
  unreadable: DynamoDBRecord[];
}

type Image = Record<string, AttributeValue>;
const itemOf = (image: unknown): Record<string, unknown> | undefined =>
  image === undefined ? undefined : unmarshall(image as Image);

/**
 * The table's stream records as changes the events function understands: call items (before
 * and after) and prune records on user items. Deletions (TTL) and every other item say nothing.
 */
export function changesOfRecords(records: readonly DynamoDBRecord[]): ReadRecords {
  const out: ReadRecords = { changes: [], unreadable: [] };
  for (const record of records) {
    try {
      out.changes.push(...changesOf(record));
    } catch {
      out.unreadable.push(record);
    }
  }
  return out;
}

function changesOf(record: DynamoDBRecord): TableChange[] {
  if (record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') return [];
  const after = itemOf(record.dynamodb?.NewImage);
  if (!after) throw new Error('a change without its new image');
  const before = itemOf(record.dynamodb?.OldImage);
  const pk = after.pk;
  if (typeof pk !== 'string') throw new Error('an item without its key');
  if (pk.startsWith(PREFIX.call)) return [{ kind: 'call', before: before && toCall(before), after: toCall(after) }];
  if (pk.startsWith(PREFIX.user)) return prunesOf(pk, before && userModelOf(before), userModelOf(after));
  return [];
}

/** A prune entry that is new, or newer than the one before (the same device pruned again). */
function prunesOf(pk: string, before: UserModel | undefined, after: UserModel): TableChange[] {
  const [tenantId, userId] = splitUserKey(pk);
  return [...after.pruned]
    .filter(([deviceId, cause]) => before?.pruned.get(deviceId)?.at !== cause.at)
    .map(([deviceId, cause]): TableChange => {
      const record: PruneRecord = { tenantId, userId, deviceId, ...cause };
      return { kind: 'pruned', record };
    });
}

/** `USER#<tenantId>#<userId>`: ids never contain `#`. */
function splitUserKey(pk: string): [string, string] {
  const [tenantId, userId, ...rest] = pk.slice(PREFIX.user.length).split('#');
  if (!tenantId || !userId || rest.length > 0) throw new Error('a user key that does not parse');
  return [tenantId, userId];
}
