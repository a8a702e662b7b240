import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Call, EndReason } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { CallStore, DeliveryResult, TransitionResult } from '../core/ports.js';
import { isConditionFailed, itemOfConditionFailure } from './dynamo-errors.js';
import { callKey as keyOf, TTL_ATTRIBUTE } from './table-layout.js';

/**
 * Calls in the single table: pk `CALL#<callUuid>`, sk `CALL`. The callUuid is derived from
 * tenant and callId, so two tenants' same callId are two items, and the app's token (which
 * carries the callUuid) finds the call in one read.
 * DynamoDB deletes expired items late: every read and every condition treats an item whose
 * `lifetimeEnd` has passed as absent.
 */

const NAMES = { '#status': 'status' };
const ABSENT_OR_GONE = 'attribute_not_exists(pk) OR lifetimeEnd <= :now';
const LIVE = 'attribute_exists(pk) AND lifetimeEnd > :now';

/**
 * Metadata is the PBX's own string map: stored as JSON text, so any key it chose (empty,
 * `constructor`, `__proto__`) round-trips, which a DynamoDB map attribute would not allow.
 */
function toItem(call: Call): Record<string, unknown> {
  const { metadata, ...rest } = call;
  return {
    ...keyOf(call.callUuid),
    ...rest,
    ...(metadata === undefined ? {} : { metadataJson: JSON.stringify(metadata) }),
    [TTL_ATTRIBUTE]: Math.ceil(call.lifetimeEnd / 1000),
  };
}

export function toCall(item: Record<string, unknown>): Call {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, metadataJson, ...call } = item;
  return {
    ...(call as unknown as Call),
    ...(typeof metadataJson === 'string' ? { metadata: JSON.parse(metadataJson) as Record<string, string> } : {}),
  };
}

