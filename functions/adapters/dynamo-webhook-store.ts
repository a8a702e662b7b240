import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { StaleRequestError } from '../core/errors.js';
import type { EventType } from '../core/events.js';
import type { Webhook, WebhookStore } from '../core/ports.js';
import { isConditionFailed } from './dynamo-errors.js';
import { TTL_ATTRIBUTE, webhookKey } from './table-layout.js';
import { MARKER_KEPT_MS } from './user-item.js';

/**
 * A tenant's callback in the single table: one item, pk `TENANT#<tenantId>`, sk `WEBHOOK`, with
 * the signed time of its last change (a DELETE leaves the item as a marker).
 */
export class DynamoWebhookStore implements WebhookStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(tenantId: string): Promise<Webhook | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: webhookKey(tenantId), ConsistentRead: true }),
    );
    if (!out.Item || out.Item.deleted === true) return undefined;
    return {
      url: out.Item.url as string,
      events: out.Item.events as EventType[],
      updatedAt: out.Item.updatedAt as number,
    };
  }

  async put(tenantId: string, webhook: Webhook, signedAt: number): Promise<void> {
    await this.write(tenantId, { ...webhook, changedAt: signedAt }, signedAt);
  }

  /** A DELETE leaves a marker for a day, so a PUT signed before it cannot bring the webhook back. */
  async remove(tenantId: string, signedAt: number): Promise<void> {
    const ttl = Math.ceil((Date.now() + MARKER_KEPT_MS) / 1000);
    await this.write(tenantId, { deleted: true, changedAt: signedAt, [TTL_ATTRIBUTE]: ttl }, signedAt);
  }

  /** Writes unless a change signed later was applied: then StaleRequestError, nothing written. */
  private async write(tenantId: string, attributes: Record<string, unknown>, signedAt: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...webhookKey(tenantId), ...attributes },
          ConditionExpression: 'attribute_not_exists(changedAt) OR changedAt <= :signedAt',
          ExpressionAttributeValues: { ':signedAt': signedAt },
        }),
      );
    } catch (e) {
      if (isConditionFailed(e)) throw new StaleRequestError();
      throw e;
    }
  }
}
