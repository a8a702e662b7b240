import { type DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type LimitStore, REQUEST_WINDOW_SECONDS } from '../core/limits.js';
import { isConditionFailed, isTransactionCanceled } from './dynamo-errors.js';
import { callKey, rateKey, ringingKey, TTL_ATTRIBUTE } from './table-layout.js';

/**
 * Per-tenant limits in the single table: one item per tenant and request window
 * (`RATE#<tenantId>`, gone by TTL a minute after its window), and one counter of the tenant's
 * ringing calls (`TENANT#<tenantId>` / `RINGING`). A call that took a slot says so
 * (`countsRinging`), and gives it back by removing that mark in the same transaction as the
 * decrement: a retried end never gives a slot back twice.
 */
export class DynamoLimitStore implements LimitStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async countRequest(tenantId: string, windowStartSeconds: number, max: number): Promise<boolean> {
    return this.conditionalAdd({
      Key: rateKey(tenantId, windowStartSeconds),
      UpdateExpression: 'ADD #n :one SET #ttl = :ttl',
      ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
      ExpressionAttributeNames: { '#n': 'count', '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':one': 1, ':max': max, ':ttl': windowStartSeconds + REQUEST_WINDOW_SECONDS + 60 },
    });
  }

  async startRinging(tenantId: string, max: number): Promise<boolean> {
    return this.conditionalAdd({
      Key: ringingKey(tenantId),
      UpdateExpression: 'ADD ringing :one',
      ConditionExpression: 'attribute_not_exists(ringing) OR ringing < :max',
      ExpressionAttributeValues: { ':one': 1, ':max': max },
    });
  }

  async stopRinging(tenantId: string): Promise<void> {
    await this.conditionalAdd({
      Key: ringingKey(tenantId),
      UpdateExpression: 'ADD ringing :minus',
      ConditionExpression: 'ringing > :zero',
      ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
    });
  }

  async endRinging(tenantId: string, callUuid: string): Promise<boolean> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: callKey(callUuid),
                UpdateExpression: 'REMOVE countsRinging',
                ConditionExpression: 'attribute_exists(countsRinging)',
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: ringingKey(tenantId),
                UpdateExpression: 'ADD ringing :minus',
                ConditionExpression: 'ringing > :zero',
                ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
              },
            },
          ],
        }),
      );
      return true;
    } catch (e) {
      if (isTransactionCanceled(e)) return false;
      throw e;
    }
  }

  private async conditionalAdd(input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>) {
    try {
      await this.doc.send(new UpdateCommand({ TableName: this.table, ...input }));
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw e;
    }
  }
}