export class DynamoCallStore implements CallStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly clock: Clock,
  ) {}

  async create(call: Call, retried = false): Promise<{ created: true } | { created: false; existing: Call }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: toItem(call),
          ConditionExpression: ABSENT_OR_GONE,
          ExpressionAttributeValues: { ':now': call.createdAt },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { created: true };
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      const existing = itemOfConditionFailure(e);
      const holder = existing ? toCall(existing) : await this.get(call.callUuid);
      if (holder) return { created: false, existing: holder };
      // The holder vanished between the write and the read: a rare race, so try once more.
      if (retried) throw e;
      return this.create(call, true);
    }
  }

  async get(callUuid: string): Promise<Call | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keyOf(callUuid), ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const call = toCall(out.Item);
    return call.lifetimeEnd > this.clock.now() ? call : undefined;
  }

  async isRinging(callUuid: string): Promise<boolean> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: keyOf(callUuid),
        ProjectionExpression: '#status',
        ExpressionAttributeNames: { '#status': 'status' },
        ConsistentRead: true,
      }),
    );
    return out.Item?.status === 'ringing';
  }

  async recordDeliveries(
    callUuid: string,
    results: Record<string, DeliveryResult>,
    answerStatus: 'ringing' | 'unreachable',
    now: number,
  ): Promise<Call | undefined> {
    const sets = ['answerStatus = :answerStatus', 'deliveredAt = if_not_exists(deliveredAt, :deliveredAt)'];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':answerStatus': answerStatus, ':deliveredAt': now };
    Object.entries(results).forEach(([slot, r], i) => {
      names[`#s${i}`] = slot;
      sets.push(`devices.#s${i}.delivery = :d${i}`);
      values[`:d${i}`] = r.delivery;
      if (r.apnsId !== undefined) {
        sets.push(`devices.#s${i}.apnsId = :a${i}`);
        values[`:a${i}`] = r.apnsId;
      }
      if (r.reason !== undefined) {
        sets.push(`devices.#s${i}.reason = :r${i}`);
        values[`:r${i}`] = r.reason;
      }
      if (r.alertEnvironment !== undefined) {
        sets.push(`devices.#s${i}.alert.environment = :e${i}`);
        values[`:e${i}`] = r.alertEnvironment;
      }
    });
    const update = async (extraSet: string[], extraValues: Record<string, unknown>, condition: string) => {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(callUuid),
          UpdateExpression: `SET ${[...sets, ...extraSet].join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: { ...names, ...NAMES },
          ExpressionAttributeValues: { ...values, ...extraValues },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return out.Attributes ? toCall(out.Attributes) : undefined;
    };
    try {
      if (answerStatus === 'unreachable') {
        try {
          // Nothing reached a phone: the call ends now, unless something else already decided it.
          return await update(
            ['#status = :unreachable', 'endReason = :failed'],
            { ':unreachable': 'unreachable', ':failed': 'failed', ':ringing': 'ringing' },
            'attribute_exists(pk) AND #status = :ringing',
          );
        } catch (e) {
          if (!isConditionFailed(e)) throw e;
          // A phone answered or declined: a push we gave up on reached it after all. Tell the
          // PBX it rang (else it would answer the caller 480 while the phone shows the call).
          const decided = itemOfConditionFailure(e)?.status;
          if (decided === 'answered' || decided === 'declined') values[':answerStatus'] = 'ringing';
        }
      }
      return await update([], {}, 'attribute_exists(pk) AND attribute_exists(#status)');
    } catch (e) {
      if (isConditionFailed(e)) return undefined;
      throw e;
    }
  }

  async cancel(callUuid: string, endReason: EndReason, now: number): Promise<TransitionResult> {
    return this.transition(
      callUuid,
      now,
      'SET #status = :cancelled, endReason = :endReason, endedAt = :now',
      `${LIVE} AND ((#status = :ringing AND expiresAt > :now) OR #status = :answered)`,
      { ':cancelled': 'cancelled', ':endReason': endReason, ':ringing': 'ringing', ':answered': 'answered' },
      {},
    );
  }

  async putTombstone(tombstone: Call): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: toItem(tombstone),
          ConditionExpression: ABSENT_OR_GONE,
          ExpressionAttributeValues: { ':now': tombstone.createdAt },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw e;
    }
  }

  answer(callUuid: string, slot: string, now: number): Promise<TransitionResult> {
    return this.decide(callUuid, slot, now, 'answered', 'answeredBy', 'answeredAt');
  }

  decline(callUuid: string, slot: string, now: number): Promise<TransitionResult> {
    return this.decide(callUuid, slot, now, 'declined', 'declinedBy', 'declinedAt');
  }

  /**
   * Exactly one device ever wins: the write only succeeds while the call rings (and has not
   * passed its ring timeout), or when this very device already won (a retried request).
   */
  private decide(
    callUuid: string,
    slot: string,
    now: number,
    to: 'answered' | 'declined',
    byAttr: string,
    atAttr: string,
  ) {
    return this.transition(
      callUuid,
      now,
      `SET #status = :to, ${byAttr} = devices.#slot.deviceId, ${atAttr} = if_not_exists(${atAttr}, :now), devices.#slot.${atAttr} = if_not_exists(devices.#slot.${atAttr}, :now)`,
      `${LIVE} AND attribute_exists(devices.#slot) AND ((#status = :ringing AND expiresAt > :now) OR (#status = :to AND ${byAttr} = devices.#slot.deviceId))`,
      { ':to': to, ':ringing': 'ringing' },
      { '#slot': slot },
    );
  }

  async confirm(callUuid: string, slot: string, now: number): Promise<Call | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(callUuid),
          UpdateExpression: 'SET devices.#slot.confirmedAt = if_not_exists(devices.#slot.confirmedAt, :now)',
          ConditionExpression: `${LIVE} AND attribute_exists(devices.#slot)`,
          ExpressionAttributeNames: { '#slot': slot },
          ExpressionAttributeValues: { ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ? toCall(out.Attributes) : undefined;
    } catch (e) {
      if (isConditionFailed(e)) return undefined;
      throw e;
    }
  }

  async markExpired(callUuid: string, now: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(callUuid),
          UpdateExpression: 'SET expiredAt = :now',
          ConditionExpression: `${LIVE} AND #status = :ringing AND expiresAt <= :now AND attribute_not_exists(expiredAt)`,
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':now': now, ':ringing': 'ringing' },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw e;
    }
  }

  private async transition(
    callUuid: string,
    now: number,
    updateExpression: string,
    condition: string,
    values: Record<string, unknown>,
    names: Record<string, string>,
  ): Promise<TransitionResult> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(callUuid),
          UpdateExpression: updateExpression,
          ConditionExpression: condition,
          ExpressionAttributeNames: { ...NAMES, ...names },
          ExpressionAttributeValues: { ':now': now, ...values },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'changed', call: toCall(out.Attributes!) };
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      const item = itemOfConditionFailure(e);
      if (!item) return { outcome: 'absent' };
      const call = toCall(item);
      return call.lifetimeEnd > now ? { outcome: 'unchanged', call } : { outcome: 'absent' };
    }
  }
}
