import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { EventType } from '../core/events.js';
import type { Webhook, WebhookStore } from '../core/ports.js';
import { webhookKey } from './table-layout.js';

/** A tenant's callback in the single table: one item, pk `TENANT#<tenantId>`, sk `WEBHOOK`. */
export class DynamoWebhookStore implements WebhookStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(tenantId: string): Promise<Webhook | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: webhookKey(tenantId), ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    return {
      url: out.Item.url as string,
      events: out.Item.events as EventType[],
      updatedAt: out.Item.updatedAt as number,
    };
  }

  async put(tenantId: string, webhook: Webhook): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...webhookKey(tenantId), ...webhook } }));
  }

  async remove(tenantId: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: webhookKey(tenantId) }));
  }
}
